"""Turn raw runs into the medians and spreads users read: JSON, a markdown table and a PNG
plot of decode speed against context length."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from webslm.bench.chromium import WEBGPU_LABELS, report_webgpu
from webslm.bench.decode_cost import modeled
from webslm.bench.roofline import build_kv_dtype, bytes_per_token, roofline_fraction

KV_DTYPE = {"webllm": None, "wllama": "float16"}  # webllm: the build's activation dtype


def spread(values: list[float | None]) -> dict | None:
    """Median, min and max of the runs (None when no run produced the value)."""
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


def summarize(raw: dict) -> dict:
    bandwidth = next((r["bandwidth"] for r in raw["runs"] if r.get("bandwidth")), {})
    engines = {}
    for engine in dict.fromkeys(r["engine"] for r in raw["runs"]):
        runs = [r for r in raw["runs"] if r["engine"] == engine]
        backend = runs[0]["backend"]
        bw = (bandwidth.get("gpu") if backend == "webgpu" else bandwidth.get("cpu")) or {}
        kv_dtype = (raw.get("kv_dtypes", {}).get(engine) or KV_DTYPE.get(engine)
                    or build_kv_dtype(raw["quantization"]))
        contexts = []
        for i, ctx in enumerate(raw["contexts"]):
            row = {"context": ctx}
            for key in ("ttft_s", "prefill_tok_s", "decode_tok_s"):
                row[key] = spread([r["contexts"][i][key] for r in runs])
            read = bytes_per_token(raw["weight_bytes"][engine], raw["model_config"], kv_dtype, ctx)
            decode = row["decode_tok_s"]["median"] if row["decode_tok_s"] else None
            row["bytes_per_token"] = read
            row["roofline_fraction"] = roofline_fraction(read, decode, bw.get("bytes_per_s"))
            contexts.append(row)
        engines[engine] = {
            "backend": backend,
            "cold_load_s": spread([r["cold_load_s"] for r in runs]),
            "warm_load_s": spread([r["warm_load_s"] for r in runs]),
            "gpu_buffer_bytes": spread([r.get("gpu_buffer_bytes") for r in runs]),
            "js_heap_bytes": spread([r.get("js_heap_bytes") for r in runs]),
            "bandwidth": bw or None,
            "contexts": contexts,
        }
    return {k: raw[k] for k in ("model", "quantization", "gpu", "contexts", "new_tokens",
                                "toolchain")} | {
        "webgpu": report_webgpu(raw),
        "adapter": next((r.get("adapter") for r in raw["runs"] if r.get("adapter")), None),
        "runs_per_engine": max(sum(r["engine"] == e for r in raw["runs"]) for e in engines),
        "engines": engines,
        "decode_cost": raw.get("decode_cost") and {**raw["decode_cost"],
                                                   "modeled": modeled(raw["decode_cost"])},
    }


def _fmt(s: dict | None, digits: int = 2) -> str:
    if s is None:
        return "-"
    if s["n"] == 1 or s["min"] == s["max"]:
        return f"{s['median']:.{digits}f}"
    return f"{s['median']:.{digits}f} ({s['min']:.{digits}f}-{s['max']:.{digits}f})"


def _percent(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.1%}" if x >= 0.01 else f"{x * 100:.2g}%"  # small ones keep two digits


def _mb(s: dict | None) -> str:
    return _fmt(s and {**s, **{k: s[k] / 2**20 for k in ("median", "min", "max")}}, 0)


def where(summary: dict) -> str:
    """The WebGPU a report's runs had, in words."""
    webgpu = report_webgpu(summary)
    return "real GPU" if webgpu == "gpu" else f"{WEBGPU_LABELS[webgpu]} (CPU WebGPU)"


