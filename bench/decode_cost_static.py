"""Dispatches per decoded token and the bytes floor of a build, from its manifest alone (no
browser): for f16 builds, which SwiftShader cannot run (no shader-f16). Counts come from the
build's `kernel_calls` (embed + decode + the sampler), plus the KV cache's own kernels per
attention call as `webslm bench --profile` measured them on an f32 build (3 in WebLLM
0.2.86: rotary, append, attention). The modeled speed uses the floor (weights + KV cache) as
the bytes, so it is an upper bound next to the profile's.

    .venv/bin/python bench/decode_cost_static.py ARTIFACT_DIR [--context 8] [--kv-kernels 3]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from webslm.bench.costmodel import GPUS, estimate  # noqa: E402
from webslm.bench.profile import expected_dispatches  # noqa: E402
from webslm.bench.roofline import kv_bytes_per_position  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("artifact", type=Path)
    ap.add_argument("--context", type=int, default=8, help="positions in the KV cache")
    ap.add_argument("--kv-kernels", type=int, default=3, help="cache kernels per attention call")
    a = ap.parse_args()
    build = json.loads((a.artifact / "webslm-manifest.json").read_text())["build"]
    config = json.loads((a.artifact / "mlc-chat-config.json").read_text())["model_config"]
    want = expected_dispatches(build["kernel_calls"])
    layers = config["num_hidden_layers"]
    model = sum(want["model_kernels"].values())
    per_layer = sum(n // layers for n in want["model_kernels"].values()) + a.kv_kernels
    total = model + a.kv_kernels * want["attention_calls"] + sum(want["sampler_kernels"].values())
    kv = "float16" if "f16" in build["quantization"] else "float32"
    floor = build["param_bytes"] + kv_bytes_per_position(config, kv) * a.context
    print(f"{build['model_id']}: {total} dispatches per decoded token, {per_layer} per layer, "
          f"{total - per_layer * layers} outside the layers "
          f"({sum(want['sampler_kernels'].values())} sampling); floor {floor / 1e6:.1f} MB")
    for gpu in GPUS:
        e = estimate(floor, floor, total, gpu)
        print(f"  {gpu.name}: {e.tokens_per_s:.1f} tok/s modeled, "
              f"{e.dispatch_share:.0%} of the time in dispatch overhead")


if __name__ == "__main__":
    main()
