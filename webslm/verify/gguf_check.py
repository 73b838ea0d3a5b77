"""`webslm verify DIR`'s check of the CPU engine's GGUF: its tensors read back through
transformers' GGUF support (its tensor names and q/k row order, not ours) into the source's
model, run in PyTorch against the source. This proves the file is the model, quantized;
llama.cpp's kernels themselves are checked in the browser (tests/serve/test_wllama_engine.py).
(The weights go into the source's model, not one configured from the GGUF: transformers'
GGUF config reader ignores attention.key_length, so a head_dim apart from hidden / heads
would be lost.)"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from webslm.verify.reference import load_weights_into, teacher_forced_logits

# qtype -> the least top-1 agreement with the source. Measured on SmolLM2-135M (64 tokens):
# Q8_0 98%, the same as the source run twice in different orders of summation allows.
# A type webslm does not write (Q4_K_M) is a GGUF source served as it is: the source itself.
MIN_TOP1 = {"Q8_0": 0.9, "Q4_0": 0.6, "F32": 0.99}


def min_top1(qtype: str) -> float:
    return MIN_TOP1.get(qtype, MIN_TOP1["F32"])


@dataclasses.dataclass
class GgufReport:
    qtype: str
    max_abs_diff: float   # vs the source model's logits
    top1_vs_source: float
    nll_increase: float   # mean negative log-likelihood of the next token, minus the source's

    @property
    def passed(self) -> bool:
        return self.top1_vs_source >= min_top1(self.qtype)

    def lines(self) -> list[str]:
        return [f"gguf {self.qtype:6s} top-1 vs source {self.top1_vs_source:.1%} "
                f"(>= {min_top1(self.qtype):.0%}) {'ok' if self.passed else 'FAIL'}; "
                f"max |logit diff| {self.max_abs_diff:.2f}, next-token NLL {self.nll_increase:+.4f}"]


def _nll(logits: np.ndarray, ids: list[int]) -> float:
    logits = logits[:-1].astype(np.float64)
    top = logits.max(-1, keepdims=True)
    log_z = top[:, 0] + np.log(np.exp(logits - top).sum(-1))
    return float((log_z - logits[np.arange(len(ids) - 1), ids[1:]]).mean())


def verify_gguf(directory: Path, qtype: str, entry: dict, source, ids: list[int],
                source_logits: np.ndarray) -> GgufReport:
    from webslm.source import open_source

    stored = open_source(str(Path(directory) / entry["file"]))
    model = source.load_reference_model()
    load_weights_into(model, dict(stored.tensors()))
    logits = teacher_forced_logits(model, ids)
    return GgufReport(qtype, float(np.abs(logits - source_logits).max()),
                      float((logits.argmax(-1) == source_logits.argmax(-1)).mean()),
                      _nll(logits, ids) - _nll(source_logits, ids))
