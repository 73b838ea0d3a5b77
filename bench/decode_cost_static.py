"""Dispatches per decoded token and the bytes floor of a build, from its manifest alone (no
browser): for f16 builds, which SwiftShader cannot run (no shader-f16). Counts come from the
build's `kernel_calls` (embed + decode + the sampler), plus the KV cache's own kernels per
attention call as `webslm bench --profile` measured them on an f32 build (3 in WebLLM
0.2.86: rotary, append, attention). The modeled speed uses the floor (weights + KV cache) as
the bytes, so it is an upper bound next to the profile's. `--published NAME --quant Q`
compiles a released model's config for WebGPU instead (no weights, no build: a minute or
two), which is all the counts need.

    .venv/bin/python bench/decode_cost_static.py ARTIFACT_DIR [--context 8] [--kv-kernels 3]
    .venv/bin/python bench/decode_cost_static.py --published llama-3.2-1b --quant q4f16_1
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from webslm.artifacts.manifest import read_manifest  # noqa: E402
from webslm.bench.costmodel import GPUS, estimate  # noqa: E402
from webslm.bench.profile import expected_dispatches  # noqa: E402
from webslm.bench.roofline import kv_bytes_per_position  # noqa: E402


def static_cost(artifact: Path, context: int = 8, kv_kernels: int = 3) -> dict:
    """Dispatches per decoded token (all, per layer, sampling) and the bytes floor (MB)."""
    build = read_manifest(artifact)["build"]
    config = json.loads((artifact / "mlc-chat-config.json").read_text())["model_config"]
    return _cost(build["model_id"], build["kernel_calls"], config, build["quantization"],
                 build["param_bytes"], context, kv_kernels)


def published_cost(name: str, quant: str, context: int = 8, kv_kernels: int = 3) -> dict:
    """The same counts for a released model's config compiled for WebGPU, without weights."""
    import numpy as np

    from webslm.arch import architectures
    from webslm.compile.compiler import compile_model
    from webslm.compile.lowering import webgpu_target
    from webslm.compile.spec import BuildShape
    from webslm.quantize.schemes import get_scheme

    (arch,) = [a for a in architectures() if name in a.published]
    hf = arch.published[name].config
    compiled = compile_model(arch, hf, get_scheme(quant), webgpu_target(), BuildShape(4096, 1024))
    param_bytes = sum(int(np.prod(p.shape)) * np.dtype(p.dtype).itemsize for p in compiled.params)
    return _cost(f"{name}-{quant} (compiled, no weights)", compiled.metadata["kernel_calls"],
                 hf, quant, param_bytes, context, kv_kernels)


def _cost(model_id, kernel_calls, config, quant, param_bytes, context, kv_kernels) -> dict:
    want = expected_dispatches(kernel_calls)
    layers = config["num_hidden_layers"]
    model = sum(want["model_kernels"].values())
    sampling = sum(want["sampler_kernels"].values())
    kv = "float16" if "f16" in quant else "float32"
    return {"model_id": model_id,
            "dispatches": model + kv_kernels * want["attention_calls"] + sampling,
            "per_layer": sum(n // layers for n in want["model_kernels"].values()) + kv_kernels,
            "layers": layers, "sampling": sampling,
            "floor_bytes": param_bytes + kv_bytes_per_position(config, kv) * context}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("artifact", type=Path, nargs="?")
    ap.add_argument("--published", help="a models.yaml name with a published config instead")
    ap.add_argument("--quant", default="q4f16_1", help="with --published")
    ap.add_argument("--context", type=int, default=8, help="positions in the KV cache")
    ap.add_argument("--kv-kernels", type=int, default=3, help="cache kernels per attention call")
    a = ap.parse_args()
    if (a.artifact is None) == (a.published is None):
        ap.error("give an artifact folder or --published NAME")
    c = (static_cost(a.artifact, a.context, a.kv_kernels) if a.artifact
         else published_cost(a.published, a.quant, a.context, a.kv_kernels))
    total, per_layer, floor = c["dispatches"], c["per_layer"], c["floor_bytes"]
    print(f"{c['model_id']}: {total} dispatches per decoded token, {per_layer} per layer, "
          f"{total - per_layer * c['layers']} outside the layers "
          f"({c['sampling']} sampling); floor {floor / 1e6:.1f} MB")
    for gpu in GPUS:
        e = estimate(floor, floor, total, gpu)
        print(f"  {gpu.name}: {e.tokens_per_s:.1f} tok/s modeled, "
              f"{e.dispatch_share:.0%} of the time in dispatch overhead")


if __name__ == "__main__":
    main()
