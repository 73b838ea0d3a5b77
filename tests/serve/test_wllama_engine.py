"""No WebGPU at all, and SmolLM2's ONNX build carries its Q8_0 GGUF (gguf/): unforced, the
chat page and the form demo each take the CPU engine measured first for their task
(web/static/cpu-engine-order.js). Asked for wllama (llama.cpp in WASM), the pages and
createChat say so on the engine badge, answer the France question with Paris greedily,
stream with usage, continue a raw text prompt (greedyIds: wllama 3.13 takes no token-id
prompts), and fill the contact form with JSON constrained by a GBNF grammar (json-grammar.js)
whose free-text fields copy spans of the text.

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
from serve_helpers import cpu_engine_order
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


def test_each_page_takes_the_cpu_engine_measured_for_its_task(site):
    """The chat page (task "chat") and the form demo (task "form") badge the order file's
    first CPU engine for their task, before anything loads; createChat's `task` agrees."""
    url, ctx, _ = site
    order = cpu_engine_order()["order"]
    assert badge(open_page(ctx, url, []))["engine"] == order["chat"][0]
    page = open_page(ctx, url + "form.html", [])
    assert badge(page)["engine"] == order["form"][0]
    picked = page.evaluate("""async () => {
        const { chooseEngine, loadModels, probeGPU } = await import('./webslm.js');
        const [listing, gpu] = await Promise.all([loadModels(), probeGPU()]);
        return ['chat', 'form'].map((task) => chooseEngine(listing.models, gpu, { task }).engine);
    }""")
    assert picked == [order["chat"][0], order["form"][0]], picked


def test_chat_page_on_wllama_answers_paris(site):
    url, ctx, build = site
    log: list[str] = []
    page = open_page(ctx, url + "?engine=wllama", log)
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
        const chat = await createChat({ listing, gpu, engine: 'wllama' });
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
    page = open_page(ctx, url + "form.html?engine=wllama", log)
    assert page.evaluate("() => document.getElementById('engine-badge').dataset.engine") == "wllama"
    result, values, seconds = fill_form(page, SIGNATURE, log, timeout=300)
    print(f"wllama fill took {seconds:.0f} s; answer: {result['raw']}")
    json.loads(result["raw"])  # the grammar's JSON always parses
    assert values["name"] == "John Smith", values
    assert values["email"] == "john.smith@acme.com", values
    assert values["city"] == "San Francisco", values
    assert result["rejected"] == {}, result["rejected"]
    assert result["ungrounded"] == [], result  # copied spans of the text only


# A page written against the Prompt API: its only webslm line is the import and
# installLanguageModel(); everything after it is what code for Chrome's built-in model writes.
# This Chromium exposes a built-in LanguageModel whose model service does not run (its
# create() fails), so the page replaces it.
PROMPT_API_PAGE = """async (text) => {
    const { installLanguageModel } = await import('./webslm.js');
    const hadOwn = 'LanguageModel' in globalThis;
    installLanguageModel({ replaceBuiltIn: true, engine: 'wllama' });
    const before = await LanguageModel.availability();
    const progress = [];
    const session = await LanguageModel.create({
        monitor(m) { m.addEventListener('downloadprogress', (e) => progress.push(e.loaded)); } });
    const after = await LanguageModel.availability();
    const schema = { type: 'object', additionalProperties: false, required: ['name', 'email', 'city'],
        properties: { name: { type: 'string' }, email: { type: 'string' }, city: { type: 'string' } } };
    const raw = await session.prompt('Copy the name, email and city of this signature into JSON.\\n' + text,
        { responseConstraint: schema });
    const flags = { type: 'object', required: ['has_email', 'language'],
        properties: { has_email: { type: 'boolean' }, language: { type: 'string', enum: ['English', 'French'] } } };
    const pieces = [];
    for await (const piece of session.promptStreaming('Does it give an email address, and in which language is it?',
        { responseConstraint: flags })) pieces.push(piece);
    return { hadOwn, before, after, progress, raw, streamed: pieces, usage: session.contextUsage, window: session.contextWindow };
}"""


