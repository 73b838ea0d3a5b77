"""The chat page and form demo in the real browser, served by `webslm serve`, WITHOUT a model
load (seconds, not minutes): model output is rendered as text, never HTML; Enter sends and
Shift+Enter adds a line; every control has a label. A stand-in chat object streams answers
through the page's own ChatUI, so the exact rendering path runs without waiting for SmolLM2
to say something nasty."""

from __future__ import annotations

import pytest

from browser_helpers import chromium, open_page, webslm_serve

pytestmark = [pytest.mark.slow, pytest.mark.browser]

HOSTILE = ('Here you go: <img src=x onerror="window.__pwned=1"> and '
           '<script>window.__pwned=2</script>\n\n**bold** <b>not bold</b> '
           '[click](javascript:window.__pwned=3) [docs](https://example.com/a)\n'
           '```html\n<iframe src="javascript:window.__pwned=4"></iframe>\n```')


STAND_IN = """(pieces) => {
    window.__requests = [];
    const fake = {model: 'stand-in', interrupt() {}, chat: {completions: {async create(request) {
        window.__requests.push(request);
        return (async function* () {
            for (const p of pieces) yield {choices: [{delta: {content: p}, finish_reason: null}]};
            yield {choices: [{delta: {}, finish_reason: 'stop'}]};
            yield {choices: [], usage: {completion_tokens: pieces.length, extra: {decode_tokens_per_s: 9}}};
        })();
    }}}};
    window.webslmPage.ui.attach(fake);
}"""


@pytest.fixture(scope="module")
def site(smollm2_dist):
    with webslm_serve(smollm2_dist) as url, chromium() as ctx:
        yield url, ctx


@pytest.fixture
def page(site):
    url, ctx = site
    page = open_page(ctx, url, [])
    yield page
    page.close()


def test_streamed_markup_shows_as_literal_text(page):
    page.evaluate(STAND_IN, [HOSTILE[i:i + 7] for i in range(0, len(HOSTILE), 7)])  # small chunks
    page.fill("#prompt", "<img src=y onerror=window.__pwned=5>")
    page.press("#prompt", "Enter")
    page.wait_for_function("() => document.querySelector('#messages .message.assistant .stats')")
    out = page.evaluate("""() => {
        const log = document.getElementById('messages');
        const answer = log.querySelector('.message.assistant');
        return {pwned: window.__pwned ?? null,
                chunks: Number(answer.dataset.chunks), renders: Number(answer.dataset.renders),
                elements: [...log.querySelectorAll('img, script, iframe, b')].map(e => e.tagName),
                links: [...log.querySelectorAll('a')].map(a => a.href),
                strong: [...log.querySelectorAll('strong')].map(e => e.textContent),
                text: log.textContent};
    }""")
    assert out["pwned"] is None
    assert out["elements"] == []
    assert out["links"] == ["https://example.com/a"]  # javascript: stays text
    assert "[docs](https://example.com/a)" not in out["text"] and "docs (example.com)" in out["text"]
    # Chunks that arrive within one frame are rendered together (markdown.js frameRenderer).
    assert 1 <= out["renders"] < out["chunks"], out
    assert out["strong"] == ["bold"]
    for literal in ['<img src=x onerror="window.__pwned=1">', "<script>window.__pwned=2</script>",
                    "<b>not bold</b>", "[click](javascript:window.__pwned=3)",
                    '<iframe src="javascript:window.__pwned=4"></iframe>',
                    "<img src=y onerror=window.__pwned=5>"]:
        assert literal in out["text"], literal


def test_render_markdown_builds_nodes_not_html(page):
    out = page.evaluate("""async () => {
        const { renderMarkdown } = await import('./webslm.js');
        const div = document.createElement('div');
        document.body.append(div);
        renderMarkdown('# Title <script>window.__pwned=6</script>\\n- item <img src=x onerror=window.__pwned=7>\\n1. `<b>code</b>`', div);
        await new Promise(r => setTimeout(r, 200));  // give an onerror a chance to fire
        const plain = renderMarkdown('my_var_name and window.__pwned__x stay as written', document.createElement('div'));
        return {html: div.innerHTML, pwned: window.__pwned ?? null,
                tags: [...div.querySelectorAll('*')].map(e => e.tagName),
                plain: [plain.firstChild.tagName, plain.firstChild.childElementCount, plain.textContent]};
    }""")
    assert out["pwned"] is None
    assert out["tags"] == ["H3", "UL", "LI", "OL", "LI", "CODE"], out
    assert "&lt;script&gt;" in out["html"] and "&lt;img src=x" in out["html"]
    assert out["plain"] == ["P", 0, "my_var_name and window.__pwned__x stay as written"]


