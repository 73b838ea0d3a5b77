"""The engine order and the schema constraint of webslm.js, under Node (no browser):
WebLLM on WebGPU, else transformers.js on WebGPU, else on WASM; ?engine= forces one; the
CPU engine's JSON always parses, keeps the schema's keys and copies only from the text."""

from __future__ import annotations

from serve_helpers import run_node_checks

NODE_CHECKS = r"""
import assert from "node:assert/strict";
const w = await import("./webslm.js");

const models = [
  {id: "m-q4f16_1", quantization: "q4f16_1", required_features: ["shader-f16"], size_bytes: 80, engine: "webllm"},
  {id: "m-q4f32_1", quantization: "q4f32_1", required_features: [], size_bytes: 90, engine: "webllm"},
  {id: "m-cpu", family: "m", quantization: "onnx", engine: "transformers.js", dtypes: ["q4", "q4f16"], f16_dtypes: ["q4f16"], size_bytes: 70},
].map((m) => ({...m, family: w.familyOf(m)}));
const limits = {...w.REQUIRED_LIMITS};
const f16 = {ok: true, adapter: true, features: ["shader-f16"], limits, shaderF16: true};
const plain = {ok: true, adapter: true, features: [], limits, shaderF16: false};
const weak = {ok: false, adapter: true, reason: "This GPU is too limited for WebLLM", features: [], limits, shaderF16: false};
const none = {ok: false, adapter: false, reason: "This browser has no WebGPU", features: [], limits: {}, shaderF16: false};
const pick = (gpu, opts = {}) => w.chooseEngine(models, gpu, {isolated: true, cores: 2, ...opts});

assert.equal(models[2].family, "m");
let c = pick(f16);
assert.equal(c.engine, "webllm"); assert.equal(c.build.id, "m-q4f16_1");
c = pick(plain);
assert.equal(c.engine, "webllm"); assert.equal(c.build.id, "m-q4f32_1");
c = pick(weak);
assert.equal(c.engine, "transformers-webgpu"); assert.equal(c.dtype, "q4"); assert.match(c.reason, /too limited/);
c = pick({...weak, shaderF16: true, features: ["shader-f16"]});
assert.equal(c.dtype, "q4f16");
c = pick(none);
assert.equal(c.engine, "transformers-wasm"); assert.equal(c.dtype, "q4"); assert.equal(c.threads, 2);
assert.match(c.reason, /WASM, 2 threads/); assert.match(c.reason, /no WebGPU/);
assert.equal(w.chooseEngine(models, none, {isolated: false, cores: 8}).threads, 1);  // no SharedArrayBuffer
// With the int8 build present, the CPU takes it (several times faster there); dtype forces.
const withQ8 = models.map((m) => m.id === "m-cpu" ? {...m, dtypes: ["q8", "q4", "q4f16"]} : m);
assert.equal(w.chooseEngine(withQ8, none, {}).dtype, "q8");
assert.equal(w.chooseEngine(withQ8, none, {dtype: "q4"}).dtype, "q4");
assert.equal(w.chooseEngine(withQ8, weak, {}).dtype, "q4");  // WebGPU: the 4-bit model
// A software WebGPU adapter (SwiftShader) goes to the CPU engine when there is a CPU model,
// unless an engine is forced; without an ONNX build WebLLM is still the only choice.
const software = {...plain, software: true, info: {vendor: "google", architecture: "swiftshader"}};
c = pick(software);
assert.equal(c.engine, "transformers-wasm"); assert.match(c.reason, /runs on the CPU \(swiftshader\)/);
assert.equal(pick(software, {engine: "webllm"}).engine, "webllm");
assert.equal(w.chooseEngine(models.slice(0, 2), software, {}).engine, "webllm");
const f16Only = models.map((m) => m.id === "m-cpu" ? {...m, dtypes: ["q4f16"]} : m);
assert.equal(w.chooseEngine(f16Only, software, {}).engine, "webllm");
// A CPU model the build left out as too large for WASM memory: the reason reaches the page.
const tooLarge = models.map((m) => m.id === "m-cpu" ? {...m, dtypes: ["q4f16"], wasm_refused: {q8: "ONNX q8 needs about 15.2 GiB of WASM memory"}} : m);
c = w.chooseEngine(tooLarge, none, {});
assert.equal(c.engine, null); assert.match(c.reason, /no CPU model \(ONNX q8 needs about 15.2 GiB of WASM memory\)/);
// A CPU model whose WASM memory holds fewer tokens than the build: its own context counts there.
const shorter = withQ8.map((m) => m.id === "m-cpu" ? {...m, context_window: 4096, wasm_context: {q8: 2486, q4: 4096}} : m);
assert.equal(w.contextOf(w.chooseEngine(shorter, none, {})), 2486);
assert.equal(w.contextOf(w.chooseEngine(shorter, weak, {})), 4096);  // WebGPU: not WASM memory
assert.equal(w.contextOf(w.chooseEngine(models, f16, {})), undefined);  // listed without one
assert.equal(w.isSoftwareAdapter({info: {isFallbackAdapter: true}}), true);
assert.equal(w.isSoftwareAdapter({isFallbackAdapter: false, info: {vendor: "mesa", architecture: "llvmpipe"}}), true);
// lavapipe as Chromium's Dawn reports it (tests/browser/chromium_rig.py): not a fallback adapter.
assert.equal(w.isSoftwareAdapter({info: {vendor: "mesa", architecture: "software", isFallbackAdapter: false}}), true);
assert.equal(w.isSoftwareAdapter({info: {vendor: "nvidia", architecture: "hopper", isFallbackAdapter: false}}), false);
// Forced engines, and what happens when the forced one cannot run.
assert.equal(pick(f16, {engine: "transformers-wasm"}).engine, "transformers-wasm");
assert.equal(pick(f16, {engine: "transformers-webgpu"}).dtype, "q4f16");
c = pick(none, {engine: "webllm"});
assert.equal(c.engine, null); assert.match(c.reason, /WebLLM/);
assert.match(pick(f16, {engine: "gpu-magic"}).reason, /Unknown engine/);
// The ONNX build named directly never goes to WebLLM; no ONNX build means no fallback.
assert.equal(pick(f16, {wanted: "m-cpu"}).engine, "transformers-webgpu");
assert.match(w.chooseEngine(models.slice(2), plain, {}).reason, /m has no WebLLM build here/);
c = w.chooseEngine(models.slice(0, 2), none, {});
assert.equal(c.engine, null); assert.match(c.reason, /no CPU build/);
// chooseBuild (WebLLM builds) ignores ONNX builds.
assert.equal(w.chooseBuild(models, plain, "m").build.id, "m-q4f32_1");
assert.deepEqual(w.buildProblems(models[2], none), []);

// The schema constraint: compact JSON, keys in order, every prefix checked.
const schema = {type: "object", properties: {name: {type: "string"}, ok: {type: "boolean"},
  n: {type: "number"}, dept: {type: "string", enum: ["", "sales"]}}};
const k = new w.JsonSchemaConstraint(schema, {copy: {text: "Regards, Ann Lee", fields: ["name"]}});
for (const piece of ['{"name":"', 'Ann', ' Lee', '","ok":', 'false', ',"n":', '-1.5', ',"dept":"', 'sales', '"}']) {
  assert.ok(k.allows(piece), piece); k.accept(piece);
}
assert.ok(k.done);
assert.deepEqual(JSON.parse('{"name":"Ann Lee","ok":false,"n":-1.5,"dept":"sales"}'), {name: "Ann Lee", ok: false, n: -1.5, dept: "sales"});
const fresh = () => new w.JsonSchemaConstraint(schema, {copy: {text: "Regards, Ann Lee", fields: ["name"]}});
assert.equal(fresh().allows('{"nme'), false);              // keys are fixed
assert.equal(fresh().allows('{"name":"Bob'), false);       // not in the text
assert.equal(fresh().allows('{"name":"","ok":maybe'), false);
assert.equal(fresh().allows('{"name":"","ok":true,"n":1,"dept":"x'), false);  // not a choice
assert.equal(fresh().allows(''), false);
// Masking: only allowed tokens keep their score; after "}" only end-of-sequence.
const pieces = ['{"name":"', "Ann", "Bob", "", '"}'];
const scores = new Float32Array([1, 2, 3, 4, 5]);
w.maskScores(fresh(), scores, pieces, new Set([3]));
assert.deepEqual([...scores], [1, -Infinity, -Infinity, -Infinity, -Infinity]);
const empty = new w.JsonSchemaConstraint({type: "object", properties: {}});
empty.accept("{}");
const tail = new Float32Array([1, 2, 3]);
w.maskScores(empty, tail, ["a", "b", ""], new Set([2]));
assert.deepEqual([...tail], [-Infinity, -Infinity, 3]);
console.log("ok");
"""


def test_engine_choice_and_schema_constraint_under_node(tmp_path):
    run_node_checks(tmp_path, NODE_CHECKS)