def test_prompt_api_page_gets_json_matching_its_schema(site):
    url, ctx, build = site
    log: list[str] = []
    page = ctx.new_page()
    attach_log(page, log)
    page.goto(url)
    got = page.evaluate(PROMPT_API_PAGE, SIGNATURE)
    print(f"Prompt API answers: {got['raw']} / {''.join(got['streamed'])}; usage {got['usage']} of {got['window']}")
    print(f"the browser's own LanguageModel: {'present' if got['hadOwn'] else 'absent'} (replaced)")
    assert got["before"] in ("downloadable", "available") and got["after"] == "available", got
    progress = got["progress"]
    assert progress[0] == 0 and progress[-1] == 1 and progress == sorted(progress), progress
    answer = json.loads(got["raw"])
    assert set(answer) == {"name", "email", "city"} and all(isinstance(v, str) for v in answer.values()), answer
    assert answer["name"] == "John Smith" and answer["email"] == "john.smith@acme.com", answer
    flags = json.loads("".join(got["streamed"]))
    assert len(got["streamed"]) > 1, "not streamed"
    assert set(flags) == {"has_email", "language"} and isinstance(flags["has_email"], bool), flags
    assert flags["language"] in ("English", "French"), flags
    assert 0 < got["usage"] < got["window"] == build["gguf"]["Q8_0"]["context"], got


PROMPT_API_RULES = """async () => {
    const { installLanguageModel, fillForm } = await import('./webslm.js');
    installLanguageModel({ replaceBuiltIn: true, engine: 'wllama' });
    const outcome = async (promise) => { try { await promise; return 'ok'; } catch (e) { return e.name; } };
    const out = {};
    out.imageAvailability = await LanguageModel.availability({ expectedInputs: [{ type: 'image' }] });
    out.createImage = await outcome(LanguageModel.create({ expectedInputs: [{ type: 'image' }] }));
    out.createAborted = await outcome(LanguageModel.create({ signal: AbortSignal.abort() }));
    out.lateSystem = await outcome(LanguageModel.create({ initialPrompts: [{ role: 'user', content: 'hi' }, { role: 'system', content: 'x' }] }));
    const session = await LanguageModel.create({ initialPrompts: [{ role: 'system', content: 'Answer in one short sentence.' }] });
    out.initial = session.contextUsage;
    out.legacy = [session.inputUsage, session.inputQuota, session.contextWindow];
    out.short = await session.measureInputUsage('Hi');
    out.long = await session.measureContextUsage('Hi there, how are you doing today? Tell me all about Paris and its museums.');
    out.afterMeasure = session.contextUsage;
    out.omitAlone = await outcome(session.prompt('x', { omitResponseConstraintInput: true }));
    out.regexp = await outcome(session.prompt('x', { responseConstraint: /a+/ }));
    out.image = await outcome(session.prompt([{ role: 'user', content: [{ type: 'image', value: new Uint8Array(4) }] }]));
    out.prefixFirst = await outcome(session.prompt([{ role: 'assistant', content: 'a', prefix: true }, { role: 'user', content: 'b' }]));
    out.systemLater = await outcome(session.prompt([{ role: 'system', content: 'Be rude.' }]));
    out.empty = await outcome(session.prompt([]));
    // Aborted mid-answer: AbortError, and the exchange leaves no trace.
    const stop = new AbortController();
    const reader = session.promptStreaming('Tell me a long story about a dragon.', { signal: stop.signal, webslm: { maxTokens: 48 } }).getReader();
    out.firstPiece = (await reader.read()).value;
    stop.abort();
    out.streamAbort = await outcome((async () => { for (;;) { if ((await reader.read()).done) return; } })());
    out.afterAbort = session.contextUsage;
    // Queued behind another answer and aborted there: dropped without running.
    const queued = new AbortController();
    const first = session.prompt('Which city is the capital of France?', { webslm: { maxTokens: 32 } });
    const second = outcome(session.prompt('And of Spain?', { signal: queued.signal }));
    queued.abort();
    out.queuedAbort = await second;
    out.answer = await first;
    out.afterAnswer = session.contextUsage;
    // A clone has the conversation and its own future.
    const clone = await session.clone();
    out.cloneStart = clone.contextUsage;
    await clone.append('And of Italy?');
    out.cloneAfter = clone.contextUsage;
    out.parentAfterClone = session.contextUsage;
    clone.destroy();
    out.destroyedPrompt = await outcome(clone.prompt('x'));
    out.destroyedStream = await outcome(Promise.resolve().then(() => clone.promptStreaming('x')));
    out.parentMeasure = await session.measureInputUsage('Hi');
    // Too long for the context window: QuotaExceededError, nothing dropped.
    const huge = 'lorem ipsum dolor sit amet '.repeat(Math.ceil(session.contextWindow / 2));
    out.quota = await session.prompt(huge).then(() => ({ name: 'ok' }), (e) => ({ name: e.name, requested: e.requested, quota: e.quota }));
    out.afterQuota = session.contextUsage;
    // destroy() rejects the answer under way with an AbortError.
    const pending = outcome(session.prompt('Tell me a long story about a cat.', { webslm: { maxTokens: 48 } }));
    await new Promise((r) => setTimeout(r, 500));
    session.destroy();
    out.destroyPending = await pending;
    // fillForm takes a Prompt API session as well as a createChat chat.
    document.body.insertAdjacentHTML('beforeend', '<form id="pa-form"><input name="name" autocomplete="name">'
        + '<input name="email" type="email" autocomplete="email"><input name="city" autocomplete="address-level2"></form>');
    const filler = await LanguageModel.create();
    out.fill = await fillForm(filler, document.getElementById('pa-form'),
        'Best regards,\\nJohn Smith\\nAcme Corporation\\njohn.smith@acme.com\\nSan Francisco', { maxTokens: 64 });
    filler.destroy();
    return out;
}"""


