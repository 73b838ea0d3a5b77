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


def layer_tensors(cfg: dict, layer: int) -> dict[str, tuple[int, ...]]:
    """HF tensor names and shapes of one decoder layer, as each architecture stores them."""
    h, i = cfg["hidden_size"], cfg["intermediate_size"]
    d = cfg.get("head_dim") or h // cfg["num_attention_heads"]
    q, kv = cfg["num_attention_heads"] * d, cfg["num_key_value_heads"] * d
    p = f"model.layers.{layer}."
    out = {p + "input_layernorm.weight": (h,), p + "post_attention_layernorm.weight": (h,),
           p + "self_attn.o_proj.weight": (h, q), p + "mlp.down_proj.weight": (h, i)}
    if cfg["model_type"] == "phi3":  # fused in the checkpoint itself
        out.update({p + "self_attn.qkv_proj.weight": (q + 2 * kv, h),
                    p + "mlp.gate_up_proj.weight": (2 * i, h)})
        return out
    out.update({p + "self_attn.q_proj.weight": (q, h), p + "self_attn.k_proj.weight": (kv, h),
                p + "self_attn.v_proj.weight": (kv, h), p + "mlp.gate_proj.weight": (i, h),
                p + "mlp.up_proj.weight": (i, h)})
    if cfg["model_type"] == "qwen2":
        out.update({p + "self_attn.q_proj.bias": (q,), p + "self_attn.k_proj.bias": (kv,),
                    p + "self_attn.v_proj.bias": (kv,)})
    return out


def checkpoint_shards(cfg: dict) -> list[dict[str, tuple[int, ...]]]:
    """Every tensor of the checkpoint: embeddings (and an untied lm_head), then one shard per layer."""
    top = {"model.embed_tokens.weight": (cfg["vocab_size"], cfg["hidden_size"]),
           "model.norm.weight": (cfg["hidden_size"],)}
    if not cfg.get("tie_word_embeddings", False):
        top["lm_head.weight"] = (cfg["vocab_size"], cfg["hidden_size"])
    return [top] + [layer_tensors(cfg, layer) for layer in range(cfg["num_hidden_layers"])]


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
    for f in ("tokenizer.json", "tokenizer_config.json"):
        (out / f).write_bytes((tokenizer_dir / f).read_bytes())
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("model", choices=sorted(CONFIGS))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--tokenizer-dir", type=Path, required=True)
    a = ap.parse_args()
    print(write_checkpoint(a.model, a.out, a.tokenizer_dir))
