"""`webslm verify DIR` for an ONNX (transformers.js) build: run each dtype with onnxruntime
and compare against PyTorch.

fp32 must match transformers on the source weights. A 4-bit dtype is checked twice: against
transformers running the very weights the graph stores (dequantized from its MatMulNBits
blobs: this isolates the ONNX kernels), and against the source model (the quantization loss).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

import numpy as np

from webslm.artifacts.files import onnx_filename
from webslm.onnx.runner import OnnxLM
from webslm.onnx.weights import dequantized_weights
from webslm.quantize.onnx_dtypes import ONNX_DTYPES
from webslm.verify.check import sample_token_ids
from webslm.verify.gguf_check import GgufReport, verify_gguf
from webslm.verify.reference import load_weights_into, teacher_forced_logits


@dataclasses.dataclass
class OnnxDtypeReport:
    dtype: str
    positions: int
    max_abs_diff: float        # vs transformers on the stored weights (source for fp32)
    top1_vs_stored: float
    top1_vs_source: float

    @property
    def passed(self) -> bool:
        d = ONNX_DTYPES[self.dtype]
        return self.max_abs_diff < d.max_logit_diff and self.top1_vs_stored >= d.min_top1

    def lines(self) -> list[str]:
        d = ONNX_DTYPES[self.dtype]  # quantize/onnx_dtypes.py says why these bounds
        return [f"onnx {self.dtype:6s} max |logit diff| {self.max_abs_diff:.2e} "
                f"(< {d.max_logit_diff:g}), top-1 vs stored weights {self.top1_vs_stored:.1%} "
                f"(>= {d.min_top1:.0%}) "
                f"{'ok' if self.passed else 'FAIL'}; top-1 vs source {self.top1_vs_source:.1%}"]


@dataclasses.dataclass
class OnnxVerifyReport:
    dtypes: list[OnnxDtypeReport]
    ggufs: list[GgufReport] = dataclasses.field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(d.passed for d in [*self.dtypes, *self.ggufs])

    def lines(self) -> list[str]:
        return [line for d in [*self.dtypes, *self.ggufs] for line in d.lines()]


def verify_onnx_artifact(directory: Path, source, manifest: dict,
                         progress: Callable[[str], None] = print) -> OnnxVerifyReport:
    ids = sample_token_ids(Path(source.tokenizer_dir))  # a GGUF-alone CPU build has no tokenizer.json
    reference = source.load_reference_model()
    source_logits = teacher_forced_logits(reference, ids)
    hf_shapes = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
    reports = []
    for dtype in manifest["build"]["dtypes"]:
        path = Path(directory) / "onnx" / onnx_filename(dtype)
        progress(f"run {path.name} with onnxruntime ({len(ids)} tokens)")
        logits = OnnxLM(path).logits(ids)
        if dtype == "fp32":
            stored = source_logits
        else:
            model = source.load_reference_model()
            load_weights_into(model, dequantized_weights(path, hf_shapes, source.config))
            stored = teacher_forced_logits(model, ids)
        reports.append(OnnxDtypeReport(
            dtype, len(ids), float(np.abs(logits - stored).max()),
            float((logits.argmax(-1) == stored.argmax(-1)).mean()),
            float((logits.argmax(-1) == source_logits.argmax(-1)).mean())))
    ggufs = []
    for qtype, entry in manifest["build"].get("gguf", {}).items():
        progress(f"read {entry['file']} back through transformers ({len(ids)} tokens)")
        ggufs.append(verify_gguf(Path(directory), qtype, entry, source, ids, source_logits))
    return OnnxVerifyReport(reports, ggufs)
