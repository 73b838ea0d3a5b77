"""Model output is text, never HTML: the chat page's renderer, in the real browser, on the
real page served by `webslm serve`. No model is loaded: a stand-in chat object streams a
hostile answer through the page's own ChatUI, so the exact rendering path is exercised in
seconds instead of waiting for SmolLM2 to say something nasty."""

from __future__ import annotations

import pytest

from browser_helpers import chromium, open_page, webslm_serve

pytestmark = [pytest.mark.slow, pytest.mark.browser]

HOSTILE = ('Here you go: <img src=x onerror="window.__pwned=1"> and '
           '<script>window.__pwned=2</script>\n\n**bold** <b>not bold</b> '
           '[click](javascript:window.__pwned=3) [docs](https://example.com/a)\n'
           '```html\n<iframe src="javascript:window.__pwned=4"></iframe>\n```')


@pytest.fixture(scope="module")
def page(smollm2_dist):
    log: list[str] = []
    with webslm_serve(smollm2_dist) as url, chromium() as ctx:
        yield open_page(ctx, url, log)


def test_streamed_markup_shows_as_literal_text(page):
    page.evaluate("""(hostile) => {
        const pieces = hostile.match(/[\\s\\S]{1,7}/g);  // streamed in small chunks
        const fake = {model: 'stand-in', interrupt() {}, chat: {completions: {async create() {
            return (async function* () {
                for (const p of pieces) yield {choices: [{delta: {content: p}, finish_reason: null}]};
                yield {choices: [{delta: {}, finish_reason: 'stop'}]};
                yield {choices: [], usage: {completion_tokens: pieces.length, extra: {decode_tokens_per_s: 9}}};
            })();
        }}}};
        window.webslmPage.ui.attach(fake);
    }""", HOSTILE)
    page.fill("#prompt", "<img src=y onerror=window.__pwned=5>")
    page.press("#prompt", "Enter")
    page.wait_for_function("() => document.querySelector('#messages .message.assistant .stats')")
    out = page.evaluate("""() => {
        const log = document.getElementById('messages');
        return {pwned: window.__pwned ?? null,
                elements: [...log.querySelectorAll('img, script, iframe, b')].map(e => e.tagName),
                links: [...log.querySelectorAll('a')].map(a => a.href),
                strong: [...log.querySelectorAll('strong')].map(e => e.textContent),
                text: log.textContent};
    }""")
    assert out["pwned"] is None
    assert out["elements"] == []
    assert out["links"] == ["https://example.com/a"]  # javascript: stays text
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
        return {html: div.innerHTML, pwned: window.__pwned ?? null,
                tags: [...div.querySelectorAll('*')].map(e => e.tagName)};
    }""")
    assert out["pwned"] is None
    assert out["tags"] == ["H3", "UL", "LI", "OL", "LI", "CODE"], out
    assert "&lt;script&gt;" in out["html"] and "&lt;img src=x" in out["html"]
