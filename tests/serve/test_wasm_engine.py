"""No WebGPU at all (navigator.gpu absent), transformers.js on WASM asked for by name
(?engine=transformers-wasm; unasked, the pages take the order file's first CPU engine:
test_wllama_engine.py): the chat page and the form demo run the ONNX build of SmolLM2-135M,
say so on the engine badge, answer the France question with Paris, and fill the contact form
with schema-constrained JSON.

The CPU's default model is q8 (int8 matmuls: several times faster there than q4). The France
question is asked of q4 (?dtype=q4): its first token is a coin toss even for the float model
("The" 25.33 vs "L" 25.24 logits), and q8 in WASM lands on "L'Étoile..." (docs/BENCHMARKS.md)."""

from __future__ import annotations

import pytest

from browser_helpers import ask, chromium, fill_form, load_model, open_page, set_sampling, webslm_serve
from test_form_demo import SIGNATURE

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
def site(smollm2_onnx_dist):
    with webslm_serve(smollm2_onnx_dist) as url, chromium(webgpu=False) as ctx:
        yield url, ctx


def badge(page) -> dict:
    return page.evaluate("() => ({engine: document.getElementById('engine-badge').dataset.engine,"
                         " text: document.getElementById('engine-badge').textContent,"
                         " hidden: document.getElementById('engine-badge').hidden})")


def test_chat_page_picks_the_wasm_engine_and_q8(site):
    url, ctx = site
    page = open_page(ctx, url + "?engine=transformers-wasm", [])
    assert badge(page) == {"engine": "transformers-wasm", "hidden": False,
                           "text": "Engine: transformers.js on WASM (CPU) (q8)"}
    status = page.text_content("#gpu-status")
    assert "WebGPU" in status and "smollm2-135m-cpu (q8)" in status, status
    assert ".." not in status, status
    assert "2 threads" in status or "1 thread" in status, status
    assert "runs in this browser, on your CPU" in page.text_content("#messages .empty")


def test_chat_page_answers_paris_on_the_wasm_engine(site):
    url, ctx = site
    log: list[str] = []
    page = open_page(ctx, url + "?dtype=q4", log)
    assert badge(page)["text"] == "Engine: transformers.js on WASM (CPU) (q4)"
    load_model(page, log, timeout=300)
    assert page.evaluate("() => window.webslmPage.chat.engine") == "transformers-wasm"
    set_sampling(page, temperature=0, max_tokens=24)
    answer = ask(page, "What is the capital of France?", log, timeout=300)
    assert answer["error"] is None, log[-20:]
    assert "Paris" in answer["text"], answer
    assert answer["chunks"] > 1, "not streamed"
    print(f"WASM answer: {answer['text']!r} ({answer['stats']['text']})")


def test_storage_panel_holds_the_loaded_onnx_build_and_deletes_it(site):
    """The panel counts transformers.js's files (verified, in webslm/onnx): the loaded dtype
    shows as cached with its size, and deleting empties the browser's caches of it."""
    url, ctx = site
    log: list[str] = []
    page = open_page(ctx, url + "?dtype=q4", log)
    load_model(page, log, timeout=300)  # from the cache when the Paris test ran first
    build = page.evaluate("() => window.webslmPage.chat.build")
    row = f"#cached-models li[data-model='{build['id']}']"
    page.wait_for_function(f"() => document.querySelector(\"{row}\")?.dataset.cached === 'true'", timeout=30_000)
    assert int(page.get_attribute(row, "data-bytes")) == build["dtype_bytes"]["q4"]
    assert "cached (q4)" in page.text_content(row)
    used = int(page.get_attribute("#storage-usage", "data-bytes"))
    page.click("#delete-cache")
    page.wait_for_function(f"() => document.querySelector(\"{row}\")?.dataset.cached === 'false'", timeout=30_000)
    assert "Deleted the cached files" in page.text_content("#cache-status")
    # It frees what it says: the browser's own count drops by at least the deleted files.
    freed = used - int(page.get_attribute("#storage-usage", "data-bytes"))
    assert freed >= build["dtype_bytes"]["q4"], (freed, build["dtype_bytes"]["q4"])
    left = page.evaluate("""async (folder) => {
        const urls = [];
        for (const name of await caches.keys()) {
            for (const r of await (await caches.open(name)).keys()) if (r.url.startsWith(folder)) urls.push(name + ' ' + r.url);
        }
        return urls;
    }""", url + build["url"])
    assert left == [], left


def test_url_parameter_forces_an_engine(site):
    url, ctx = site
    log: list[str] = []
    page = open_page(ctx, url + "?engine=webllm", log)
    assert page.evaluate("() => document.getElementById('app').dataset.state") == "unsupported"
    status = page.text_content("#gpu-status")
    assert "WebLLM" in status, status  # why the forced engine cannot run here


def test_form_demo_fills_on_the_wasm_engine(site):
    url, ctx = site
    log: list[str] = []
    page = open_page(ctx, url + "form.html?engine=transformers-wasm", log)
    assert page.evaluate("() => document.getElementById('engine-badge').dataset.engine") == "transformers-wasm"
    result, values, seconds = fill_form(page, SIGNATURE, log, timeout=600)
    print(f"WASM fill took {seconds:.0f} s; answer: {result['raw']}")
    assert values["name"] == "John Smith", values
    assert values["email"] == "john.smith@acme.com", values
    assert "Acme" in values["company"], values
    assert values["city"] == "San Francisco", values
    assert result["rejected"] == {}, result["rejected"]
