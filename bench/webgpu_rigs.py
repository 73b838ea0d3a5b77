"""The two software WebGPU rigs side by side, on the same builds: SwiftShader in headless
Chromium (what a GPU-less page gets; no shader-f16) and Dawn over Mesa's lavapipe in Node
(WITH shader-f16, where the f16 builds execute). Unmodified WebLLM 0.2.86 on both.

    .venv/bin/python bench/webgpu_rigs.py [--dist DIR] [--runs 3] [--tokens 16]

Builds SmolLM2-135M q4f32_asym and q4f16_asym into --dist unless they are there. Each run is
a fresh engine: load (weights + library), then the same chat request twice, greedy, --tokens
new tokens: the first request compiles the shader pipelines, the second shows the kernels'
speed; then 8 greedy ids after the prompt's ids, counting the compute dispatches of each
decode step. Prints a Markdown table of medians; writes results/webgpu_rigs.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from webslm.artifacts.files import model_library
from webslm.artifacts.manifest import read_manifest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "browser"))

BUILDS = ("smollm2-135m-q4f32_asym", "smollm2-135m-q4f16_asym")
PROMPT = "Write one sentence about lighthouses."


def one_run(artifact: Path, rig: str, tokens: int) -> dict:
    from harness import run_webllm

    from tokenizers import Tokenizer

    record = read_manifest(artifact)["webllm_model_record"]
    ids = Tokenizer.from_file(str(artifact / "tokenizer.json")).encode(PROMPT).ids
    start = time.time()
    out = run_webllm(artifact, artifact / model_library(artifact.name), artifact.name,
                     prompt=PROMPT, max_tokens=tokens, rig=rig, repeat=2, timeout=1200,
                     required_features=record.get("required_features"),
                     request_extra={"ignore_eos": True}, token_ids_prompt=ids, n_tokens=8)
    if out["error"]:
        raise SystemExit(f"{artifact.name} on {rig}: {out['error']}\n" + "\n".join(out["log"][-20:]))
    first, warm = (u["extra"] for u in out["usages"])
    return {"load_s": out["stage_times"]["loaded"],
            "first_token_s": first["time_to_first_token_s"],
            "prefill_tok_s": warm["prefill_tokens_per_s"], "decode_tok_s": warm["decode_tokens_per_s"],
            "cold_decode_tok_s": first["decode_tokens_per_s"], "wall_s": time.time() - start,
            # greedy, after the prompt's ids: dispatches of each decode step, and the ids
            "decode_dispatches": statistics.median(out["step_dispatches"][1:]),
            "greedy_ids": out["token_ids"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dist", type=Path, default=REPO / "dist")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=16)
    ap.add_argument("--out", type=Path, default=REPO / "results")
    a = ap.parse_args()
    from webslm.cli import main as webslm

    missing = [b for b in BUILDS if not (a.dist / b).is_dir()]
    if missing:
        assert webslm(["build", "smollm2-135m", "--q4f32", "--q4f16", "--backend", "webgpu",
                       "--out", str(a.dist), "--force"]) == 0
    rows = []
    for build in BUILDS:
        for rig in ("chromium", "dawn"):
            if rig == "chromium" and "f16" in build:
                continue  # SwiftShader has no shader-f16
            runs = [one_run(a.dist / build, rig, a.tokens) for _ in range(a.runs)]
            median = {k: round(statistics.median(r[k] for r in runs), 2) for k in runs[0]
                      if k != "greedy_ids"}
            median["greedy_ids"] = runs[0]["greedy_ids"]
            rows.append({"build": build, "rig": rig, "runs": runs, "median": median})
            print(build, rig, median, flush=True)
    a.out.mkdir(exist_ok=True)
    (a.out / "webgpu_rigs.json").write_text(json.dumps(rows, indent=2))
    print("| build | rig | load s | first token s | prefill tok/s | decode tok/s | "
          "dispatches / token | wall s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        m = r["median"]
        print(f"| {r['build']} | {r['rig']} | {m['load_s']} | {m['first_token_s']} | "
              f"{m['prefill_tok_s']} | {m['decode_tok_s']} | {m['decode_dispatches']:.0f} | "
              f"{m['wall_s']} |")
    print("greedy ids:", {f"{r['build']}@{r['rig']}": r["median"]["greedy_ids"] for r in rows})


if __name__ == "__main__":
    main()
