"""The loading and filled / answered states of the form demo and of <webslm-chat>, with the
real SmolLM2-135M ONNX build on WASM (a browser without WebGPU loads and answers in seconds,
where SwiftShader takes minutes): layout at every width and scheme, axe-core, and the
keyboard alone. The checks are test_layout_a11y.py's."""

from __future__ import annotations

import json

import pytest

from browser_helpers import attach_log, chromium, open_page, page_summary, wait_state, webslm_serve
from test_layout_a11y import check_axe, check_layout, host_page, tab_to

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
def cpu_site(smollm2_onnx_dist):
    """The ONNX build of SmolLM2 served to a browser without WebGPU, and /host.html for it."""
    with webslm_serve(smollm2_onnx_dist) as url, chromium(webgpu=False, bypass_csp=True) as ctx, \
            host_page(ctx, url, "smollm2-135m"):
        yield url, ctx

def test_form_demo_loading_and_filled_by_keyboard_on_the_cpu(cpu_site):
    """The whole demo without a mouse on the WASM engine: "Use an example", Fill (the loading
    and the filled states are checked as they come), focus lands on the first filled field,
    then the review box and Submit; what is submitted is what the model filled."""
    url, ctx = cpu_site
    log: list[str] = []
    page = open_page(ctx, url + "form.html", log)
    try:
        page.set_viewport_size({"width": 375, "height": 800})
        tab_to(page, "#example")
        page.keyboard.press("Enter")
        page.keyboard.press("Tab")
        page.keyboard.press("Space")  # Fill
        page.wait_for_function("() => document.getElementById('app').dataset.state === 'loading'"
                               " && !document.getElementById('progress').hidden")
        check_layout(page, "form", "form loading")
        check_axe(page, "form loading", widths=(375,))
        wait_state(page, ("filled", "error"), log, 600)
        result = page.evaluate("() => window.webslmPage.fill")
        assert result and result["filled"], page_summary(page) + "\n".join(log[-20:])
        assert page.evaluate("() => document.activeElement === document.querySelector('[data-webslm-filled]')"), \
            page.evaluate("() => document.activeElement.outerHTML")  # the review starts there
        assert "Review the marked fields" in page.text_content("#fill-status")
        check_layout(page, "form", "form filled")
        check_axe(page, "form filled")
        values = page.evaluate("""() => Object.fromEntries([...document.getElementById('contact-form').elements]
            .filter((e) => e.name && e.dataset.webslmFilled !== undefined).map((e) => [e.name, e.value]))""")
        tab_to(page, "#reviewed")
        page.keyboard.press("Space")
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")  # Submit
        submitted = json.loads(page.text_content("#submitted"))
        assert {k: submitted[k] for k in values if k != "newsletter"} == \
            {k: v for k, v in values.items() if k != "newsletter"}, (submitted, values)
        print(f"filled by the model: {values}")
    finally:
        page.close()


def test_host_element_loading_and_answered_on_the_cpu(cpu_site):
    """<webslm-chat> in a host page, by keyboard: a question typed and sent with Enter loads the
    model (checked while loading), the answer is announced once, complete."""
    url, ctx = cpu_site
    log: list[str] = []
    page = ctx.new_page()
    attach_log(page, log)
    try:
        page.goto(url + "host.html")
        page.wait_for_function("() => document.querySelector('webslm-chat')?.shadowRoot?.querySelector('textarea')")
        page.set_viewport_size({"width": 375, "height": 800})
        tab_to(page, "textarea")
        page.keyboard.type("What is the capital of France?")
        page.keyboard.press("Enter")
        status = "() => document.querySelector('webslm-chat').shadowRoot.querySelector('.status').textContent"
        page.wait_for_function(f"() => ({status})().length > 0 && !document.body.dataset.answer")
        check_layout(page, "host", "host loading")
        check_axe(page, "host loading", widths=(375,))
        page.wait_for_function("() => document.body.dataset.answer !== undefined || document.body.dataset.error",
                               timeout=600_000)
        assert not page.evaluate("() => document.body.dataset.error"), "\n".join(log[-20:])
        answer = page.evaluate("() => document.body.dataset.answer")
        assert answer.strip()
        announced = page.evaluate("() => document.querySelector('webslm-chat').shadowRoot.querySelector('[role=status]').textContent")
        assert announced == f"Answer: {answer}"
        check_layout(page, "host", "host answered")
        check_axe(page, "host answered")
    finally:
        page.close()
