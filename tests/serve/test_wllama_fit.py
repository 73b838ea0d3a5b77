"""The page's wllama fit decision (engines.js wllamaFitProblem / chooseEngine), under Node,
with the real Phi-3.5-mini's numbers as its CPU build records them (the estimate of
webslm/artifacts/wllama_memory.py on the released config): its Q4_0 GGUF runs where the
device has the memory; a Q8_0 one (3.8 GiB of weights) is refused before any download,
over wllama's 4 GiB, and so is the Q4_0 on a device reporting 2 GB, each with why."""

from __future__ import annotations

import json

from serve_helpers import run_node_checks

from webslm.arch import published_config
from webslm.artifacts.wllama_memory import gguf_weight_bytes, heap_bytes, wllama_plan


def _entry(config: dict, qtype: str, context: int) -> dict:
    size = gguf_weight_bytes(config, qtype)
    return {"file": f"gguf/model.{qtype}.gguf", "files": [f"gguf/model.{qtype}.gguf"],
            "bytes": size, "context": context, "wasm_bytes": heap_bytes(config, size, context)}


def test_phi_3_5_mini_fits_wllama_as_q4_0_only(tmp_path):
    config = published_config("phi-3.5-mini")
    qtype, context, _ = wllama_plan(config, 4096, 1024)
    assert qtype == "Q4_0"
    build = {"id": "phi-3.5-mini-cpu", "family": "phi-3.5-mini", "engine": "transformers.js",
             "quantization": "onnx", "dtypes": [], "f16_dtypes": [], "context_window": 4096,
             "wasm_refused": {"q4": "ONNX q4 needs about 5.9 GiB of WASM memory"},
             "files": {}, "gguf": {"Q4_0": _entry(config, "Q4_0", context)}}
    q8 = {**build, "gguf": {"Q8_0": _entry(config, "Q8_0", 4096)}}
    run_node_checks(tmp_path, f"""
import assert from "node:assert/strict";
const w = await import("./webslm.js");
const build = {json.dumps(build)}, q8 = {json.dumps(q8)};
const none = {{ok: false, adapter: false, reason: "This browser has no WebGPU", features: [], limits: {{}}, shaderF16: false}};
const pick = (m, deviceMemory) => w.chooseEngine([m], none, {{isolated: true, cores: 4, wllama: true, deviceMemory}});
assert.equal(w.WLLAMA_MEMORY_BYTES, 4 * 2 ** 30);
let c = pick(build, 8);
assert.equal(c.engine, "wllama"); assert.equal(c.dtype, "Q4_0"); assert.equal(w.contextOf(c), {context});
assert.equal(pick(build, undefined).engine, "wllama");  // a browser that does not say
c = pick(build, 2);
assert.equal(c.engine, null);
assert.match(c.reason, /phi-3\\.5-mini-cpu's Q4_0 GGUF needs about \\d\\.\\d GiB of memory at {context} tokens, and this device reports 2 GB/);
assert.match(c.reason, /has no CPU model \\(ONNX q4 needs about 5\\.9 GiB/);
c = pick(q8, 16);
assert.equal(c.engine, null);
assert.match(c.reason, /Q8_0 GGUF needs about 5\\.\\d GiB of memory at 4096 tokens, over the 4 GiB wllama's WASM memory can grow to/);
assert.equal(w.wllamaFitProblem(q8, "Q4_0"), "");  // no such GGUF: nothing recorded to judge
console.log("ok");
""")
