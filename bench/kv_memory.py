"""KV cache memory at long context: every layer holding the whole context (one TVM paged
cache, as the CPU twin and webslm's builds before 2026-12-07), what webslm's WebGPU build holds
(its windowed KV cache: a sliding layer keeps its window and one prefill chunk, in whole
pages), and the floor (a sliding layer keeps exactly its window).

Computed from each released config with the registry's prefill chunk (`--prefill-chunk`):

    .venv/bin/python bench/kv_memory.py gemma-3-270m-it gemma-3-1b-it llama-3.2-1b
"""

from __future__ import annotations

import argparse

from model_configs import CONFIGS

from webslm.arch import find_architecture
from webslm.source.config import normalize_config

CONTEXTS = (4096, 8192, 32768)
MIB = 2**20


def per_layer_tokens(cfg, context: int) -> list[int]:
    """Positions each layer must keep at `context`: all of them, or a sliding layer's window."""
    window = getattr(cfg, "sliding_window", None)
    kinds = getattr(cfg, "layer_types", ()) or ("full_attention",) * cfg.num_hidden_layers
    return [min(context, window) if kind == "sliding_attention" else context for kind in kinds]


def kv_bytes(cfg, tokens: list[int], dtype_bytes: int) -> int:
    """K and V, every KV head, per layer's kept positions."""
    return sum(2 * cfg.num_key_value_heads * cfg.head_dim * t * dtype_bytes for t in tokens)


def rows(name: str, dtype_bytes: int, prefill_chunk: int) -> list[str]:
    hf = normalize_config(dict(CONFIGS[name]))
    cfg = find_architecture(hf).config_from_hf(hf)
    out = []
    for context in CONTEXTS:
        every = kv_bytes(cfg, [context] * cfg.num_hidden_layers, dtype_bytes)
        build = kv_bytes(cfg, cfg.kv_positions(context, prefill_chunk), dtype_bytes)
        floor = kv_bytes(cfg, per_layer_tokens(cfg, context), dtype_bytes)
        out.append(f"| {name} | {context} | {every / MIB:.1f} | {build / MIB:.1f} | "
                   f"{every / build:.1f}x | {floor / MIB:.1f} |")
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", choices=sorted(CONFIGS))
    ap.add_argument("--dtype-bytes", type=int, default=2, help="2 for f16 builds, 4 for f32")
    ap.add_argument("--prefill-chunk", type=int, default=512,
                    help="the build's prefill chunk (models.yaml gives Gemma 3 512)")
    a = ap.parse_args()
    print("| model | context | every layer whole context, MiB | webslm WebGPU build, MiB | "
          "saved | window only (floor), MiB |")
    print("|---|---|---|---|---|---|")
    for model in a.models:
        print("\n".join(rows(model, a.dtype_bytes, a.prefill_chunk)))
