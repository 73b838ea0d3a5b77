"""A fine-tune merged or kept as its own weights, as built: what each costs to download (the
first fine-tune of a base, and each further one), dispatches per decoded token and the bytes
a token reads, with the GPU cost model's speeds. Quality comes from bench/adapter_placement.py.

    python bench/adapter_builds.py LORA_DIR [--out results/adapter-builds] [--work DIR [--reuse]]

Builds SmolLM2-135M with the adapter merged (q4f32_1, `webslm build --lora`) and kept apart
(`--keep-adapter`) over q4f32_asym and over q4f32_nf4, each beside its base build.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from decode_cost_static import static_cost  # noqa: E402

from webslm.artifacts.files import webgpu_build_id  # noqa: E402
from webslm.artifacts.manifest import read_manifest  # noqa: E402
from webslm.bench.costmodel import GPUS, estimate  # noqa: E402
from webslm.cli import main as webslm  # noqa: E402

VARIANTS = (  # (label, quantization, kept apart)
    ("merged, q4f32_1", "q4f32_1", False),
    ("separate, q4f32_asym base", "q4f32_asym", True),
    ("separate, NF4 base (q4f32_nf4)", "q4f32_nf4", True),
)


GZIPPED = (".wasm", ".json")  # what `webslm serve` (and a static host set up as EMBEDDING.md says) gzips


def own_bytes(artifact: Path, wire: bool = False) -> int:
    """The build's own files; wire: as sent gzipped (the library, tokenizer and JSON)."""
    names = read_manifest(artifact)["files"]
    return sum(len(gzip.compress((artifact / n).read_bytes(), 6)) if wire and n.endswith(GZIPPED)
               else f["bytes"] for n, f in names.items())


def measure(lora: Path, work: Path, reuse: bool = False) -> list[dict]:
    rows = []
    for label, quantization, kept in VARIANTS:
        dist = work / quantization / ("kept" if kept else "merged")
        args = ["build", "smollm2-135m", "--lora", str(lora), "--quantization", quantization,
                "--backend", "webgpu", "--out", str(dist), "--force"]
        name = webgpu_build_id(lora.name, quantization)
        artifact = dist / name
        if not (reuse and artifact.is_dir()):
            assert webslm(args + (["--keep-adapter"] if kept else [])) == 0, label
        manifest = read_manifest(artifact)
        shared = sum(f["bytes"] for f in manifest["build"].get("base", {}).get("files", {}).values())
        cost = static_cost(artifact)
        rows.append({"variant": label, "first_download": own_bytes(artifact) + shared,
                     "next_download": own_bytes(artifact) if kept else own_bytes(artifact) + shared,
                     "next_download_gzip": own_bytes(artifact, wire=True) + (0 if kept else shared),
                     "adapter_bytes": manifest["build"].get("adapter", {}).get("bytes", 0),
                     **cost,
                     "modeled": {g.name: round(estimate(cost["floor_bytes"], cost["floor_bytes"],
                                                        cost["dispatches"], g).tokens_per_s, 1)
                                 for g in GPUS}})
    return rows


def table(rows: list[dict]) -> str:
    gpus = [g.name for g in GPUS]
    head = ["variant", "first fine-tune download", "each further fine-tune (gzipped)", "dispatches / token",
            "per layer", "bytes / token (floor)", *[f"modeled tok/s, {g}" for g in gpus]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append(f"| {r['variant']} | {r['first_download'] / 1e6:.1f} MB | "
                     f"{r['next_download'] / 1e6:.1f} MB ({r['next_download_gzip'] / 1e6:.1f} MB) | "
                     f"{r['dispatches']} | {r['per_layer']} | "
                     f"{r['floor_bytes'] / 1e6:.1f} MB | "
                     + " | ".join(f"{r['modeled'][g]:.0f}" for g in gpus) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("lora", type=Path, help="a LoRA adapter folder for SmolLM2-135M-Instruct")
    parser.add_argument("--out", default="results/adapter-builds")
    parser.add_argument("--work", type=Path, help="where the builds go (default: a temporary folder)")
    parser.add_argument("--reuse", action="store_true", help="measure builds already in --work")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="webslm-adapter-builds-"))
    rows = measure(args.lora, work, args.reuse)
    text = table(rows)
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "builds.json").write_text(json.dumps(rows, indent=2))
    (out / "builds.md").write_text(text + "\n")
    print(f"written: {out / 'builds.md'}, {out / 'builds.json'}")


if __name__ == "__main__":
    main()
