"""The chat page against a real `webslm serve` with the real SmolLM2-135M, in headless
Chromium on a software WebGPU WITHOUT shader-f16 (SwiftShader, or lavapipe with the feature
hidden: tests/browser/chromium_rig.py). The model is loaded ONCE for the whole module and
the tests run in file order on that page: choice of build, load, answer, second turn, the
Content-Security-Policy and framing, stop, offline, cache deletion (last: it empties the
cache)."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from browser_helpers import (ask, chromium, last_answer, load_model, open_page, set_sampling,
                             wait_state, webslm_serve)

pytestmark = [pytest.mark.slow, pytest.mark.browser]
F32 = "smollm2-135m-q4f32_asym"
F16 = "smollm2-135m-q4f16_asym"


@pytest.fixture(scope="module")
def f16_dist(smollm2_f16_dist) -> Path:
    """The q4f16 build of the same model (the session's, ~70 s once), so the page has a real
    f16/f32 choice."""
    return smollm2_f16_dist


# Every CSP violation a document sees, from its first script on (the Content-Security-Policy
# that `webslm serve` sends: webslm/serve/headers.py).
WATCH_CSP = """document.addEventListener('securitypolicyviolation', (e) =>
    (window.__cspViolations ||= []).push(`${e.violatedDirective} ${e.blockedURI}`));"""


@pytest.fixture(scope="module")
def chat(smollm2_dist, f16_dist, tmp_path_factory):
    log: list[str] = []
    with webslm_serve(smollm2_dist, f16_dist) as url, chromium(shader_f16=False) as ctx:
        ctx.add_init_script(WATCH_CSP)
        page = open_page(ctx, url, log)
        yield SimpleNamespace(url=url, ctx=ctx, page=page, log=log,
                              tmp=tmp_path_factory.mktemp("chat-page"))


def test_page_picks_the_f32_build_without_shader_f16(chat):
    page = chat.page
    facts = page.evaluate("""async () => {
        const w = await import('./webslm.js');
        const gpu = await w.probeGPU();
        const listing = await w.loadModels();
        return {features: gpu.features, ok: gpu.ok, models: listing.models.map(m => m.id),
                choice: w.chooseBuild(listing.models, gpu, 'smollm2-135m').build.id,
                withF16: w.chooseBuild(listing.models, {...gpu, features: [...gpu.features, 'shader-f16'],
                                                        shaderF16: true}, 'smollm2-135m').build.id,
                pageBuild: document.getElementById('app').dataset.build,
                status: document.getElementById('gpu-status').textContent,
                f16Disabled: document.querySelector(`option[value='${'""" + F16 + """'}']`).disabled};
    }""")
    assert facts["ok"] and "shader-f16" not in facts["features"], facts
    assert sorted(facts["models"]) == [F16, F32]
    assert facts["choice"] == facts["pageBuild"] == F32
    assert facts["withF16"] == F16  # the same listing on an f16 GPU takes the f16 build
    assert facts["f16Disabled"]
    assert "shader-f16" in facts["status"], facts["status"]
    # A software adapter is WebGPU on the CPU: the page says so rather than "your GPU".
    assert "runs in this browser, on your CPU" in page.text_content("#messages .empty")
    assert page.text_content("#engine-badge") == "Engine: WebLLM on WebGPU (software, on the CPU)"


def test_model_loads_in_a_worker_with_progress(chat):
    seconds = load_model(chat.page, chat.log)
    page = chat.page
    stages = page.evaluate("() => window.webslmPage.stages")
    assert stages[0] == "download" and stages[-1] == "ready", stages
    assert "shaders" in stages, stages
    assert page.text_content("#progress-label") == f"Ready: {F32}"
    # The engine lives in the origin's shared worker (engine-host.js), not in the page's thread.
    assert page.evaluate("() => window.webslmPage.chat.shared.host") == "shared"
    print(f"model load: {seconds:.0f} s, stages {stages}")


def test_streamed_answer_mentions_paris(chat):
    set_sampling(chat.page, temperature=0, max_tokens=24)
    answer = ask(chat.page, "What is the capital of France?", chat.log)
    assert answer["error"] is None, chat.log[-20:]
    assert "Paris" in answer["text"], answer
    assert answer["chunks"] > 1, "the answer arrived in one piece, not streamed"
    stats = answer["stats"]
    assert float(stats["ttft"]) > 0 and float(stats["tokensPerSecond"]) > 0, stats
    assert "tokens/s" in stats["text"] and "first token" in stats["text"]
    print(f"answer: {answer['text']!r} ({stats['text']})")


def test_second_turn_depends_on_the_first(chat):
    # The question names neither Paris nor France: only the first turn says which city.
    answer = ask(chat.page, "Which country is that city in?", chat.log)
    assert answer["error"] is None and answer["count"] == 2
    assert "France" in answer["text"], answer
    history = chat.page.evaluate("() => window.webslmPage.ui.history.map(m => m.role)")
    assert history == ["user", "assistant", "user", "assistant"]
    print(f"second turn: {answer['text']!r}")


def test_page_answers_under_its_csp_and_refuses_to_be_framed(chat):
    """The load and the answers above ran under the served CSP without one violation (the
    page's events, and the console, which carries the workers' refusals too); an inline
    script is refused (so the watch works); and a page elsewhere cannot frame the chat."""
    page = chat.page
    assert page.evaluate("() => window.__cspViolations || []") == []
    assert not [line for line in chat.log if "Content Security Policy" in line], chat.log[-20:]
    # What the other engines need is allowed too: wllama's blob workers, WebAssembly, and
    # importing transformers.js and wllama from the site.
    needs = page.evaluate("""async () => {
        const w = new Worker(URL.createObjectURL(new Blob(['postMessage(typeof WebAssembly)'])));
        const blobWorker = await new Promise((ok, bad) => {
            w.onmessage = (e) => ok(e.data); w.onerror = (e) => bad(String(e.message)); });
        w.terminate();
        const wasm = await WebAssembly.instantiate(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));
        const load = (url) => import(url).then(() => 'ok', (e) => String(e));
        return {blobWorker, wasm: Boolean(wasm.instance), transformers: await load('./vendor/transformers/transformers.js'),
                wllama: await load('./vendor/wllama/index.js'), violations: window.__cspViolations || []};
    }""")
    assert needs == {"blobWorker": "object", "wasm": True, "transformers": "ok", "wllama": "ok",
                     "violations": []}, needs
    assert page.evaluate("""() => { const s = document.createElement('script');
        s.textContent = 'window.__inlineRan = true'; document.head.append(s);
        return window.__inlineRan === undefined; }""")
    page.wait_for_function("() => (window.__cspViolations || []).length >= 2", timeout=5_000)
    # One report per policy that refused it: the header's and the page's <meta>.
    assert page.evaluate("() => window.__cspViolations") == ["script-src-elem inline"] * 2

    framer = chat.ctx.new_page()  # about:blank, as any other site would frame it
    try:
        framer.set_content(f'<iframe src="{chat.url}"></iframe>', wait_until="load")
        child = framer.frames[1]
        try:
            framed = child.evaluate("() => document.getElementById('app') !== null")
        except Exception:  # Chromium's error page for a refused frame
            framed = False
        assert not framed, child.url
        print(f"framed copy refused: the frame shows {child.url!r}")
    finally:
        framer.close()


def test_stop_ends_a_long_answer_midway(chat):
    page = chat.page
    page.click("#new-chat")
    set_sampling(page, temperature=0, max_tokens=400)
    page.fill("#prompt", "Write a long story about a dragon who lives in a castle.")
    page.press("#prompt", "Enter")
    page.wait_for_function("""() => Number(document.querySelector('#messages .message.assistant')
                                   ?.dataset.chunks || 0) >= 3""", polling=200, timeout=600_000)
    t_stop = time.time()
    page.click("#stop")
    wait_state(page, "ready", chat.log, 120)
    answer = last_answer(page)
    assert answer["finish"] == "abort", answer
    assert "stopped" in answer["stats"]["text"]
    assert 3 <= int(answer["stats"]["tokens"]) < 400, answer["stats"]
    print(f"stopped after {answer['stats']['tokens']} tokens, {time.time() - t_stop:.1f} s after Stop")


def test_page_and_model_work_offline_after_the_first_visit(chat):
    """With the server gone, the service worker serves the page shell and WebLLM loads the
    model from its Cache API: a second visit needs no network at all."""
    page = chat.page
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=30_000)
    chat.url.stop()
    log: list[str] = []
    offline = open_page(chat.ctx, chat.url, log)
    try:
        assert offline.evaluate("() => document.getElementById('app').dataset.build") == F32, log
        seconds = load_model(offline, log)
        print(f"offline load: {seconds:.0f} s")
    finally:
        offline.close()


def test_cache_panel_shows_usage_and_deletes_a_model(chat):
    page = chat.page
    page.wait_for_function(f"""() => document.querySelector("#cached-models li[data-model='{F32}']")
                                     ?.dataset.cached === 'true'""", timeout=30_000)
    used = int(page.get_attribute("#storage-usage", "data-bytes"))
    assert used > 50 * 2**20, used  # the weights are in the Cache API
    page.click("#delete-cache")
    page.wait_for_function(f"""() => document.querySelector("#cached-models li[data-model='{F32}']")
                                     ?.dataset.cached === 'false'""", timeout=30_000)
    assert "Deleted the cached files" in page.text_content("#cache-status")
