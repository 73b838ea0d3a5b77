"""The profile's reports: JSON, markdown and a plot, like the speed reports (report.py)."""

from __future__ import annotations

import collections
import statistics
from pathlib import Path

from webslm.bench.costmodel import GPUS, GpuSpec, estimate
from webslm.bench.chromium import WEBGPU_LABELS, report_webgpu
from webslm.bench.report import where, write_outputs
from webslm.bench.profile import expected_dispatches, kernel_function, summarize_phases

MB = 1e6


def check_against_compiled(raw: dict, decode: dict) -> dict:
    """Does one measured decode token run what the compiled functions call? Each model kernel
    as often as embed + decode call it, the sampler's kernels as often as its functions call
    them, and the KV cache's own kernels a whole number of times per attention call."""
    want = expected_dispatches(raw["kernel_calls"])
    got = collections.Counter()
    kv = 0
    for name, k in decode["kernels"].items():
        if k["role"] == "kv cache":
            kv += k["count"]
        else:
            got[kernel_function(name)] += k["count"]
    expected = want["model_kernels"] + want["sampler_kernels"]
    mismatches = {n: {"compiled": expected[n], "measured": got[n]}
                  for n in set(expected) | set(got) if expected[n] != got[n]}
    calls = want["attention_calls"]
    return {"matches": not mismatches and calls > 0 and kv % calls == 0,
            "mismatches": mismatches, "attention_calls": calls,
            "kv_cache_dispatches_per_attention_call": kv / calls if calls else None,
            "compiled_dispatches": sum(expected.values()) + kv}


def _mean_phase(rows: list[dict]) -> dict:
    first = rows[0]
    return {**first, "seconds": statistics.median(r["seconds"] for r in rows),
            "modeled_bytes": statistics.mean(r["modeled_bytes"] for r in rows),
            "floor_bytes": statistics.mean(r["floor_bytes"] for r in rows), "steps": len(rows)}


def summarize(raw: dict, gpus: tuple[GpuSpec, ...] = GPUS) -> dict:
    phases = summarize_phases(raw)
    rows = []
    for sampling in dict.fromkeys(p["sampling"] for p in phases):
        for phase in ("prefill", "decode"):
            group = [p for p in phases if p["sampling"] == sampling and p["phase"] == phase]
            if group:
                rows.append(_mean_phase(group))
    decode = next(r for r in rows if r["phase"] == "decode")
    models = []
    for row in (r for r in rows if r["phase"] == "decode"):
        for gpu in gpus:
            e = estimate(row["modeled_bytes"], row["floor_bytes"], row["dispatches"], gpu)
            models.append({"sampling": row["sampling"], "gpu": gpu.name,
                           "bandwidth_gb_s": gpu.bandwidth_gb_s, "dispatch_us": gpu.dispatch_us,
                           "tokens_per_s": e.tokens_per_s, "dispatch_share": e.dispatch_share,
                           "excess_share": e.excess_share,
                           "floor_tokens_per_s": gpu.bandwidth_gb_s * 1e9 / row["floor_bytes"]})
    return {k: raw[k] for k in ("model", "quantization", "gpu", "context", "new_tokens",
                                "param_bytes", "toolchain")} | {
        "webgpu": report_webgpu(raw), "adapter": raw.get("adapter"), "load_s": raw.get("load_s"),
        "layers": raw["model_config"]["num_hidden_layers"],
        "phases": rows, "estimates": models,
        "gpus": [{"name": g.name, "bandwidth_gb_s": g.bandwidth_gb_s,
                  "dispatch_us": g.dispatch_us, "source": g.source} for g in gpus],
        "check": check_against_compiled(raw, decode),
        "method": "dispatches counted in the page; bytes from bound buffer sizes (see "
                  "webslm/bench/profile.py)",
    }


def _pct(x: float) -> str:
    return f"{x:.0%}"


