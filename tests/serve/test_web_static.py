"""Fast checks of the frontend in web/ (no browser): nothing from a CDN, small files, relative
URLs, the offline list complete, and the pure logic of webslm.js run under Node."""

from __future__ import annotations

import re
from pathlib import Path

from serve_helpers import run_node_checks

WEB = Path(__file__).resolve().parents[2] / "web"
OURS = sorted([WEB / "webslm.js", *(WEB / "static").rglob("*"), *(WEB / "templates").rglob("*")])
OURS = [p for p in OURS if p.is_file()]


def test_nothing_comes_from_a_cdn():
    cdn = re.compile(r"(cdn\.|unpkg|esm\.sh|jsdelivr|skypack|googleapis|cdnjs)", re.I)
    hits = [f"{p.relative_to(WEB)}: {m.group(0)}" for p in OURS for m in cdn.finditer(p.read_text())]
    assert not hits, hits


def test_files_are_small():
    long = {p.name: n for p in OURS if (n := len(p.read_text().splitlines())) > 300}
    assert not long, long


def test_pages_use_relative_urls_only():
    # The static export may be mounted at any path: no "/static/..." or "http://..." in pages.
    for page in (WEB / "templates").glob("*.html"):
        for url in re.findall(r'(?:href|src)="([^"]*)"', page.read_text()):
            assert not url.startswith(("/", "http:", "https:")), (page.name, url)


def test_offline_list_names_every_static_file():
    source = (WEB / "static" / "offline-sw.js").read_text()
    shell = set(re.findall(r'"(static/[^"]+)"', source))
    assert shell == {f"static/{p.name}" for p in (WEB / "static").iterdir() if p.is_file()}


NODE_CHECKS = r"""
import assert from "node:assert/strict";
const w = await import("./webslm.js");

// f16 build only with shader-f16; f32 otherwise; the reason names the missing feature.
const models = [
  {id: "m-q4f16_1", quantization: "q4f16_1", required_features: ["shader-f16"], size_bytes: 80},
  {id: "m-q4f32_1", quantization: "q4f32_1", required_features: [], size_bytes: 90},
].map((m) => ({...m, family: w.familyOf(m)}));
const limits = {...w.REQUIRED_LIMITS};
const plain = {ok: true, features: [], limits, shaderF16: false};
const f16 = {ok: true, features: ["shader-f16"], limits, shaderF16: true};
assert.equal(models[0].family, "m");
assert.equal(w.chooseBuild(models, plain, "m").build.id, "m-q4f32_1");
assert.match(w.chooseBuild(models, plain, "m").reason, /shader-f16/);
assert.equal(w.chooseBuild(models, f16, "m").build.id, "m-q4f16_1");
assert.equal(w.chooseBuild(models, f16, "").build.id, "m-q4f16_1");
assert.equal(w.chooseBuild(models, plain, "m-q4f16_1").build, null);
assert.equal(w.chooseBuild([models[0]], plain, "m").build, null);
assert.equal(w.chooseBuild(models, {ok: false, reason: "no WebGPU", features: []}, "m").build, null);
assert.equal(w.chooseBuild([], plain).build, null);

// Progress: stage and bytes from WebLLM's report lines.
let p = w.parseProgress({progress: 0.5, timeElapsed: 3, text: "Fetching param cache[2/3]: 42MB fetched. 50% completed, 3 secs elapsed."});
assert.equal(p.stage, "download"); assert.equal(p.loadedBytes, 42 * 2 ** 20); assert.equal(p.totalBytes, 84 * 2 ** 20);
assert.match(w.describeProgress(p), /42\.0 MB of 84\.0 MB/);
assert.equal(w.parseProgress({progress: 0.2, text: "Loading GPU shader modules[10/50]: 20% completed"}).stage, "shaders");
assert.equal(w.parseProgress({progress: 1, text: "Loading model from cache[3/3]: 81MB loaded. 100% completed"}).stage, "load");
assert.equal(w.parseProgress({progress: 1, text: "Finish loading on WebGPU - google"}).stage, "ready");

// Errors a user can act on, as they arrive from the worker (strings).
const kind = (e) => w.explainError(e).kind;
assert.equal(kind("DeviceLostError: The WebGPU device was lost while loading the model. ... (OOM)"), "device-lost");
assert.equal(kind("GPUOutOfMemoryError: out of memory"), "out-of-memory");
assert.equal(kind(Object.assign(new Error("quota"), {name: "QuotaExceededError"})), "quota-exceeded");
assert.equal(kind("Error: Failed to fetch"), "network");
assert.equal(kind("Error: something else"), "other");

// Validation of a form answer.
const schema = {type: "object", additionalProperties: false, required: ["email", "ok"], properties: {
  email: {type: "string", pattern: "^([^@ ]+@[^@ ]+)?$"}, ok: {type: "boolean"}, d: {type: "string", enum: ["", "a"]}}};
assert.equal(w.validate(schema, {email: "a@b", ok: true}).valid, true);
const bad = w.validate(schema, {email: "nope", ok: "yes", d: "b", extra: 1});
assert.deepEqual(Object.keys(bad.byField).sort(), ["d", "email", "extra", "ok"]);
assert.equal(w.validate(schema, {ok: true}).byField.email[0], "email: missing");
assert.equal(w.isGrounded("John Smith", "Regards,\njohn  smith"), true);
assert.equal(w.isGrounded("Smith, John", "Regards,\njohn smith"), true);
assert.equal(w.isGrounded("Maria Rossi", "Regards,\njohn smith"), false);
assert.equal(w.isGrounded("Paris", "Lyon"), false);
assert.equal(w.isGrounded("+1 (415) 555-0199", "tel 1 415 555 0199"), true);
// Typed fields that the text plainly cannot fill are not asked for (each costs tokens).
const fields = [{name: "email", kind: "email"}, {name: "phone", kind: "tel"}, {name: "date", kind: "date"}, {name: "city", kind: "text"}];
const sch = {type: "object", required: ["email", "phone", "date", "city"],
  properties: {email: {type: "string"}, phone: {type: "string"}, date: {type: "string"}, city: {type: "string"}}};
assert.deepEqual(w.schemaForText(sch, fields, "Ann Lee, Oslo").skipped, ["email", "phone", "date"]);
assert.deepEqual(w.schemaForText(sch, fields, "Ann Lee, Oslo").schema.required, ["city"]);
assert.deepEqual(w.schemaForText(sch, fields, "ann@x.org, +47 555 01234, see you on 2025-03-04").skipped, []);
// The worked example follows the form's autocomplete hints and its asked fields only.
const ex = w.exampleFor({properties: {who: {type: "string"}, org: {type: "string"}, dept: {type: "string", enum: ["", "a"]},
  town: {type: "string"}, news: {type: "boolean"}}}, [{name: "who", autocomplete: "name"}, {name: "org", autocomplete: "organization"},
  {name: "dept", autocomplete: ""}, {name: "town", autocomplete: "address-level2"}, {name: "news", autocomplete: ""}]);
assert.deepEqual(JSON.parse(ex.answer), {who: "Maria Rossi", org: "Northwind Traders", dept: "", town: "Milan", news: false});
assert.equal(ex.text, "Kind regards,\nMaria Rossi\nNorthwind Traders\nMilan");
assert.equal(kind(Object.assign(new Error("No build of m runs here: needs shader-f16"), {name: "NoUsableBuildError"})), "no-usable-build");
console.log("ok");
"""