def markdown(summary: dict, command: str) -> str:
    adapter = summary.get("adapter") or {}
    lines = [
        f"`{command}`",
        "",
        f"{summary['model']} ({summary['quantization']}), headless Chromium, {where(summary)}; "
        f"adapter "
        f"{adapter.get('vendor') or '?'} {adapter.get('architecture') or ''}; "
        f"{summary['new_tokens']} new tokens, greedy; median (min-max) of "
        f"{summary['runs_per_engine']} run(s).",
        "",
        "| engine | backend | cold load s | warm load s | context | TTFT s | prefill tok/s "
        "| decode tok/s | roofline | GPU buffers MB | JS heap MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, e in summary["engines"].items():
        for i, c in enumerate(e["contexts"]):
            first = i == 0
            lines.append(
                f"| {name if first else ''} | {e['backend'] if first else ''} "
                f"| {_fmt(e['cold_load_s'], 1) if first else ''} "
                f"| {_fmt(e['warm_load_s'], 1) if first else ''} | {c['context']} "
                f"| {_fmt(c['ttft_s'])} | {_fmt(c['prefill_tok_s'])} | {_fmt(c['decode_tok_s'])} "
                f"| {_percent(c['roofline_fraction'])} "
                f"| {_mb(e['gpu_buffer_bytes']) if first else ''} "
                f"| {_mb(e['js_heap_bytes']) if first else ''} |")
    lines += _decode_cost_lines(summary.get("decode_cost"))
    bws = {n: e["bandwidth"] for n, e in summary["engines"].items() if e["bandwidth"]}
    for name, bw in bws.items():
        lines.append("")
        lines.append(f"Bandwidth for {name}'s roofline: {bw['bytes_per_s'] / 1e9:.1f} GB/s "
                     f"({bw['method']}).")
    return "\n".join(lines) + "\n"


def _decode_cost_lines(c: dict | None) -> list[str]:
    """The WebLLM build's dispatches per decoded token and the speed they model on real GPUs:
    counted from its compiled functions, not measured (SwiftShader's speed is a CPU's)."""
    if not c:
        return []
    gpus = ", ".join(f"{m['gpu']} {m['tokens_per_s']:.1f}" for m in c["modeled"])
    return ["", f"WebLLM build {c['model_id']}: {c['dispatches']} dispatches per decoded token "
            f"({c['per_layer']} a layer x {c['layers']}, {c['sampling']} sampling); bytes floor "
            f"{c['floor_bytes'] / 1e6:.1f} MB at {c['context']} positions. Modeled decode tok/s "
            f"(floor / bandwidth + dispatches x per-dispatch cost, webslm/bench/costmodel.py): "
            f"{gpus}."]


def plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for name, e in summary["engines"].items():
        points = [(c["context"], c["decode_tok_s"]) for c in e["contexts"] if c["decode_tok_s"]]
        if not points:
            continue
        xs = [p[0] for p in points]
        ax.plot(xs, [p[1]["median"] for p in points], marker="o", label=f"{name} ({e['backend']})")
        ax.fill_between(xs, [p[1]["min"] for p in points], [p[1]["max"] for p in points], alpha=0.2)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")  # engines differ by orders of magnitude on a CPU WebGPU
    ax.set_xlabel("context length (tokens)")
    ax.set_ylabel("decode tokens/s")
    ax.set_title(f"{summary['model']} - {WEBGPU_LABELS[report_webgpu(summary)]}")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_outputs(out: Path, kind: str, summary: dict, raw: dict, command: str,
                  text: str, draw) -> dict[str, Path]:
    """<kind>-<model>-<gpu|swiftshader|lavapipe>.{json,md,png} under out: every bench report's
    files."""
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{kind}-{summary['model']}-{report_webgpu(summary)}"
    paths = {"json": out / f"{stem}.json", "markdown": out / f"{stem}.md", "plot": out / f"{stem}.png"}
    paths["json"].write_text(json.dumps({"command": command, "summary": summary, "raw": raw},
                                        indent=1) + "\n")
    paths["markdown"].write_text(text)
    draw(summary, paths["plot"])
    return paths


def write_reports(raw: dict, out: Path, command: str) -> dict[str, Path]:
    summary = summarize(raw)
    return write_outputs(out, "bench", summary, raw, command, markdown(summary, command), plot)
