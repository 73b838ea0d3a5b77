"""The decode cost model against a real run: for each model benched by bench/gpu.sh, the
decode tokens/s WebLLM measured next to the tokens/s the profile models for the same GPU
(its bandwidth as measured in the same browser, and the cited per-dispatch cost).

    .venv/bin/python bench/profile_vs_measured.py results/gpu   # prints a markdown table
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from webslm.bench.costmodel import VULKAN_DISPATCH_US, GpuSpec, estimate  # noqa: E402


def rows(out: Path):
    for bench in sorted(out.glob("bench-*.json")):
        summary = json.loads(bench.read_text())["summary"]
        engine = summary["engines"].get("webllm")
        profile = out / "profile" / bench.name.replace("bench-", "profile-", 1)
        if not engine or not profile.is_file():
            continue
        prof = json.loads(profile.read_text())["summary"]
        bw = (engine.get("bandwidth") or {}).get("bytes_per_s")
        decode = {p["sampling"]: p for p in prof["phases"] if p["phase"] == "decode"}["greedy"]
        for ctx in engine["contexts"]:
            if not bw or not ctx["decode_tok_s"]:
                continue
            gpu = GpuSpec("measured", bw / 1e9, VULKAN_DISPATCH_US, "this run")
            # the profile ran at its own context; KV bytes scale with the context benched
            kv = (decode["floor_bytes"] - decode["weight_bytes"]) / decode["positions"]
            extra = kv * (ctx["context"] - decode["positions"])
            model = estimate(decode["modeled_bytes"] + extra, decode["floor_bytes"] + extra,
                             decode["dispatches"], gpu)
            yield (summary["model"], ctx["context"], bw / 1e9, decode["dispatches"],
                   ctx["decode_tok_s"]["median"], model.tokens_per_s)


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "results/gpu")
    print("| model | context | measured GB/s | dispatches per token | measured decode tok/s "
          f"| modeled tok/s ({VULKAN_DISPATCH_US:g} us per dispatch) |")
    print("|---|---|---|---|---|---|")
    for model, ctx, gbs, dispatches, measured, modeled in rows(out):
        print(f"| {model} | {ctx} | {gbs:.0f} | {dispatches} | {measured:.1f} | {modeled:.1f} |")


if __name__ == "__main__":
    main()
