"""Tiny random-weight checkpoints of every registered architecture that declares one
(`Architecture.tiny`, in its folder's checkpoints.py), with their real tokenizers, saved as HF
folders: what `webslm build --source DIR` reads. Shared by the parity, WebLLM and ONNX tests."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
from parity_utils import tiny_model  # noqa: E402
from tokenizer_dirs import copy_tokenizer, npm_tokenizer  # noqa: E402

from webslm.arch import Architecture, architectures  # noqa: E402

# models.yaml name -> architecture; `webslm build NAME --source DIR` takes the chat format
# from the entry.
TINY: dict[str, Architecture] = {a.tiny.model: a for a in architectures() if a.tiny}


def transformers_classes(arch: Architecture):
    """The transformers model and config classes of an architecture."""
    import transformers

    model_cls = getattr(transformers, arch.hf_architectures[0])
    return model_cls, model_cls.config_class


def tiny_transformers(arch: Architecture, **overrides):
    """The architecture's tiny model in transformers (random weights, deterministic)."""
    return tiny_model(*transformers_classes(arch), **{**arch.tiny.config, **overrides})


def save_source(name: str, tmp: Path):
    """Save the tiny `name` model with its tokenizer; returns (folder, transformers model)."""
    arch = TINY[name]
    model = tiny_transformers(arch)
    source = tmp / f"{name}-source"
    model.save_pretrained(source)
    copy_tokenizer(npm_tokenizer(arch.tiny.tokenizer, tmp), source)
    return source, model
# the ones onnxruntime-genai's builder exports (the ONNX tests build these). Gemma 3's tiny
# model is left out for the suite's 40-minute budget: its 262,208-token vocabulary makes it
# the costliest tiny export; Gemma's ONNX is checked on its real weights instead
# (bench/build_perplexity.py, docs/BENCHMARKS.md).
ONNX_TINY = sorted(name for name, arch in TINY.items()
                   if arch.onnx_refusal is None and name != "gemma-3-270m")