def test_webslm_js_logic_under_node(tmp_path):
    run_node_checks(tmp_path, NODE_CHECKS)


LANGUAGE_MODEL_CHECKS = r"""
import assert from "node:assert/strict";
const w = await import("./webslm.js");
const named = (promise) => promise.then(() => "resolved", (e) => e.name);

// installLanguageModel: only where the platform has no LanguageModel of its own.
assert.equal("LanguageModel" in globalThis, false);
const cpu = {id: "m-cpu", family: "m", engine: "transformers.js", dtypes: ["q8"], url: "models/m-cpu/", files: {}};
const noGpu = {ok: false, adapter: false, reason: "no WebGPU", features: [], limits: {}, shaderF16: false};
assert.equal(w.installLanguageModel({listing: {base: "http://127.0.0.1:9/", records: [], models: [cpu]}, gpu: noGpu}), w.LanguageModel);
assert.equal(globalThis.LanguageModel, w.LanguageModel);
const builtIn = class {};
globalThis.LanguageModel = builtIn;
assert.equal(w.installLanguageModel({listing: {base: "http://127.0.0.1:9/", records: [], models: [cpu]}, gpu: noGpu}), builtIn);
assert.equal(w.installLanguageModel({replaceBuiltIn: true, listing: {base: "http://127.0.0.1:9/", records: [], models: [cpu]}, gpu: noGpu}), w.LanguageModel);
delete globalThis.LanguageModel;
const LM = w.LanguageModel;

// availability: a CPU build runs here (nothing cached: no Cache Storage in Node); images,
// audio and tools are not offered.
assert.equal(await LM.availability(), "downloadable");
assert.equal(await LM.availability({expectedInputs: [{type: "text", languages: ["en"]}]}), "downloadable");
assert.equal(await LM.availability({expectedInputs: [{type: "image"}]}), "unavailable");
assert.equal(await LM.availability({expectedOutputs: [{type: "audio"}]}), "unavailable");
assert.deepEqual(await LM.params(), {defaultTopK: 1, maxTopK: 128, defaultTemperature: 0, maxTemperature: 2});

// create() refuses bad options before it loads anything, with the spec's error names.
assert.equal(await named(LM.create({signal: AbortSignal.abort()})), "AbortError");
assert.equal(await named(LM.create({expectedInputs: [{type: "image"}]})), "NotSupportedError");
assert.equal(await named(LM.create({initialPrompts: [{role: "user", content: "a"}, {role: "system", content: "b"}]})), "TypeError");
assert.equal(await named(LM.create({initialPrompts: [{role: "user", content: "a", prefix: true}]})), "SyntaxError");
assert.equal(await named(LM.create({initialPrompts: [{role: "user", content: [{type: "image", value: new Uint8Array(1)}]}]})), "NotSupportedError");
assert.equal(await named(LM.create({samplingMode: "creative", temperature: 1})), "TypeError");
assert.equal(await named(LM.create({temperature: "hot"})), "TypeError");
assert.throws(() => new LM(), TypeError);

// No build runs here (a WebLLM build only, no WebGPU), and no site at all: "unavailable",
// and create() says NotSupportedError.
const webllm = {id: "m-q4f32_1", family: "m", quantization: "q4f32_1", required_features: []};
w.installLanguageModel({listing: {base: "http://127.0.0.1:9/", records: [], models: [webllm]}, gpu: noGpu});
assert.equal(await LM.availability(), "unavailable");
assert.equal(await named(LM.create()), "NotSupportedError");
w.installLanguageModel({baseUrl: "http://127.0.0.1:9/nowhere/"});
assert.equal(await LM.availability(), "unavailable");
console.log("ok");
"""


def test_language_model_api_under_node(tmp_path):
    run_node_checks(tmp_path, LANGUAGE_MODEL_CHECKS)
