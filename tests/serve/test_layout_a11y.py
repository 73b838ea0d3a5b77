"""Layout and accessibility of the chat page, the form demo and a host page embedding
<webslm-chat>, in the real browser against `webslm serve`: from a 320 px phone to a 1280 px
desktop, in the light and the dark scheme, nothing scrolls sideways and no composer or form
control leaves the viewport; axe-core finds nothing "serious" or "critical"; and the pages
work from the keyboard alone.

Idle and error states use a fake artifact (it lists, its load fails: no model needed); the
loading and answered states of the chat page use ONE load of the real SmolLM2-135M build,
made with the keyboard, and one eight-token answer. test_layout_a11y_cpu.py does the same
for the form demo and the element with the ONNX build on WASM."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import pytest

from browser_helpers import attach_log, chromium, open_page, page_summary, set_sampling, wait_state, webslm_serve
from serve_helpers import make_artifact

pytestmark = [pytest.mark.slow, pytest.mark.browser]

REPO = Path(__file__).resolve().parents[2]
AXE = REPO / "web" / "node_modules" / "axe-core" / "axe.min.js"
WIDTHS = (320, 375, 768, 1280)
SCHEMES = ("light", "dark")
FAKE = "tiny-q4f32_1"

# A host with its own light and dark colours: the element takes its colours from the host.
HOST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>A host page</title><link rel="icon" href="data:,">
<style>:root { color-scheme: light dark; background: #fff; color: #222; }
@media (prefers-color-scheme: dark) { :root { background: #121212; color: #e8e8e8; } }</style>
<script type="module" src="webslm.js"></script></head>
<body><main><h1>A host page</h1>
<webslm-chat model="%s" base-url="./" max-tokens="8"></webslm-chat></main>
<script>const chat = document.querySelector('webslm-chat');
chat.addEventListener('webslm-error', (e) => { document.body.dataset.error = e.detail.message; });
chat.addEventListener('webslm-answer', (e) => { document.body.dataset.answer = e.detail.text; });</script>
</body></html>"""

# Every visible control of the composer / the form / the element, and where it ends.
CONTROLS = {
    "chat": "#composer, #composer *, #load-button, #model-select",
    "form": "#contact-form, #contact-form *, #source-text, #app .row button",
    "host": "",
}
MEASURE = """(selector) => {
    const el = document.querySelector('webslm-chat');
    const nodes = el ? [...el.shadowRoot.querySelectorAll('form, form *, .log, .status')]
                     : [...document.querySelectorAll(selector)];
    const outside = nodes.filter((n) => { const r = n.getBoundingClientRect();
            return r.width > 0 && (r.left < -1 || r.right > innerWidth + 1); })
        .map((n) => `${n.tagName.toLowerCase()}#${n.id} right=${Math.round(n.getBoundingClientRect().right)}`);
    return {scrollWidth: document.documentElement.scrollWidth, innerWidth, checked: nodes.length, outside};
}"""

STAND_IN = """(pieces) => {
    const fake = {model: 'stand-in', interrupt() {}, chat: {completions: {async create() {
        return (async function* () {
            for (const p of pieces) yield {choices: [{delta: {content: p}, finish_reason: null}]};
            yield {choices: [{delta: {}, finish_reason: 'stop'}]};
        })();
    }}}};
    window.webslmPage.ui.attach(fake);
}"""
LONG_ANSWER = ["A long word: " + "x" * 300 + " and a URL https://example.com/" + "a/" * 120,
               "\n\n```\n" + "code_without_breaks(" * 30 + ")\n```\n"]


def check_layout(page, kind: str, label: str):
    """At every width and in both schemes: no sideways scroll, every control inside."""
    for scheme in SCHEMES:
        page.emulate_media(color_scheme=scheme)
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 800})
            m = page.evaluate(MEASURE, CONTROLS[kind])
            where = f"{label}, {scheme}, {width} px"
            assert m["checked"] > 0, where
            assert m["scrollWidth"] <= m["innerWidth"], f"{where}: {m}"
            assert m["outside"] == [], f"{where}: {m}"


