"""A weight above the GPU's maxStorageBufferBindingSize: refused before any download.

WebLLM gives each weight a GPU buffer of its own and binds it whole. On an adapter that allows
less (WebGPU's default 128 MiB: lavapipe, many phones), every dispatch reading it fails
validation, and WebLLM still "answers", with garbage: Qwen3-1.7B's q4 embedding (155.6 MB) did
exactly that on the dawn rig. The build records its largest tensor; the page's GPU check
(web/static/gpu.js) compares it with the real adapter's limit, here the dawn rig's.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from webslm.arch import find_architecture, published_config
from webslm.bench import dawn
from webslm.compile.compiler import export_module
from webslm.compile.lowering import webgpu_target
from webslm.compile.spec import BuildShape
from webslm.quantize.schemes import get_scheme

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHECK = r"""
import assert from "node:assert/strict";
import { pathToFileURL } from "node:url";
const [modules, webslm, buildsJson] = process.argv.slice(2);
const { create, globals } = await import(pathToFileURL(`${modules}/webgpu/index.js`).href);
Object.assign(globalThis, globals);
const w = await import(pathToFileURL(webslm).href);
const gpu = await w.probeGPU(create([]));
const builds = JSON.parse(buildsJson);
const out = {limit: gpu.limits.maxStorageBufferBindingSize, shaderF16: gpu.shaderF16, problems: {}};
for (const b of builds) out.problems[b.id] = w.buildProblems({...b, engine: "webllm"}, gpu);
const choice = w.chooseBuild(builds.map((b) => ({...b, engine: "webllm", family: b.id})), gpu, builds.at(-1).id);
out.choice = {build: choice.build && choice.build.id, reason: choice.reason};
console.log(JSON.stringify(out));
process.exit(0);
"""


def largest_weight_bytes(name: str, quantization: str) -> int:
    """The largest parameter of a published model's build, from its exported params alone."""
    config = published_config(name)
    _, params, _ = export_module(find_architecture(config), config, get_scheme(quantization),
                                 webgpu_target(), BuildShape(4096, 1024))
    return max(math.prod(p.shape) * np.dtype(p.dtype).itemsize for p in params)


def test_the_page_refuses_a_weight_above_the_rigs_binding_limit(tmp_path):
    """Llama 3.2 1B's q4 embedding (125.2 MiB) fits whole; Qwen3-1.7B's (148.4 MiB) is now
    stored in row blocks under the limit (compile/layers.py, table_row_blocks). A build from
    before the blocks recorded the whole table, and the page must still refuse that one."""
    modules = dawn.node_modules()
    builds = [{"id": f"{name}-q4f16_1", "quantization": "q4f16_1",
               "required_features": ["shader-f16"],
               "largest_tensor_bytes": largest_weight_bytes(name, "q4f16_1")}
              for name in ("llama-3.2-1b", "qwen3-1.7b")]
    assert [b["largest_tensor_bytes"] for b in builds] == [128256 * 2048 // 2, 151936 * 2048 // 4]
    builds[1]["largest_tensor_bytes"] = 151936 * 2048 // 2  # its whole table, as recorded before
    script = tmp_path / "check.mjs"
    script.write_text(CHECK)
    run = dawn.run_node(script, [str(modules), str(modules.parent / "webslm.js"), json.dumps(builds)],
                        timeout_s=120)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["limit"] == 128 * 2**20 and out["shaderF16"]
    assert out["problems"]["llama-3.2-1b-q4f16_1"] == []  # 125.2 MiB: just fits
    (problem,) = out["problems"]["qwen3-1.7b-q4f16_1"]
    assert "148.4 MiB" in problem and "128.0 MiB (maxStorageBufferBindingSize)" in problem
    assert out["choice"]["build"] is None and "148.4 MiB" in out["choice"]["reason"]
