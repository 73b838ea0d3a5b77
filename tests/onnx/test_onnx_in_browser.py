"""Tiny Qwen2 and Phi-3 ONNX builds in transformers.js on WASM (headless Chromium, WebGPU
off), through webslm.js: the same greedy ids as onnxruntime in Python on the same file (q4,
whose matmuls compute in fp32; q8's int8 kernels differ between WASM SIMD and x86)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from tokenizers import Tokenizer

from tiny_sources import ONNX_TINY
from webslm.artifacts.manifest import read_manifest
from webslm.onnx.runner import OnnxLM

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serve"))
from browser_helpers import attach_log, chromium, webslm_serve  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.browser]
PROMPT = "The lighthouse keeper climbed the spiral stairs at dusk, counting every step."
STEPS = 16


@pytest.mark.parametrize("name", ONNX_TINY)
def test_wasm_greedy_ids_match_onnxruntime(name, tiny_builds):
    artifact, _ = tiny_builds[name]
    ids = Tokenizer.from_file(str(artifact / "tokenizer.json")).encode(PROMPT).ids
    expected = OnnxLM(artifact / "onnx" / "model_q4.onnx").greedy(ids, STEPS)
    log: list[str] = []
    with webslm_serve(artifact.parent) as url, chromium(webgpu=False) as ctx:
        page = ctx.new_page()
        attach_log(page, log)
        page.goto(url)
        got = page.evaluate("""async ([model, ids, steps]) => {
            const webslm = await import('./webslm.js');
            const { createChat } = webslm;
            const chat = await createChat({ model, engine: 'transformers-wasm', dtype: 'q4' });
            const out = await chat.greedyIds(ids, steps);
            const info = { engine: chat.engine, dtype: chat.choice.dtype, device: chat.info.device };
            const context = webslm.contextOf(chat.choice);
            const tooLong = await chat.greedyIds(new Array(context).fill(ids[0]), 1)
                .then(() => "answered", (err) => err.message);
            await chat.unload();
            return { ids: out.ids, info, context, tooLong };
        }""", [artifact.name, ids, STEPS])
    assert got["info"] == {"engine": "transformers-wasm", "dtype": "q4", "device": "wasm"}, log[-20:]
    assert got["ids"] == expected, log[-20:]
    # a prompt the model's context (here its WASM memory's) cannot hold is refused, not run
    manifest = read_manifest(artifact)
    assert got["context"] == manifest["build"]["wasm_context"]["q4"]
    assert f"this model holds {got['context']} here" in got["tooLong"]