def check_axe(page, label: str, widths=WIDTHS):
    """axe-core in both schemes: no serious or critical violation."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE))
    for scheme in SCHEMES:
        page.emulate_media(color_scheme=scheme)
        for width in widths:
            page.set_viewport_size({"width": width, "height": 800})
            found = page.evaluate("""async () => (await axe.run(document, {resultTypes: ['violations']}))
                .violations.filter((v) => ['serious', 'critical'].includes(v.impact))
                .map((v) => ({id: v.id, impact: v.impact, help: v.help,
                              nodes: v.nodes.slice(0, 5).map((n) => [n.target.join(' '), n.failureSummary])}))""")
            assert found == [], f"{label}, {scheme}, {width} px:\n{json.dumps(found, indent=1)}"


def tab_to(page, selector: str, presses: int = 40):
    """Press Tab until `selector` has the focus (through the element's shadow root too)."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        if page.evaluate("""(sel) => { let a = document.activeElement;
                while (a?.shadowRoot?.activeElement) a = a.shadowRoot.activeElement;
                return a?.matches(sel) ?? false; }""", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def focus_ring(page) -> str:
    """The outline the focused control shows (":focus-visible": keyboard focus only)."""
    return page.evaluate("""() => { let a = document.activeElement;
        while (a?.shadowRoot?.activeElement) a = a.shadowRoot.activeElement;
        const s = getComputedStyle(a); return `${s.outlineStyle} ${s.outlineWidth}`; }""")


def check_composer_above_the_keyboard(page):
    """A phone with its on-screen keyboard open leaves about 320 px of viewport (the pages ask
    for `interactive-widget=resizes-content`): focused by keyboard, the message box, Send, Stop
    and New chat all fit in it."""
    page.set_viewport_size({"width": 375, "height": 320})
    tab_to(page, "#prompt")
    rects = page.evaluate("""() => ['prompt', 'send', 'stop', 'new-chat'].map((id) => {
        const r = document.getElementById(id).getBoundingClientRect();
        return [id, r.top >= 0 && r.bottom <= innerHeight && r.left >= 0 && r.right <= innerWidth]; })""")
    assert all(inside for _, inside in rects), rects


@pytest.fixture(scope="module")
def browser():
    with chromium(bypass_csp=True) as ctx:  # axe-core is injected
        yield ctx


@contextmanager
def host_page(ctx, url: str, model: str):
    """/host.html on the site at `url`: the host page with <webslm-chat model=...>."""
    ctx.route(url + "host.html", lambda r: r.fulfill(body=HOST_PAGE % model, content_type="text/html"))
    try:
        yield url + "host.html"
    finally:
        ctx.unroute(url + "host.html")


@pytest.fixture(scope="module")
def fake_site(browser, tmp_path_factory):
    """`webslm serve` of a fake artifact (lists, cannot load), plus /host.html embedding it."""
    dist = tmp_path_factory.mktemp("fake-dist")
    make_artifact(dist, FAKE)
    with webslm_serve(dist) as url, host_page(browser, url, FAKE):
        yield url



def test_chat_page_idle_and_error(browser, fake_site):
    log: list[str] = []
    page = open_page(browser, fake_site, log)
    try:
        wait_state(page, "idle", log, 30)
        check_layout(page, "chat", "chat idle")
        check_axe(page, "chat idle")
        page.click("#load-button")
        wait_state(page, "error", log, 120)
        assert page.is_visible("#error")
        check_layout(page, "chat", "chat error")
        check_axe(page, "chat error")
    finally:
        page.close()


def test_long_answers_wrap_inside_their_bubble(browser, fake_site):
    page = open_page(browser, fake_site, [])
    try:
        page.evaluate(STAND_IN, LONG_ANSWER)
        page.keyboard.type("a question")
        page.keyboard.press("Enter")
        page.wait_for_function("() => document.querySelector('#messages .message.assistant pre')"
                               " && document.getElementById('app').dataset.state === 'ready'")
        assert "Answer: A long word" in page.text_content("#answer-status")  # announced once, complete
        assert page.get_attribute("#messages", "aria-live") == "off"  # not token by token
        check_layout(page, "chat", "long answer")
        check_axe(page, "long answer")  # a scrolling code block is a tab stop
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 800})
            inside = page.evaluate("""() => [...document.querySelectorAll('#messages .message')].every((m) => {
                const r = m.getBoundingClientRect(), log = document.getElementById('messages').getBoundingClientRect();
                return r.right <= log.right + 1; })""")
            assert inside, width
            pre = page.evaluate("""() => { const p = document.querySelector('#messages pre');
                return {scrolls: p.scrollWidth > p.clientWidth, overflowX: getComputedStyle(p).overflowX}; }""")
            assert pre == {"scrolls": True, "overflowX": "auto"}, (width, pre)
    finally:
        page.close()


def test_form_demo_idle_error_and_keyboard_only(browser, fake_site):
    """Idle and error layouts, and the whole demo by keyboard: "Use an example", "Fill" (the
    fake model fails to load: the error state), then fill, review and submit by hand."""
    log: list[str] = []
    page = open_page(browser, fake_site + "form.html", log)
    try:
        check_layout(page, "form", "form idle")
        page.evaluate("""() => { for (const el of document.querySelectorAll('#contact-form input:not([type=checkbox])')) {
            el.value = el.type === 'date' ? '2026-01-02' : 'a rather long value, as the model might write it';
            el.classList.add('webslm-filled'); } }""")  # what "filled" looks like
        check_layout(page, "form", "form filled")
        check_axe(page, "form filled")
        page.evaluate("() => document.getElementById('contact-form').reset()")
        page.set_viewport_size({"width": 375, "height": 800})
        tab_to(page, "#example")
        assert focus_ring(page) == "solid 3px"
        page.keyboard.press("Enter")
        assert "Maria Rossi" in page.input_value("#source-text")
        page.keyboard.press("Tab")  # Fill is next
        assert page.evaluate("() => document.activeElement.id") == "fill"
        page.keyboard.press("Space")
        wait_state(page, "error", log, 120)
        check_layout(page, "form", "form error")
        check_axe(page, "form error")
        tab_to(page, "#name")
        for value in ["Maria Rossi", "maria.rossi@northwind.example"]:
            page.keyboard.type(value)
            page.keyboard.press("Tab")
        tab_to(page, "#reviewed")
        page.keyboard.press("Space")
        page.keyboard.press("Tab")
        assert page.evaluate("() => document.activeElement.type") == "submit"
        page.keyboard.press("Enter")
        submitted = json.loads(page.text_content("#submitted"))
        assert submitted["name"] == "Maria Rossi" and submitted["email"] == "maria.rossi@northwind.example"
    finally:
        page.close()


def test_host_page_with_the_element_idle_and_error(browser, fake_site):
    log: list[str] = []
    page = browser.new_page()
    attach_log(page, log)
    try:
        page.goto(fake_site + "host.html")
        page.wait_for_function("() => document.querySelector('webslm-chat')?.shadowRoot?.querySelector('textarea')")
        check_layout(page, "host", "host idle")
        check_axe(page, "host idle")
        # Keyboard only: Tab into the element's box, type, Enter sends (and loads, which fails).
        tab_to(page, "textarea")
        assert focus_ring(page) == "solid 3px"
        page.keyboard.type("Hello")
        page.keyboard.press("Enter")
        page.wait_for_function("() => document.body.dataset.error", timeout=120_000)
        check_layout(page, "host", "host error")
        check_axe(page, "host error")
        announced = page.evaluate("() => document.querySelector('webslm-chat').shadowRoot.querySelector('[role=status]').textContent")
        assert announced == page.evaluate("() => document.body.dataset.error")
    finally:
        page.close()


def test_chat_page_loading_and_answered_by_keyboard(browser, smollm2_dist):
    """The one real model load: Tab to "Load model", Enter; the loading state is checked
    while it runs; then the question is typed and sent with Enter, Stop is the next Tab stop
    while it streams, and "New chat" (Space) clears the answered conversation."""
    log: list[str] = []
    with webslm_serve(smollm2_dist) as url:
        page = open_page(browser, url, log)
        try:
            wait_state(page, "idle", log, 60)
            set_sampling(page, temperature=0, max_tokens=8)
            page.set_viewport_size({"width": 375, "height": 800})
            tab_to(page, "#load-button")
            assert focus_ring(page) == "solid 3px"
            page.keyboard.press("Enter")
            page.wait_for_function("() => document.getElementById('app').dataset.state === 'loading'"
                                   " && !document.getElementById('progress').hidden")
            check_layout(page, "chat", "chat loading")
            check_axe(page, "chat loading")
            wait_state(page, "ready", log, 900)
            assert page.evaluate("() => document.activeElement.id") == "prompt"  # focus moves on
            page.keyboard.type("What is the capital of France?")
            page.keyboard.press("Enter")
            page.wait_for_function("() => document.getElementById('app').dataset.state === 'generating'")
            page.keyboard.press("Tab")  # Send is disabled while answering: Stop is next
            focused, busy, state = page.evaluate("""() => [document.activeElement.id,
                document.querySelector('#messages .message.assistant').getAttribute('aria-busy'),
                document.getElementById('app').dataset.state]""")
            if state == "generating":  # SwiftShader takes seconds per token: it still is
                assert (focused, busy) == ("stop", "true")
            wait_state(page, "ready", log, 600)
            answer = page.text_content("#messages .message.assistant .body")
            assert answer.strip(), page_summary(page)
            assert page.get_attribute("#messages .message.assistant", "aria-busy") is None
            assert page.text_content("#answer-status").startswith("Answer: ")
            check_layout(page, "chat", "chat answered")
            check_axe(page, "chat answered")
            check_composer_above_the_keyboard(page)
            tab_to(page, "#new-chat")
            page.keyboard.press("Space")
            assert page.evaluate("() => document.querySelectorAll('#messages .message').length") == 0
        finally:
            page.close()

