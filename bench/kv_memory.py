"""KV cache memory at long context: what a build stores, and what it would if the sliding
layers kept only their window.

TVM's paged KV cache keeps one page table for every layer, so Gemma 3's sliding layers store
the whole context although their attention reads only the last `sliding_window` positions
(docs/ARCHITECTURE.md, "Gemma 3"). This prints, from each released config, the bytes at a
range of contexts both ways: the price of that design, and what a per-layer window saves.

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


def rows(name: str, dtype_bytes: int) -> list[str]:
    hf = normalize_config(dict(CONFIGS[name]))
    cfg = find_architecture(hf).config_from_hf(hf)
    out = []
    for context in CONTEXTS:
        stored = kv_bytes(cfg, [context] * cfg.num_hidden_layers, dtype_bytes)
        windowed = kv_bytes(cfg, per_layer_tokens(cfg, context), dtype_bytes)
        out.append(f"| {name} | {context} | {stored / MIB:.1f} | {windowed / MIB:.1f} | "
                   f"{stored / windowed:.1f}x |")
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", choices=sorted(CONFIGS))
    ap.add_argument("--dtype-bytes", type=int, default=2, help="2 for f16 builds, 4 for f32")
    a = ap.parse_args()
    print("| model | context | stored MiB (every layer, whole context) | "
          "windowed MiB (sliding layers keep their window) | ratio |")
    print("|---|---|---|---|---|")
    for model in a.models:
        print("\n".join(rows(model, a.dtype_bytes)))
