"""A full-size model in the real WebLLM engine: Llama-3.2-1B's exact config (random weights),
built in q4f32_1, loaded by WebLLM 0.2.86 in headless Chromium on SwiftShader's CPU WebGPU,
prefills a prompt and decodes a few greedy tokens; the CPU twin of the same artifact must give
the same ids. Prints load and per-token times; writes results/full_size_browser.json.

    .venv/bin/python bench/full_size_browser.py [--model llama-3.2-1b] [--tokens 4]

It takes about 10-20 minutes on 2 cores (SwiftShader runs every shader on the CPU), so it is a
benchmark script, not a test; docs/BENCHMARKS.md has its last result.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests" / "browser"))
from model_configs import CONFIGS  # noqa: E402
from random_checkpoint import write_checkpoint  # noqa: E402
from tokenizer_dirs import tokenizer_dir  # noqa: E402

from webslm.artifacts.files import model_library  # noqa: E402

PROMPT = "The lighthouse keeper climbed the spiral stairs at dusk, counting every step."


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="llama-3.2-1b", choices=sorted(CONFIGS))
    ap.add_argument("--tokens", type=int, default=4, help="greedy ids to compare (prompt excluded)")
    ap.add_argument("--out", type=Path, default=REPO / "results")
    a = ap.parse_args()

    from harness import run_webllm
    from tokenizers import Tokenizer

    from webslm.artifacts.tensor_cache_reader import read_tensor_cache
    from webslm.cli import main as webslm
    from webslm.compile.cpu_model import CpuModel
    from webslm.verify.twin import load_cpu_twin

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ckpt = write_checkpoint(a.model, tmp / "ckpt", tokenizer_dir(a.model, tmp))
        start = time.time()
        assert webslm(["build", a.model, "--q4f32", "--backend", "webgpu", "--source", str(ckpt),
                       "--out", str(tmp / "dist")]) == 0
        build_s = time.time() - start
        model_id = f"{a.model}-q4f32_1"
        artifact = tmp / "dist" / model_id
        prompt_ids = Tokenizer.from_file(str(artifact / "tokenizer.json")).encode(PROMPT).ids[:8]

        start = time.time()
        browser = run_webllm(artifact, artifact / model_library(model_id), model_id, prompt=None,
                             token_ids_prompt=prompt_ids, n_tokens=a.tokens, timeout=2400)
        browser_s = time.time() - start
        if browser["error"]:
            print("\n".join(browser["log"][-40:]))
            raise SystemExit(f"WebLLM failed: {browser['error']}")

        twin = load_cpu_twin(artifact)
        cpu_ids = CpuModel(twin.compiled, read_tensor_cache(artifact)).greedy(prompt_ids, a.tokens)
    result = {
        "model": model_id, "adapter": browser.get("adapter_info"), "prompt_ids": prompt_ids,
        "browser_ids": browser["token_ids"][:a.tokens], "cpu_ids": cpu_ids,
        "match": browser["token_ids"][:a.tokens] == cpu_ids,
        "build_s": round(build_s, 1), "browser_total_s": round(browser_s, 1),
        "stage_times_s": browser.get("stage_times"),  # loaded: weights + shaders; tokens: after
        "seconds_per_token": round((browser["stage_times"]["tokens"] - browser["stage_times"]
                                    ["loaded"]) / a.tokens, 1),
    }
    a.out.mkdir(exist_ok=True)
    (a.out / "full_size_browser.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    raise SystemExit(0 if result["match"] else 1)


if __name__ == "__main__":
    main()
