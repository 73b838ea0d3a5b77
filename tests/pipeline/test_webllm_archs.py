"""Every architecture with a tiny test model (Qwen2, Phi-3, ...; Llama is the real SmolLM2
elsewhere) in the unmodified WebLLM engine: a tiny random-weight q4f32 build of each, made by `webslm build` from an HF folder with a real tokenizer, gives in headless Chromium
(SwiftShader WebGPU) the same greedy token ids as the CPU build of the same artifact.

The tiny Phi-3 has LongRoPE with a 16-token original context, so the browser run crosses
from the short to the long factors while it decodes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from webslm.artifacts.tensor_cache_reader import read_tensor_cache
from webslm.cli import main
from webslm.compile.arch import find_architecture
from webslm.compile.compiler import BuildShape, compile_model
from webslm.compile.pipeline import cpu_target
from webslm.quantize.schemes import get_scheme
from webslm.verify.cpu_model import CpuModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "compile"))
from tiny_sources import TINY, save_source  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.browser]
SHAPE = BuildShape(256, 32)
PROMPT = "The lighthouse keeper climbed the spiral stairs at dusk, counting every step."
CASES = {name: arch.model_type for name, arch in TINY.items()}  # models.yaml name -> model_type


@pytest.mark.parametrize("name", sorted(CASES))
def test_tiny_build_in_webllm_matches_the_cpu(name, tmp_path):
    from harness import run_webllm
    from tokenizers import Tokenizer

    model_type = CASES[name]
    source, _ = save_source(name, tmp_path)
    dist = tmp_path / "dist"
    assert main(["build", name, "--q4f32", "--backend", "webgpu", "--source", str(source),
                 "--out", str(dist),
                 "--context-window", str(SHAPE.context_window),
                 "--prefill-chunk", str(SHAPE.prefill_chunk)]) == 0
    model_id = f"{name}-q4f32_1"
    artifact = dist / model_id
    chat = json.loads((artifact / "mlc-chat-config.json").read_text())
    assert (chat["model_type"], chat["sliding_window_size"]) == (model_type, -1)

    prompt_ids = Tokenizer.from_file(str(artifact / "tokenizer.json")).encode(PROMPT).ids[:12]
    result = run_webllm(artifact, artifact / f"{model_id}-webgpu.wasm", model_id, prompt=None,
                        token_ids_prompt=prompt_ids, n_tokens=16, timeout=900)
    assert result["error"] is None, "\n".join(result["log"][-30:])

    hf = json.loads((source / "config.json").read_text())
    compiled = compile_model(find_architecture(hf), hf, get_scheme("q4f32_1"), cpu_target(), SHAPE)
    cpu_ids = CpuModel(compiled, read_tensor_cache(artifact)).greedy(prompt_ids, 16)
    assert result["token_ids"][:16] == cpu_ids
