"""Dispatches per decoded token and the bytes floor of a build, from its manifest alone (no
browser): for f16 builds, which SwiftShader cannot run (no shader-f16). Counts come from the
build's `kernel_calls` (embed + decode + the sampler), plus the KV cache's own kernels per
attention call as `webslm bench --profile` measured them on an f32 build (3 in WebLLM
0.2.86: rotary, append, attention). The modeled speed uses the floor (weights + KV cache) as
the bytes, so it is an upper bound next to the profile's. `--published NAME --quant Q`
lowers a released model's config for WebGPU instead (no weights, no build, and no kernel
code generated: the kernel calls are known after the Relax passes, in seconds to a minute),
which is all the counts need.

    .venv/bin/python bench/decode_cost_static.py ARTIFACT_DIR [--context 8] [--kv-kernels 3]
    .venv/bin/python bench/decode_cost_static.py --published llama-3.2-1b --quant q4f16_1
    .venv/bin/python bench/decode_cost_static.py --published bundled-smollm2 \
        --quant q4f32_asym --lora-rank 16   # the bundled SmolLM2-135M GGUF's config, with a
                                            # kept rank-16 adapter on all seven linears
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from webslm.bench.costmodel import GPUS, estimate  # noqa: E402
from webslm.bench.decode_cost import cost as _cost, static_cost  # noqa: E402,F401
from webslm.bench.profile import KV_CACHE_KERNELS  # noqa: E402


def published_cost(name: str, quant: str, context: int = 8, kv_kernels: int = KV_CACHE_KERNELS,
                   lora_rank: int = 0) -> dict:
    """The same counts for a released model's config compiled for WebGPU, without weights;
    lora_rank: with a kept adapter of that rank on all seven linears (Llama-family layout)."""
    import numpy as np

    from webslm.arch import architectures
    from webslm.compile.compiler import kernel_calls
    from webslm.compile.lowering import webgpu_target
    from webslm.compile.spec import BuildShape
    from webslm.quantize.schemes import get_scheme

    if name == "bundled-smollm2":  # the GGUF webslm ships: its config, read from the file
        from webslm.arch import find_architecture
        from webslm.source import open_source, smollm2_gguf_path

        hf = open_source(str(smollm2_gguf_path())).config
        arch = find_architecture(hf)
    else:
        (arch,) = [a for a in architectures() if name in a.published]
        hf = arch.published[name].config
    plan = all_linear_plan(hf, lora_rank) if lora_rank else None
    calls, params = kernel_calls(arch, hf, get_scheme(quant), webgpu_target(),
                                 BuildShape(4096, 1024), plan)
    sizes = {p.name: int(np.prod(p.shape)) * np.dtype(p.dtype).itemsize for p in params}
    adapter = sum(n for k, n in sizes.items() if k.endswith((".lora_a", ".lora_b")))
    label = f"{name}-{quant}" + (f" + kept r{lora_rank} adapter" if lora_rank else "")
    return {**_cost(f"{label} (lowered, no weights)", calls, hf,
                    quant, sum(sizes.values()), context, kv_kernels),
            "adapter_bytes": adapter, "base_bytes": sum(sizes.values()) - adapter}


def all_linear_plan(hf: dict, rank: int):
    """The plan KeptAdapter.of makes for a rank-`rank` adapter on q, k, v, o, gate, up, down."""
    import inspect

    from webslm.compile.spec import LoraLinear, LoraPlan

    hd = hf.get("head_dim") or hf["hidden_size"] // hf["num_attention_heads"]
    q, kv = hf["num_attention_heads"] * hd, hf["num_key_value_heads"] * hd
    one, inter = ((0, 0),), hf["intermediate_size"]
    linears = {}
    for layer in range(hf["num_hidden_layers"]):
        at = f"model.layers.{layer}."
        linears[at + "self_attn.qkv_proj"] = LoraLinear(rank, ((0, 0), (q, rank),
                                                               (q + kv, 2 * rank)))
        linears[at + "self_attn.o_proj"] = LoraLinear(rank, one)
        linears[at + "mlp.gate_up_proj"] = LoraLinear(rank, ((0, 0), (inter, rank)))
        linears[at + "mlp.down_proj"] = LoraLinear(rank, one)
    extra = {"dtype": "float32"} if "dtype" in inspect.signature(LoraPlan).parameters else {}
    return LoraPlan(linears, **extra)  # (before f16 storage, the plan carried a dtype)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("artifact", type=Path, nargs="?")
    ap.add_argument("--published", help="a models.yaml name with a published config instead "
                    "(or bundled-smollm2: the bundled GGUF's)")
    ap.add_argument("--quant", default="q4f16_1", help="with --published")
    ap.add_argument("--context", type=int, default=8, help="positions in the KV cache")
    ap.add_argument("--kv-kernels", type=int, default=KV_CACHE_KERNELS,
                    help="cache kernels per attention call")
    ap.add_argument("--lora-rank", type=int, default=0,
                    help="with --published: a kept adapter of this rank on all seven linears")
    a = ap.parse_args()
    if (a.artifact is None) == (a.published is None):
        ap.error("give an artifact folder or --published NAME")
    c = (static_cost(a.artifact, a.context, a.kv_kernels) if a.artifact
         else published_cost(a.published, a.quant, a.context, a.kv_kernels, a.lora_rank))
    total, per_layer, floor = c["dispatches"], c["per_layer"], c["floor_bytes"]
    print(f"{c['model_id']}: {total} dispatches per decoded token, {per_layer} per layer, "
          f"{total - per_layer * c['layers']} outside the layers "
          f"({c['sampling']} sampling); floor {floor / 1e6:.1f} MB")
    if c.get("adapter_bytes"):
        print(f"  adapter {c['adapter_bytes'] / 1e6:.2f} MB, "
              f"{c['adapter_bytes'] / c['base_bytes']:.1%} of the base's "
              f"{c['base_bytes'] / 1e6:.1f} MB")
    for gpu in GPUS:
        e = estimate(floor, floor, total, gpu)
        print(f"  {gpu.name}: {e.tokens_per_s:.1f} tok/s modeled, "
              f"{e.dispatch_share:.0%} of the time in dispatch overhead")


if __name__ == "__main__":
    main()
