"""Wall time and peak RSS of `webslm build`, each build in its own process.

Cases: SmolLM2-135M (the shipped GGUF) in q4f32_1 and q4f16_1, and a random-weight
checkpoint with Llama-3.2-1B-Instruct's exact config in q4f16_1. With --full instead: the
published models of every architecture (Llama-3.2-1B, Qwen2.5-1.5B, Phi-3.5-mini, ...) at full size, random weights
with their exact configs (bench/model_configs.py), each in q4f16_1 and q4f32_1. Prints a
markdown table (paste into docs/BENCHMARKS.md) and writes results/build_bench[_full].json.

    .venv/bin/python bench/build_bench.py [--skip-1b | --full [--only MODEL ...]]

The TVM web runtime objects are built first (cached), so timings exclude that one-off cost.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from webslm.artifacts.files import webgpu_build_id
from webslm.artifacts.manifest import read_manifest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from model_configs import CONFIGS, PUBLISHED  # noqa: E402
from random_checkpoint import write_checkpoint  # noqa: E402
from tokenizer_dirs import tokenizer_dir  # noqa: E402
from tree_rss import TreeSampler  # noqa: E402

# WebLLM 0.2.86 prebuiltAppConfig, vram_required_MB of its own builds at 4k context (kept with
# each published config in its architecture's folder)
WEBLLM_VRAM_MB = {webgpu_build_id(name, quant): mb for name, p in PUBLISHED.items()
                  for quant, mb in p.webllm_vram_mb.items()}


# Runs `webslm build` and reports the Python process's own peak RSS (VmHWM; see
# bench/tree_rss.py for why not getrusage) apart from its tools' (emcc, wasm-ld).
BUILD_WRAPPER = (
    "import sys\n"
    "from tree_rss import own_peak_kb\n"
    "from webslm.cli import main\n"
    "code = main(['build', *sys.argv[1:]])\n"
    "print(f'RSS_KB {own_peak_kb()}', file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def timed_build(args: list[str]) -> dict:
    """Run one build in a child process: wall time, and peak RSS sampled over its tree.

    stderr goes to a file: an unread pipe fills up with progress bars and stalls long builds.
    """
    start = time.time()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO / "bench"), *filter(None, [os.environ.get("PYTHONPATH")])])}
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen([sys.executable, "-c", BUILD_WRAPPER, *args], env=env,
                                stdout=subprocess.DEVNULL, stderr=log, text=True)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        status = proc.wait()
        sampler.stop()
        wall = time.time() - start
        log.seek(0)
        text = log.read()
        if status != 0:
            raise SystemExit(f"build {args} failed:\n{text[-3000:]}")
    own_kb = int(text.rsplit("RSS_KB ", 1)[1].split()[0])
    mb = lambda kb: round(kb / 1024, 1)  # noqa: E731
    return {"wall_s": round(wall, 1), "peak_rss_mb": mb(max(sampler.tree_peak_kb, own_kb)),
            "python_rss_mb": mb(own_kb), "tools_rss_mb": mb(sampler.tools_peak_kb)}


def artifact_stats(art: Path) -> dict:
    manifest = read_manifest(art)
    files = manifest["files"]
    weight_bytes = sum(f["bytes"] for n, f in files.items() if n.startswith("params_shard_"))
    return {"artifact_bytes": sum(f["bytes"] for f in files.values()),
            "weight_bytes": weight_bytes,
            "bits_per_weight": round(manifest["build"]["bits_per_weight"], 3),
            "vram_estimate_mb": manifest["webllm_model_record"]["vram_required_MB"]}


def full_size_cases(models: list[str], tmp: Path):
    """(model, quant, build args) per named model and quantization; checkpoints made lazily."""
    for model in models:
        ckpt = write_checkpoint(model, tmp / model, tokenizer_dir(model, tmp))
        for flag, quant in (("--q4f16", "q4f16_1"), ("--q4f32", "q4f32_1")):
            yield model, quant, [model, flag, "--source", str(ckpt)]
        shutil.rmtree(ckpt)  # up to 7.6 GB each


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--skip-1b", action="store_true", help="only the SmolLM2 builds")
    ap.add_argument("--full", action="store_true", help="every published model, full size")
    ap.add_argument("--only", nargs="+", choices=sorted(CONFIGS), default=sorted(CONFIGS),
                    help="with --full: these models only")
    ap.add_argument("--out", type=Path, default=REPO / "results")
    a = ap.parse_args()
    subprocess.run([sys.executable, "-c", "from webslm.compile.webruntime import "
                    "ensure_runtime_objects as e; e()"], check=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        dist = Path(tmp) / "dist"
        if a.full:
            cases = full_size_cases(a.only, Path(tmp))
        else:
            cases = [("smollm2-135m", "q4f32_asym", ["smollm2-135m", "--q4f32"]),
                     ("smollm2-135m", "q4f16_asym", ["smollm2-135m", "--q4f16"])]
        if not a.full and not a.skip_1b:
            ckpt = write_checkpoint("llama-3.2-1b", Path(tmp) / "llama-1b",
                                    tokenizer_dir("llama-3.2-1b", Path(tmp)))
            cases.append(("llama-3.2-1b", "q4f16_1",
                          ["llama-3.2-1b", "--q4f16", "--source", str(ckpt)]))
        for model, quant, args in cases:
            result = timed_build([*args, "--backend", "webgpu", "--out", str(dist), "--force"])
            art = dist / webgpu_build_id(model, quant)
            rows.append({"model": model, "quantization": quant, **result, **artifact_stats(art)})
            shutil.rmtree(art)
            print(json.dumps(rows[-1]), flush=True)
    a.out.mkdir(exist_ok=True)
    name = "build_bench_full.json" if a.full else "build_bench.json"
    (a.out / name).write_text(json.dumps(rows, indent=2))
    print("\n| model | quant | wall s | peak RSS MB (python / tools) | weight MB | bits/weight "
          "| artifact MB | VRAM est. MB | WebLLM VRAM MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ref = WEBLLM_VRAM_MB.get(f"{r['model']}-{r['quantization']}", "")
        print(f"| {r['model']} | {r['quantization']} | {r['wall_s']} | {r['peak_rss_mb']} "
              f"({r['python_rss_mb']} / {r['tools_rss_mb']}) "
              f"| {r['weight_bytes'] / 2**20:.1f} | {r['bits_per_weight']} "
              f"| {r['artifact_bytes'] / 2**20:.1f} | {r['vram_estimate_mb']} | {ref} |")


if __name__ == "__main__":
    main()