def markdown(summary: dict, command: str) -> str:
    label = WEBGPU_LABELS[report_webgpu(summary)]
    lines = [
        f"`{command}`", "",
        f"{summary['model']} ({summary['quantization']}), WebLLM in headless Chromium, "
        f"{where(summary)}; "
        f"{summary['context']} prompt tokens, {summary['new_tokens']} decoded tokens per "
        f"sampling setting; {summary['layers']} layers. Dispatches counted; bytes modeled "
        "from bound buffer sizes (webslm/bench/profile.py).", "",
        "| phase | sampling | dispatches | per layer | outside layers | of them sampling "
        f"| modeled MB | weights + KV MB | modeled / floor | {label} s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in summary["phases"]:
        what = f"prefill ({r['tokens']} tokens, {r['chunks']} chunk)" if r["phase"] == "prefill" \
            else f"decode (per token, {r['steps']} tokens)"
        lines.append(f"| {what} | {r['sampling']} | {r['dispatches']} | {r['dispatches_per_layer']} "
                     f"| {r['outside_layers']} | {r['sampling_dispatches']} "
                     f"| {r['modeled_bytes'] / MB:.1f} | {r['floor_bytes'] / MB:.1f} "
                     f"| {r['modeled_bytes'] / r['floor_bytes']:.2f} | {r['seconds']:.2f} |")
    check = summary["check"]
    lines += ["", f"Against the compiled functions (embed + decode + sampler, the build's "
              f"`kernel_calls`): {'match' if check['matches'] else 'MISMATCH'}; "
              f"{check['attention_calls']} KV cache attention calls, "
              f"{check['kv_cache_dispatches_per_attention_call']:g} cache kernels each.", ""]
    lines += ["Modeled decode speed: bytes / bandwidth + dispatches x per-dispatch cost.", "",
              "| GPU | sampling | GB/s | us per dispatch | modeled tok/s | bandwidth-only tok/s "
              "| lost to dispatches | lost to bytes beyond the floor |", "|---|---|---|---|---|---|---|---|"]
    for m in summary["estimates"]:
        lines.append(f"| {m['gpu']} | {m['sampling']} | {m['bandwidth_gb_s']:g} | {m['dispatch_us']:g} "
                     f"| {m['tokens_per_s']:.1f} | {m['floor_tokens_per_s']:.1f} "
                     f"| {_pct(m['dispatch_share'])} | {_pct(m['excess_share'])} |")
    decode = next(r for r in summary["phases"] if r["phase"] == "decode")
    lines += ["", "Kernels of one decoded token (greedy), by modeled bytes:", "",
              "| kernel | role | dispatches | read MB | written MB |", "|---|---|---|---|---|"]
    for name, k in decode["kernels"].items():
        lines.append(f"| {name} | {k['role']} | {k['count']} | {k['read'] / MB:.2f} "
                     f"| {k['written'] / MB:.2f} |")
    lines += [""] + [f"- {g['name']}: {g['source']}" for g in summary["gpus"]]
    return "\n".join(lines) + "\n"


def plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    decode = next(r for r in summary["phases"] if r["phase"] == "decode")
    roles = collections.defaultdict(lambda: [0, 0.0])
    for k in decode["kernels"].values():
        roles[k["role"]][0] += k["count"]
        roles[k["role"]][1] += (k["read"] + k["written"]) / MB
    names = list(roles)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5), dpi=120)
    left.barh(names, [roles[n][0] for n in names], color="tab:blue")
    left.set_xlabel("dispatches per decoded token")
    right.barh(names, [roles[n][1] for n in names], color="tab:orange")
    right.axvline(decode["floor_bytes"] / MB, color="k", linestyle="--", label="weights + KV cache")
    right.set_xlabel("modeled MB per decoded token")
    right.legend(loc="lower right")
    fig.suptitle(f"{summary['model']}: one decoded token by kernel role")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_profile_reports(raw: dict, out: Path, command: str,
                          gpus: tuple[GpuSpec, ...] = GPUS) -> dict[str, Path]:
    summary = summarize(raw, gpus)
    return write_outputs(out, "profile", summary, raw, command, markdown(summary, command), plot)