def test_prompt_api_sessions_follow_the_spec(site):
    """Errors as the spec names them, token accounting, abort (streamed, queued, by destroy),
    clone isolation, the context window, and fillForm on a session: on one loaded model."""
    url, ctx, build = site
    log: list[str] = []
    page = ctx.new_page()
    attach_log(page, log)
    page.goto(url)
    out = page.evaluate(PROMPT_API_RULES)
    print({k: v for k, v in out.items() if k != "fill"}, out["fill"]["raw"])
    assert out["imageAvailability"] == "unavailable" and out["createImage"] == "NotSupportedError", out
    assert (out["createAborted"], out["lateSystem"]) == ("AbortError", "TypeError"), out
    assert out["initial"] > 0 and out["legacy"] == [out["initial"], out["legacy"][2], build["gguf"]["Q8_0"]["context"]], out
    assert 0 < out["short"] < out["long"] and out["afterMeasure"] == out["initial"], out
    assert (out["omitAlone"], out["regexp"], out["image"]) == ("TypeError", "NotSupportedError", "NotSupportedError"), out
    assert (out["prefixFirst"], out["systemLater"], out["empty"]) == ("SyntaxError", "TypeError", "SyntaxError"), out
    assert out["firstPiece"] and out["streamAbort"] == "AbortError" and out["afterAbort"] == out["initial"], out
    assert out["queuedAbort"] == "AbortError" and "Paris" in out["answer"], out
    assert out["afterAnswer"] > out["initial"], out
    assert out["cloneStart"] == out["afterAnswer"] < out["cloneAfter"] and out["parentAfterClone"] == out["afterAnswer"], out
    assert (out["destroyedPrompt"], out["destroyedStream"]) == ("InvalidStateError", "InvalidStateError"), out
    assert out["parentMeasure"] > 0, out
    quota = out["quota"]
    assert quota["name"] == "QuotaExceededError" and quota["requested"] > quota["quota"], quota
    assert out["afterQuota"] == out["afterAnswer"], out
    assert out["destroyPending"] == "AbortError", out
    fill = out["fill"]
    assert fill["values"]["name"] == "John Smith" and fill["values"]["email"] == "john.smith@acme.com", fill
    assert {"name", "email"} <= set(fill["filled"]), fill
