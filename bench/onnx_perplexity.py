"""Perplexity of ONNX builds (onnxruntime, CPU) against transformers on the source weights,
over the first N tokens of tests/data/eval_text.txt in one window: the quality column of
docs/BENCHMARKS.md's CPU-path table.

    .venv/bin/python bench/onnx_perplexity.py dist/smollm2-135m-onnx --tokens 512
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer

from webslm.artifacts.onnx_files import onnx_filename
from webslm.onnx.runner import OnnxLM
from webslm.verify import EVAL_TEXT
from webslm.verify.twin import open_manifest_source, read_manifest


def perplexity(logits: np.ndarray, ids: list[int]) -> float:
    shifted = logits[:-1] - logits[:-1].max(-1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    return float(np.exp(-logp[np.arange(len(ids) - 1), ids[1:]].mean()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("artifact", type=Path, help="an ONNX build from `webslm build --backend onnx`")
    ap.add_argument("--tokens", type=int, default=512)
    a = ap.parse_args()
    manifest = read_manifest(a.artifact)
    source = open_manifest_source(manifest)
    tokenizer = Tokenizer.from_file(str(a.artifact / "tokenizer.json"))
    ids = tokenizer.encode(EVAL_TEXT.read_text(encoding="utf-8")).ids[:a.tokens]
    with torch.no_grad():
        ref = source.load_reference_model()(torch.tensor([ids])).logits[0].float().numpy()
    base = perplexity(ref, ids)
    rows = {"source": {"perplexity": base}}
    for dtype in manifest["build"]["dtypes"]:
        logits = OnnxLM(a.artifact / "onnx" / onnx_filename(dtype)).logits(ids)
        ppl = perplexity(logits, ids)
        rows[dtype] = {"perplexity": ppl, "increase": ppl / base - 1,
                       "top1_vs_source": float((logits.argmax(-1) == ref.argmax(-1)).mean())}
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
