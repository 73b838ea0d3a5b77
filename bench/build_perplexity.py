"""Perplexity of every build of one model against its source, on the first N tokens of
tests/data/eval_text.txt in one window (BOS first, as llama.cpp and transformers.js start),
by paths that are fast on 2 cores and independent of the compiled kernels:

- a WebLLM build: transformers carrying exactly the weights it stores (its tensor cache,
  dequantized and split back to HF names: verify/reference.py's stored_as_hf). `webslm
  verify` holds the compiled kernels to those weights separately (its max |logit diff|), so
  this measures the quantization; the TVM CPU twin would score a 262k vocabulary for 40+ min;
- a CPU build: each ONNX dtype run by onnxruntime (the graph transformers.js runs), and its
  GGUF read back by transformers (the source itself when the build serves it as it is);
- the source, in transformers float32: the reference.

Besides perplexity: top-1 agreement with the source, and how far each build's weights are
from the source's by the source's GGUF type (relative RMS error over the tensors stored in
that type): which grid carries Q4_K, Q6_K, Q5_0 and Q8_0.

    .venv/bin/python bench/build_perplexity.py DIST/gemma-3-270m-* --tokens 1024
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer

from webslm.artifacts.files import onnx_filename
from webslm.artifacts.manifest import read_manifest
from webslm.artifacts.tensor_cache_reader import read_tensor_cache
from webslm.compile.spec import ParamSpec
from webslm.onnx.runner import OnnxLM
from webslm.onnx.weights import dequantized_weights
from webslm.quantize.schemes import QuantScheme
from webslm.source import open_source
from webslm.verify import EVAL_TEXT
from webslm.verify.perplexity import negative_log_likelihoods
from webslm.verify.reference import load_weights_into, stored_as_hf
from webslm.verify.twin import open_manifest_source


def score(logits: np.ndarray, ids: list[int], source_top1: np.ndarray | None) -> dict:
    """Perplexity of ids[1:] under logits[:-1], and top-1 agreement with the source."""
    ppl = math.exp(float(negative_log_likelihoods(logits[:-1], ids[1:]).mean()))
    row = {"perplexity": ppl}
    if source_top1 is not None:
        row["top1_vs_source"] = float((logits.argmax(-1) == source_top1).mean())
    return row


def weight_error(weights: dict[str, np.ndarray], source, original: dict[str, torch.Tensor]
                 ) -> dict[str, float]:
    """Relative RMS error of a build's weights against the source's, by the source's GGUF
    type (only the tensors the build quantizes, as the caller passes them)."""
    err, norm = defaultdict(float), defaultdict(float)
    stored = set(source.tensor_names())
    for name, w in weights.items():
        # a tied lm_head is the embedding, stored once
        typed = "model.embed_tokens.weight" if name == "lm_head.weight" else name
        kind = source.tensor_type(typed) if typed in stored else None
        if name not in original or kind is None:
            continue
        ref = original[name].double().numpy()
        err[kind] += float(((w.astype(np.float64) - ref) ** 2).sum())
        norm[kind] += float((ref ** 2).sum())
    return {k: math.sqrt(err[k] / norm[k]) for k in sorted(err)}


class Reference:
    """One transformers model, reloaded with each build's weights (loading a GGUF source
    takes ~45 s; copying weights in, a second)."""

    def __init__(self, source, ids: list[int]):
        self.source, self.ids = source, ids
        self.model = source.load_reference_model()
        self.original = {k: v.clone() for k, v in self.model.state_dict().items()}
        self.hf_shapes = {k: tuple(v.shape) for k, v in self.original.items()}

    @torch.no_grad()
    def logits(self, weights: dict[str, np.ndarray] | None = None) -> np.ndarray:
        load_weights_into(self.model, {k: v.numpy() for k, v in self.original.items()})
        if weights:
            load_weights_into(self.model, weights)
        return self.model(torch.tensor([self.ids])).logits[0].float().numpy()


def webllm_rows(artifact: Path, manifest: dict, ref: Reference, top1) -> dict:
    stored = read_tensor_cache(artifact)
    params = [ParamSpec(name, tuple(a.shape), str(a.dtype)) for name, a in stored.items()]
    from webslm.arch import find_architecture

    weights = stored_as_hf(stored, params, find_architecture(ref.source.config).weight_map,
                           ref.hf_shapes, QuantScheme.from_build(manifest["build"]))
    row = score(ref.logits(weights), ref.ids, top1)
    row["weight_error"] = weight_error(weights, ref.source, ref.original)
    return {manifest["build"]["quantization"]: row}


def cpu_rows(artifact: Path, manifest: dict, ref: Reference, top1) -> dict:
    rows = {}
    for dtype in manifest["build"]["dtypes"]:
        path = artifact / "onnx" / onnx_filename(dtype)
        row = score(OnnxLM(path).logits(ref.ids), ref.ids, top1)
        if dtype != "fp32":
            row["weight_error"] = weight_error(
                dequantized_weights(path, ref.hf_shapes, ref.source.config), ref.source,
                ref.original)
        rows[f"onnx {dtype}"] = row
    for qtype, entry in manifest["build"].get("gguf", {}).items():
        weights = dict(open_source(str(artifact / entry["file"])).tensors())
        row = score(ref.logits(weights), ref.ids, top1)
        row["weight_error"] = weight_error(weights, ref.source, ref.original)
        rows[f"gguf {qtype}"] = row
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("artifacts", type=Path, nargs="+", help="builds of one model (any backend)")
    ap.add_argument("--tokens", type=int, default=1024)
    a = ap.parse_args()
    started = time.time()
    manifests = {d: read_manifest(d) for d in a.artifacts}
    source = open_manifest_source(next(iter(manifests.values())))
    tokenizer = Tokenizer.from_file(str(source.tokenizer_dir / "tokenizer.json"))
    ids = tokenizer.encode(EVAL_TEXT.read_text(encoding="utf-8")).ids[:a.tokens]
    ref = Reference(source, ids)
    source_logits = ref.logits()
    top1 = source_logits.argmax(-1)
    rows = {"source": score(source_logits, ids, None)}
    del source_logits
    for artifact, manifest in manifests.items():
        if manifest["build"].get("engine") == "transformers.js":
            rows.update(cpu_rows(artifact, manifest, ref, top1))
        else:
            rows.update(webllm_rows(artifact, manifest, ref, top1))
        print(f"{artifact.name}: {time.time() - started:.0f} s", flush=True)
    base = rows["source"]["perplexity"]
    for row in rows.values():
        row["increase"] = row["perplexity"] / base - 1
    print(json.dumps({"source": source.id, "tokens": len(ids), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
