"""No WebGPU at all, and SmolLM2's ONNX build carries its Q8_0 GGUF (gguf/): the pages and
createChat pick wllama (llama.cpp in WASM) before transformers.js on WASM, say so on the
engine badge, answer the France question with Paris greedily, stream with usage, continue
a raw text prompt (greedyIds: wllama 3.13 takes no token-id prompts), and fill the contact form with JSON constrained by a GBNF grammar
(json-grammar.js) whose free-text fields copy spans of the text.

One module, one browser profile: the GGUF (145 MB) is downloaded and verified once, then
every load reads it from the Cache Storage (wllama loads it in a few seconds).

The question is worded "Which city is the capital of France?": to "What is the capital of
France?" SmolLM2-135M's greedy first token is a coin toss ("The" vs "L", see
test_wasm_engine.py), and Q8_0, like the ONNX q8 model, answers "L'Étoile, ..."."""

from __future__ import annotations

import json
import urllib.request

import pytest

from browser_helpers import (ask, attach_log, chromium, fill_form, load_model, open_page,
                             set_sampling, webslm_serve)
from test_form_demo import SIGNATURE

pytestmark = [pytest.mark.slow, pytest.mark.browser]
QUESTION = "Which city is the capital of France?"


@pytest.fixture(scope="module")
def site(smollm2_onnx_dist):
    with webslm_serve(smollm2_onnx_dist) as url, chromium(webgpu=False) as ctx:
        listing = json.loads(urllib.request.urlopen(url + "api/models.json", timeout=30).read())
        onnx = [m for m in listing["models"] if m.get("engine") == "transformers.js"]
        if not onnx or not onnx[0].get("gguf"):
            pytest.fail("the ONNX build of SmolLM2 lists no GGUF in api/models.json")
        yield url, ctx, onnx[0]


def badge(page) -> dict:
    return page.evaluate("() => ({engine: document.getElementById('engine-badge').dataset.engine,"
                         " text: document.getElementById('engine-badge').textContent})")


def test_chat_page_picks_wllama_and_answers_paris(site):
    url, ctx, build = site
    log: list[str] = []
    page = open_page(ctx, url, log)
    assert badge(page) == {"engine": "wllama", "text": "Engine: llama.cpp (wllama) on WASM (CPU) (Q8_0)"}
    status = page.text_content("#gpu-status")
    assert "smollm2-135m-cpu (Q8_0 GGUF) with llama.cpp (wllama)" in status, status
    assert f"context {build['gguf']['Q8_0']['context']} tokens" in status, status
    assert "runs in this browser, on your CPU" in page.text_content("#messages .empty")
    seconds = load_model(page, log, timeout=300)
    assert page.evaluate("() => window.webslmPage.chat.engine") == "wllama"
    set_sampling(page, temperature=0, max_tokens=12)
    answer = ask(page, QUESTION, log, timeout=300)
    assert answer["error"] is None, log[-20:]
    assert "Paris" in answer["text"], answer
    assert answer["chunks"] > 1, "not streamed"
    print(f"wllama: loaded in {seconds:.1f} s; answer {answer['text']!r}")


def test_create_chat_api_on_wllama(site):
    """createChat: the choice, info, a non-streamed and a streamed answer with usage, a raw
    text continuation, and ?engine=transformers-wasm still reachable."""
    url, ctx, build = site
    log: list[str] = []
    page = ctx.new_page()
    attach_log(page, log)
    page.goto(url)
    got = page.evaluate("""async (question) => {
        const { createChat, chooseEngine, loadModels, probeGPU } = await import('./webslm.js');
        const listing = await loadModels();
        const gpu = await probeGPU();
        const forced = chooseEngine(listing.models, gpu, { engine: 'transformers-wasm' });
        const chat = await createChat({ listing, gpu });
        const messages = [{ role: 'user', content: question }];
        const plain = await chat.chat.completions.create({ messages, max_tokens: 8, temperature: 0 });
        const chunks = [];
        for await (const c of await chat.chat.completions.create({ messages, max_tokens: 8, temperature: 0,
            stream: true, stream_options: { include_usage: true } })) chunks.push(c);
        const a = await chat.greedyIds('The capital of France is', 4, { ignoreEos: true });
        const refused = await chat.greedyIds([504, 3458], 4).then(() => 'ran', (err) => err.message);
        const info = chat.info;
        await chat.unload();
        return { engine: chat.engine, dtype: chat.choice.dtype, info, forced: forced.engine,
                 plain: plain.choices[0].message.content, finish: plain.choices[0].finish_reason,
                 usage: plain.usage, streamed: chunks.filter((c) => c.choices.length).map((c) => c.choices[0].delta.content || '').join(''),
                 last: chunks[chunks.length - 1], finishes: chunks.map((c) => c.choices[0]?.finish_reason).filter(Boolean),
                 a, refused };
    }""", QUESTION)
    assert got["engine"] == "wllama" and got["dtype"] == "Q8_0", got
    assert got["forced"] == "transformers-wasm"
    info = got["info"]
    assert info["engine"] == "wllama" and info["device"] == "wasm" and info["dtype"] == "Q8_0", info
    assert info["threads"] >= 1 and info["loadSeconds"] > 0 and info["context"] == build["gguf"]["Q8_0"]["context"]
    assert "Paris" in got["plain"], (got, log[-20:])
    assert got["streamed"] == got["plain"], got  # greedy: the same answer streamed
    assert got["usage"]["completion_tokens"] > 0 and got["usage"]["prompt_tokens"] > 0, got["usage"]
    assert got["last"]["choices"] == [] and got["last"]["usage"]["completion_tokens"] > 0, got["last"]
    assert got["finishes"] == [got["finish"]], got
    assert "Paris" in got["a"]["text"] and got["a"]["usage"]["completion_tokens"] == 4, got["a"]
    assert "not token ids" in got["refused"], got["refused"]


def test_form_demo_fills_on_wllama(site):
    url, ctx, _ = site
    log: list[str] = []
    page = open_page(ctx, url + "form.html", log)
    assert page.evaluate("() => document.getElementById('engine-badge').dataset.engine") == "wllama"
    result, values, seconds = fill_form(page, SIGNATURE, log, timeout=300)
    print(f"wllama fill took {seconds:.0f} s; answer: {result['raw']}")
    json.loads(result["raw"])  # the grammar's JSON always parses
    assert values["name"] == "John Smith", values
    assert values["email"] == "john.smith@acme.com", values
    assert values["city"] == "San Francisco", values
    assert result["rejected"] == {}, result["rejected"]
    assert result["ungrounded"] == [], result  # copied spans of the text only
