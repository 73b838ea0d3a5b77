"""Perplexity of ONNX builds (onnxruntime, CPU) against transformers on the source weights,
over the first N tokens of tests/data/eval_text.txt in one window: the quality column of
docs/BENCHMARKS.md's CPU-path table. The build's GGUFs too: transformers on the weights each
stores (read back by its GGUF support), once as stored and once with every linear layer's
input rounded as llama.cpp's CPU kernels round it (8-bit blocks of 32 with an fp16 scale).

    .venv/bin/python bench/onnx_perplexity.py dist/smollm2-135m-cpu --tokens 512
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer

from webslm.artifacts.files import onnx_filename
from webslm.artifacts.manifest import read_manifest
from webslm.onnx.runner import OnnxLM
from webslm.source import open_source
from webslm.verify import EVAL_TEXT
from webslm.verify.reference import load_weights_into
from webslm.verify.twin import open_manifest_source


def perplexity(logits: np.ndarray, ids: list[int]) -> float:
    shifted = logits[:-1] - logits[:-1].max(-1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    return float(np.exp(-logp[np.arange(len(ids) - 1), ids[1:]].mean()))


def _round_input(module, args):
    """llama.cpp quantizes a quantized matmul's activations to Q8_0 before the dot products:
    blocks of 32 along the input, int8 values, one fp16 scale (largest |x| / 127) each."""
    x = args[0]
    blocks = x.reshape(*x.shape[:-1], -1, 32)
    scale = (blocks.abs().amax(-1, keepdim=True) / 127).half().float()
    rounded = torch.round(blocks / torch.where(scale == 0, 1, scale)) * scale
    return (rounded.reshape(x.shape), *args[1:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("artifact", type=Path, help="an ONNX build from `webslm build --backend cpu`")
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

    def score(logits: np.ndarray) -> dict:
        ppl = perplexity(logits, ids)
        return {"perplexity": ppl, "increase": ppl / base - 1,
                "top1_vs_source": float((logits.argmax(-1) == ref.argmax(-1)).mean())}

    for dtype in manifest["build"]["dtypes"]:
        logits = OnnxLM(a.artifact / "onnx" / onnx_filename(dtype)).logits(ids)
        rows[dtype] = score(logits)
    for qtype, entry in manifest["build"].get("gguf", {}).items():
        model = source.load_reference_model()
        load_weights_into(model, dict(open_source(str(a.artifact / entry["file"])).tensors()))
        for name, activations in (("", False), (", 8-bit activations", True)):
            hooks = [m.register_forward_pre_hook(_round_input) for m in model.modules()
                     if activations and isinstance(m, torch.nn.Linear)]
            with torch.no_grad():
                logits = model(torch.tensor([ids])).logits[0].float().numpy()
            for hook in hooks:
                hook.remove()
            rows[f"gguf {qtype}{name}"] = score(logits)
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
