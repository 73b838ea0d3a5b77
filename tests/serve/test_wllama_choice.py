"""The wllama engine (llama.cpp in WASM) in webslm.js's engine choice and its GBNF schema
grammar, under Node (no browser). The CPU engines come in the order measured per task
(web/static/cpu-engine-order.js); on an order file that puts wllama first for chat and
transformers.js first for forms: an ONNX build with a GGUF goes to wllama for chat and to
transformers.js on WASM for a form, a build without one (or a browser without JSPI/Memory64)
passes wllama over with a reason, a forced ONNX dtype means transformers.js, a software WebGPU
counts the GGUF as a CPU model, and the grammar copies spans of whole words of the text. On
the shipped order file: each task's choice is that file's first engine."""

from __future__ import annotations

import json

from serve_helpers import cpu_engine_order, run_node_checks

# An order file as bench/task_engines.py --write-order writes one (numbers left out).
ORDER = {"order": {"chat": ["wllama", "transformers-wasm"], "form": ["transformers-wasm", "wllama"]}, "measured": {}}
ORDER_FILE = f"export const CPU_ENGINE_ORDER = {json.dumps(ORDER)};\n"

NODE_MODELS = r"""
const gguf = {Q8_0: {file: "gguf/model.Q8_0.gguf", files: ["gguf/model.Q8_0.gguf"], bytes: 145, context: 2048}};
const onnx = {id: "m-cpu", family: "m", quantization: "onnx", engine: "transformers.js", dtypes: ["q8", "q4"], f16_dtypes: [],
  size_bytes: 500, context_window: 8192, gguf,
  files: {"config.json": {bytes: 1, sha256: "a"}, "onnx/model_quantized.onnx": {bytes: 2, sha256: "b"},
          "onnx/model_q4.onnx": {bytes: 3, sha256: "c"}, "gguf/model.Q8_0.gguf": {bytes: 145, sha256: "d"}},
  dtype_files: {q8: ["onnx/model_quantized.onnx"], q4: ["onnx/model_q4.onnx"]}};
const webllm = {id: "m-q4f32_1", quantization: "q4f32_1", required_features: [], size_bytes: 90, engine: "webllm"};
const models = [webllm, onnx].map((m) => ({...m, family: w.familyOf(m)}));
const limits = {...w.REQUIRED_LIMITS};
const plain = {ok: true, adapter: true, features: [], limits, shaderF16: false};
const none = {ok: false, adapter: false, reason: "This browser has no WebGPU", features: [], limits: {}, shaderF16: false};
const software = {...plain, software: true, info: {vendor: "google", architecture: "swiftshader"}};
const pick = (ms, gpu, opts = {}) => w.chooseEngine(ms, gpu, {isolated: true, cores: 2, wllama: true, ...opts});
"""