def test_markdown_lists_survive_blank_lines_and_keep_their_numbers(page):
    """Models write "1. a", a blank line, "2. b": one list numbered 1, 2, 3, not three lists
    of "1."; a list that starts at 3 shows 3; a paragraph between items ends the list."""
    out = page.evaluate("""async () => {
        const { renderMarkdown } = await import('./webslm.js');
        const shape = (text) => [...renderMarkdown(text, document.createElement('div')).children]
            .map((e) => e.tagName + (e.tagName === 'OL' ? `@${e.start}x${e.children.length}` : ''));
        return [shape('Tips:\\n\\n1. one\\n\\n2. two\\n\\n3. three'), shape('3. c\\n4. d'),
                shape('1. a\\n\\nA paragraph.\\n\\n2. b'), shape('- x\\n\\n- y\\n1. z')];
    }""")
    assert out == [["P", "OL@1x3"], ["OL@3x2"], ["OL@1x1", "P", "OL@2x1"], ["UL", "OL@1x1"]], out

def test_enter_sends_and_shift_enter_adds_a_line(page):
    page.evaluate(STAND_IN, ["Hi", " there"])
    page.click("#prompt")
    page.keyboard.type("first line")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("second line")
    assert page.input_value("#prompt") == "first line\nsecond line"
    assert page.evaluate("() => window.__requests.length") == 0
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelector('#messages .message.assistant .stats')")
    request = page.evaluate("() => window.__requests[0]")
    assert request["messages"] == [{"role": "user", "content": "first line\nsecond line"}]
    assert request["stream"] is True and request["stream_options"] == {"include_usage": True}
    assert page.input_value("#prompt") == ""
    # The second question carries the first turn (multi-turn history) and the system prompt.
    page.fill("#system-prompt", "Be brief.")
    page.fill("#prompt", "again")
    page.press("#prompt", "Enter")
    page.wait_for_function("() => window.__requests.length === 2 && "
                           "document.querySelectorAll('#messages .stats').length === 2")
    messages = page.evaluate("() => window.__requests[1].messages")
    assert messages == [{"role": "system", "content": "Be brief."},
                        {"role": "user", "content": "first line\nsecond line"},
                        {"role": "assistant", "content": "Hi there"},
                        {"role": "user", "content": "again"}]


BASE_MODEL = """() => {
    window.__requests = [];
    const continuations = [' return n', ' if n < 2'];
    const fake = {model: 'stand-in', engine: 'webllm', interrupt() {}, completions: {async create(request) {
        window.__requests.push(request);
        const text = continuations[window.__requests.length - 1];
        return (async function* () {
            yield {choices: [{text, finish_reason: null}]};
            yield {choices: [{text: '', finish_reason: 'length'}]};
        })();
    }}};
    window.webslmPage.ui.attach(fake, {id: 'gemma-3-270m-q4f16_1', family: 'gemma-3-270m',
                                       completion_only: true, completion_prefix: '<bos>'});
}"""


def test_a_base_model_continues_the_text_and_the_page_says_so(page):
    """A completion_only build (a pretrained base, models.yaml) goes through the engine's
    completions API with the whole text so far behind its prefix (<bos>: WebLLM adds none),
    never as chat messages, and the page tells the user what the model does."""
    page.evaluate(BASE_MODEL)
    note = page.locator("#mode-note")
    assert note.is_visible() and "gemma-3-270m is a base model" in note.text_content()
    page.fill("#prompt", "def fibonacci(n):")
    page.press("#prompt", "Enter")
    page.wait_for_function("() => document.querySelectorAll('#messages .stats').length === 1")
    page.fill("#prompt", "\n")
    page.fill("#prompt", "more")
    page.press("#prompt", "Enter")
    page.wait_for_function("() => document.querySelectorAll('#messages .stats').length === 2")
    requests = page.evaluate("() => window.__requests")
    assert [r["prompt"] for r in requests] == ["<bos>def fibonacci(n):",
                                               "<bos>def fibonacci(n): return nmore"]
    assert all("messages" not in r and r["stream"] is True for r in requests)
    answers = page.locator("#messages .message.assistant .body").all_text_contents()
    assert [a.strip() for a in answers] == ["return n", "if n < 2"]
    # a chat model loaded next: the note goes and requests are chat messages again
    page.evaluate(STAND_IN, ["Hi"])
    assert not note.is_visible()


@pytest.mark.parametrize("path", ["", "form.html"])
def test_every_control_has_a_label(site, path):
    url, ctx = site
    page = open_page(ctx, url + path, [])
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea, button')]
        .filter(el => !(el.labels?.length || el.getAttribute('aria-label') || el.textContent.trim()))
        .map(el => el.id || el.name || el.outerHTML)""")
    page.close()
    assert unlabelled == []
