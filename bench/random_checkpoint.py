"""Write a random-weight Hugging Face checkpoint with a real model's exact config.

Sizes and build costs at full scale can then be measured without hub access. Tensors are
generated and written one shard at a time (bf16), so writing never holds the model.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from safetensors.torch import save_file

LLAMA_3_2_1B = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 2048,
    "intermediate_size": 8192, "num_hidden_layers": 16, "num_attention_heads": 32,
    "num_key_value_heads": 8, "head_dim": 64, "vocab_size": 128256, "rms_norm_eps": 1e-5,
    "rope_theta": 500000.0, "tie_word_embeddings": True, "max_position_embeddings": 131072,
    "rope_scaling": {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                     "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
    "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "torch_dtype": "bfloat16",
}
CONFIGS = {"llama-3.2-1b": LLAMA_3_2_1B}


def llama_tensors(cfg: dict, layer: int) -> dict[str, tuple[int, ...]]:
    h, i = cfg["hidden_size"], cfg["intermediate_size"]
    d = cfg.get("head_dim") or h // cfg["num_attention_heads"]
    q, kv = cfg["num_attention_heads"] * d, cfg["num_key_value_heads"] * d
    p = f"model.layers.{layer}."
    return {p + "input_layernorm.weight": (h,), p + "post_attention_layernorm.weight": (h,),
            p + "self_attn.q_proj.weight": (q, h), p + "self_attn.k_proj.weight": (kv, h),
            p + "self_attn.v_proj.weight": (kv, h), p + "self_attn.o_proj.weight": (h, q),
            p + "mlp.gate_proj.weight": (i, h), p + "mlp.up_proj.weight": (i, h),
            p + "mlp.down_proj.weight": (h, i)}


def _random(shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    if len(shape) == 1:
        return torch.ones(shape, dtype=torch.bfloat16)
    return (torch.randn(shape, generator=gen) * 0.02).to(torch.bfloat16)


def write_checkpoint(name: str, out: Path, tokenizer_dir: Path) -> Path:
    cfg = CONFIGS[name]
    out.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(0)
    shards = [{"model.embed_tokens.weight": (cfg["vocab_size"], cfg["hidden_size"]),
               "model.norm.weight": (cfg["hidden_size"],)}]
    shards += [llama_tensors(cfg, layer) for layer in range(cfg["num_hidden_layers"])]
    index = {}
    for n, shapes in enumerate(shards):
        file = f"model-{n + 1:05d}-of-{len(shards):05d}.safetensors"
        save_file({k: _random(s, gen) for k, s in shapes.items()}, str(out / file),
                  metadata={"format": "pt"})
        index.update({k: file for k in shapes})
    (out / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": index}))
    (out / "config.json").write_text(json.dumps(cfg, indent=2))
    (out / "generation_config.json").write_text(json.dumps(
        {"bos_token_id": cfg["bos_token_id"], "eos_token_id": cfg["eos_token_id"],
         "temperature": 0.6, "top_p": 0.9}))
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