NODE_CHECKS = r"""
import assert from "node:assert/strict";
const w = await import("./webslm.js");
const g = await import("./static/json-grammar.js");
const values = await import("./static/json-values.js");
const cache = await import("./static/build-cache.js");

""" + NODE_MODELS + r"""

assert.deepEqual(w.ENGINE_ORDER, ["webllm", "transformers-webgpu", "wllama", "transformers-wasm"]);
assert.deepEqual(w.engineOrder("form"), ["webllm", "transformers-webgpu", "transformers-wasm", "wllama"]);
assert.deepEqual(w.TASKS, ["chat", "form"]);
// A form: transformers.js on WASM first (this order file's), wllama where it is forced;
// WebGPU still before both; an unknown task is refused with the known ones.
assert.equal(pick(models, none, {task: "form"}).engine, "transformers-wasm");
assert.equal(pick(models, none, {task: "form", engine: "wllama"}).engine, "wllama");
assert.equal(pick(models, plain, {task: "form"}).engine, "webllm");
assert.match(pick(models, none, {task: "poems"}).reason, /Unknown task "poems": use one of chat, form/);
assert.equal(w.ENGINES.wllama, "llama.cpp (wllama) on WASM (CPU)");
// No WebGPU: wllama with the GGUF's own context, threads as for transformers.js.
let c = pick(models, none);
assert.equal(c.engine, "wllama"); assert.equal(c.dtype, "Q8_0"); assert.equal(c.device, "wasm"); assert.equal(c.threads, 2);
assert.deepEqual(c.gguf, gguf.Q8_0);
assert.match(c.reason, /m-cpu \(Q8_0 GGUF\) with llama\.cpp \(wllama\) on the CPU \(WASM, 2 threads\)/);
assert.equal(w.contextOf(c), 2048);
assert.equal(w.runsOnCpu(c, none), true);
assert.equal(w.engineLabel(c, none), "Engine: llama.cpp (wllama) on WASM (CPU) (Q8_0)");
assert.equal(w.describeDownload(c.build, c.dtype), w.formatBytes(145));
// WebGPU still comes first; a software adapter counts the GGUF as a CPU model.
assert.equal(pick(models, plain).engine, "webllm");
c = pick(models, software);
assert.equal(c.engine, "wllama"); assert.match(c.reason, /runs on the CPU \(swiftshader\)/);
const ggufOnly = models.map((m) => m.engine === "transformers.js" ? {...m, dtypes: ["q4f16"], f16_dtypes: ["q4f16"]} : m);
assert.equal(pick(ggufOnly, software).engine, "wllama");
c = pick(ggufOnly, none, {task: "form"});  // a form: transformers.js cannot run it, wllama can
assert.equal(c.engine, "wllama"); assert.match(c.reason, /transformers\.js on WASM \(CPU\): m-cpu has only f16 models/);
// Without a GGUF, or where wllama cannot run, it is passed over with a reason.
const noGguf = models.map((m) => m.engine === "transformers.js" ? {...m, gguf: {}} : m);
c = pick(noGguf, none);
assert.equal(c.engine, "transformers-wasm"); assert.match(c.reason, /wllama\) on WASM \(CPU\): m-cpu has no GGUF/);
c = pick(models, none, {wllama: false});
assert.equal(c.engine, "transformers-wasm"); assert.match(c.reason, /lacks WebAssembly JSPI or Memory64/);
// ?engine= forces either CPU engine; a forced ONNX dtype means transformers.js, Q8_0 wllama.
assert.equal(pick(models, none, {engine: "transformers-wasm"}).engine, "transformers-wasm");
assert.equal(pick(models, plain, {engine: "wllama"}).engine, "wllama");
c = pick(models, none, {dtype: "q4"});
assert.equal(c.engine, "transformers-wasm"); assert.equal(c.dtype, "q4"); assert.match(c.reason, /\?dtype=q4 is not one of/);
assert.equal(pick(models, none, {dtype: "Q8_0"}).engine, "wllama");
c = pick(noGguf, none, {engine: "wllama"});
assert.equal(c.engine, null); assert.match(c.reason, /has no GGUF/);
assert.equal(w.engineFromUrl("https://x/?engine=wllama"), "wllama");
assert.equal(typeof w.wllamaRuns(), "boolean");
assert.equal(w.wllamaRuns({}), false);
// Cached files: the GGUF is wllama's alone; ONNX dtypes never load it.
assert.deepEqual(cache.dtypeFiles(onnx, "Q8_0"), ["gguf/model.Q8_0.gguf"]);
assert.deepEqual(cache.dtypeFiles(onnx, "q8"), ["config.json", "onnx/model_quantized.onnx"]);

// The grammar: keys in order, enums, booleans, numbers, free strings, copied spans.
const schema = {type: "object", properties: {name: {type: "string"}, kind: {type: "string", enum: ["a", "b"]},
  ok: {type: "boolean"}, n: {type: "integer"}, note: {type: "string", maxLength: 20}}};
const text = 'Call "John" Smith\n(415) 555-0100';
const grammar = g.schemaGrammar(schema, {copy: {text, fields: ["name"]}});
assert.match(grammar, /^root ::= "\{" "\\"name\\":" "\\"" copy "\\"" ",\\"kind\\":" \("\\"a\\"" \| "\\"b\\""\) ",\\"ok\\":" \("true" \| "false"\) ",\\"n\\":" integer ",\\"note\\":" "\\"" char\{0,20\} "\\"" "\}"$/m);
assert.deepEqual(values.wordsOf(text).words, ["Call", '"', "John", '"', "Smith", "(", "415", ")", "555-0100"]);
assert.match(grammar, /^copy ::= \(copy-0 \| copy-1 .* \| copy-8\)\?$/m);
assert.match(grammar, /^copy-1 ::= "\\\\\\"" \(copy-2\)\?$/m);     // a quote, JSON-escaped, then no space
assert.match(grammar, /^copy-4 ::= "Smith" \("\\\\n" copy-5\)\?$/m); // the newline as JSON writes it
assert.match(grammar, /^copy-8 ::= "555-0100"$/m);
assert.equal(g.gbnfLiteral('a"b\\c\u0001'), '"a\\"b\\\\c\\x01"');
assert.match(g.schemaGrammar({type: "object", properties: {x: {type: "string"}}}, {copy: {text: "  ", fields: ["x"]}}), /^copy ::= ""$/m);
console.log("ok");
"""


def test_wllama_choice_and_grammar_under_node(tmp_path):
    run_node_checks(tmp_path, NODE_CHECKS, {"static/cpu-engine-order.js": ORDER_FILE})


def test_each_task_takes_the_shipped_order_files_first_cpu_engine(tmp_path):
    """The shipped order is a measurement: both engines for each task, with the numbers and
    the command behind it; a build both CPU engines can run goes to the task's first."""
    data = cpu_engine_order()
    assert set(data["order"]) == {"chat", "form"}
    assert all(sorted(o) == ["transformers-wasm", "wllama"] for o in data["order"].values()), data["order"]
    measured = data["measured"]
    assert measured["date"] and measured["machine"] and "task_engines.py" in measured["command"]
    for model in measured["models"].values():
        assert set(model["form"]) == {"wllama", "transformers-wasm"}
        assert all(r["same_work_s"] > 0 and 0 <= r["fields_right"] <= 7 for r in model["form"].values()), model
    run_node_checks(tmp_path, r"""
import assert from "node:assert/strict";
const w = await import("./webslm.js");
const { CPU_ENGINE_ORDER } = await import("./static/cpu-engine-order.js");
""" + NODE_MODELS + r"""
for (const task of ["chat", "form"]) {
  const first = CPU_ENGINE_ORDER.order[task][0];
  assert.deepEqual(w.engineOrder(task).slice(2), CPU_ENGINE_ORDER.order[task]);
  assert.equal(pick(models, none, {task}).engine, first, task);
  assert.equal(pick(models, software, {task}).engine, first, task);  // a software WebGPU too
}
assert.equal(pick(models, none).engine, CPU_ENGINE_ORDER.order.chat[0]);  // chat by default
console.log("ok");
""")
