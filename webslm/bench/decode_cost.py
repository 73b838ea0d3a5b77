"""A build's cost per decoded token from its manifest alone (no browser): dispatches (the
compiled `kernel_calls` plus the KV cache's kernels per attention call) and the bytes floor
(weights + KV cache), and the decode speed `costmodel` gives them on the published GPUs. It
is what `webslm bench` prints beside the engines' measured speeds, and what
bench/decode_cost_static.py prints; for f16 builds too, which SwiftShader cannot run."""

from __future__ import annotations

import json
from pathlib import Path

from webslm.artifacts.files import CHAT_CONFIG
from webslm.artifacts.manifest import read_manifest
from webslm.bench.costmodel import GPUS, estimate
from webslm.bench.profile import (KV_CACHE_KERNELS, expected_dispatches,
                                  kernels_between_attention, per_layer_share)
from webslm.bench.roofline import build_kv_dtype, bytes_per_token

CONTEXT = 8  # positions in the KV cache: a short context, where dispatches weigh most


def static_cost(artifact: Path, context: int = CONTEXT,
                kv_kernels: int = KV_CACHE_KERNELS) -> dict | None:
    """Dispatches per decoded token (all, per layer, sampling) and the bytes floor; None for
    a build that records no kernel calls (built before they were recorded)."""
    build = read_manifest(artifact)["build"]
    if "kernel_calls" not in build:
        return None
    config = json.loads((artifact / CHAT_CONFIG).read_text())["model_config"]
    return cost(build["model_id"], build["kernel_calls"], config, build["quantization"],
                build["param_bytes"], context, kv_kernels)


def cost(model_id, kernel_calls, config, quant, param_bytes, context,
         kv_kernels=KV_CACHE_KERNELS) -> dict:
    want = expected_dispatches(kernel_calls)
    layers = config["num_hidden_layers"]
    model = sum(want["model_kernels"].values())
    sampling = sum(want["sampler_kernels"].values())
    own = kernels_between_attention(kernel_calls["decode"])
    if own is None:
        own = sum(per_layer_share(n, layers) for n in want["model_kernels"].values())
    return {"model_id": model_id, "context": context,
            "dispatches": model + kv_kernels * want["attention_calls"] + sampling,
            "per_layer": own + kv_kernels,
            "layers": layers, "sampling": sampling,
            "floor_bytes": bytes_per_token(param_bytes, config, build_kv_dtype(quant), context)}


def modeled(c: dict) -> list[dict]:
    """Decode tok/s on each published GPU with the floor as the bytes (an upper bound)."""
    out = []
    for gpu in GPUS:
        e = estimate(c["floor_bytes"], c["floor_bytes"], c["dispatches"], gpu)
        out.append({"gpu": gpu.name, "tokens_per_s": e.tokens_per_s,
                    "dispatch_share": e.dispatch_share})
    return out
