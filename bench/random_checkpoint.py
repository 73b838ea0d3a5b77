"""Write a random-weight Hugging Face checkpoint with a real model's exact config.

Sizes and build costs at full scale can then be measured without hub access. Tensors are
generated and written one shard at a time (bf16), so writing never holds the model.

    .venv/bin/python bench/random_checkpoint.py phi-3.5-mini --out /tmp/phi --tokenizer-dir DIR
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from model_configs import CONFIGS, GENERATION_CONFIGS
from tokenizer_dirs import copy_tokenizer


def hf_tensor_shapes(cfg: dict) -> dict[str, tuple[int, ...]]:
    """Every tensor a checkpoint of this config stores, as transformers itself names and shapes
    them (its model built on the meta device: no memory, no per-architecture code here)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    fields = {k: v for k, v in cfg.items() if k not in ("model_type", "architectures")}
    config = AutoConfig.for_model(cfg["model_type"], architectures=cfg.get("architectures"),
                                  **fields)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    if config.tie_word_embeddings:  # the config's own default where config.json is silent (Gemma)
        shapes.pop("lm_head.weight", None)
    return shapes


def checkpoint_shards(cfg: dict) -> list[dict[str, tuple[int, ...]]]:
    """Every tensor of the checkpoint: embeddings (and an untied lm_head), then one shard per layer."""
    shards: list[dict[str, tuple[int, ...]]] = [{} for _ in range(cfg["num_hidden_layers"] + 1)]
    for name, shape in hf_tensor_shapes(cfg).items():
        layer = name.split(".")[2] if name.startswith("model.layers.") else None
        shards[0 if layer is None else int(layer) + 1][name] = shape
    return shards


def _random(name: str, shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    if len(shape) == 1 and not name.endswith(".bias"):
        return torch.ones(shape, dtype=torch.bfloat16)  # norm weights
    return (torch.randn(shape, generator=gen) * 0.02).to(torch.bfloat16)


def write_checkpoint(name: str, out: Path, tokenizer_dir: Path) -> Path:
    cfg = CONFIGS[name]
    out.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(0)
    shards = checkpoint_shards(cfg)
    index = {}
    for n, shapes in enumerate(shards):
        file = f"model-{n + 1:05d}-of-{len(shards):05d}.safetensors"
        save_file({k: _random(k, s, gen) for k, s in shapes.items()}, str(out / file),
                  metadata={"format": "pt"})
        index.update({k: file for k in shapes})
    (out / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": index}))
    (out / "config.json").write_text(json.dumps(cfg, indent=2))
    (out / "generation_config.json").write_text(json.dumps(GENERATION_CONFIGS[name]))
    copy_tokenizer(tokenizer_dir, out)
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("model", choices=sorted(CONFIGS))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--tokenizer-dir", type=Path, required=True)
    a = ap.parse_args()
    print(write_checkpoint(a.model, a.out, a.tokenizer_dir))
