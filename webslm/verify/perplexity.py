"""`webslm eval DIR...`: perplexity of a build on a fixed text, against its unquantized source.

The build is scored by its CPU twin (the compiled kernels on the stored weights, through
batch_verify: the prefill path with every position's logits); the source by transformers in
float32. Both see the same token windows, each starting with an empty
KV cache, so the only difference between the two numbers is quantization (and kernel error,
which `webslm verify` bounds separately).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Callable

import numpy as np

from webslm.artifacts.manifest import read_manifest
from webslm.compile.cpu_model import CpuModel
from webslm.errors import WebslmError
from webslm.source.base import ModelSource
from webslm.verify import EVAL_TEXT
from webslm.verify.reference import teacher_forced_logits
from webslm.verify.twin import load_cpu_twin

DEFAULT_TEXT = EVAL_TEXT
DEFAULT_WINDOW = 512  # the CLI default repeats it, to keep `webslm --help` free of TVM


@dataclasses.dataclass
class EvalReport:
    artifact: str
    quantization: str
    text: str
    tokens: int                 # tokens scored (every window loses its first as context)
    window: int
    perplexity: float           # the build, on its CPU twin
    source_perplexity: float    # the unquantized source model in transformers

    @property
    def increase(self) -> float:
        return self.perplexity / self.source_perplexity - 1.0

    def line(self) -> str:
        return (f"{self.artifact:32s} {self.quantization:8s} ppl {self.perplexity:8.3f}  "
                f"source {self.source_perplexity:8.3f}  {self.increase:+7.2%}  "
                f"({self.tokens} tokens, window {self.window})")


def text_token_ids(tokenizer_dir: Path, text_path: Path, max_tokens: int | None) -> list[int]:
    from tokenizers import Tokenizer

    if not text_path.is_file():
        raise WebslmError(f"evaluation text {text_path} does not exist",
                          "pass --text FILE (plain UTF-8 prose, a few thousand tokens)")
    ids = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json")).encode(
        text_path.read_text(encoding="utf-8"), add_special_tokens=False).ids
    if len(ids) < 2:
        raise WebslmError(f"{text_path} has fewer than 2 tokens", "use a longer text")
    return ids[:max_tokens] if max_tokens else ids


def windows(ids: list[int], size: int) -> list[list[int]]:
    """Non-overlapping windows; a trailing piece shorter than 2 tokens scores nothing."""
    return [ids[i:i + size] for i in range(0, len(ids), size) if len(ids[i:i + size]) >= 2]


def negative_log_likelihoods(logits: np.ndarray, targets: list[int]) -> np.ndarray:
    """-log softmax(logits[i])[targets[i]], in float64 for a stable sum over thousands of tokens."""
    logits = logits.astype(np.float64)
    top = logits.max(axis=-1, keepdims=True)
    log_z = top[:, 0] + np.log(np.exp(logits - top).sum(axis=-1))
    return log_z - logits[np.arange(len(targets)), targets]


def twin_logits(cpu: CpuModel, window: list[int]) -> np.ndarray:
    """Logits predicting window[1:], from an empty KV cache: one pass for a window that fits
    the prefill chunk (CpuModel takes a longer one's later tokens one at a time, many times
    slower on the CPU)."""
    cpu.reset()
    return cpu.score(window[:-1])


def perplexity_of(logit_fn: Callable[[list[int]], np.ndarray], chunks: list[list[int]]) -> float:
    nll = np.concatenate([negative_log_likelihoods(logit_fn(w), w[1:]) for w in chunks])
    return math.exp(float(nll.mean()))


def evaluate_artifacts(artifact_dirs: list[Path], text_path: Path = DEFAULT_TEXT,
                       window: int = DEFAULT_WINDOW, max_tokens: int | None = None,
                       progress: Callable[[str], None] | None = None,
                       reference: ModelSource | None = None) -> list[EvalReport]:
    """reference: the model every build is scored against (e.g. base + adapter, run by PEFT),
    instead of each build's own recorded source."""
    say = progress or (lambda _m: None)
    for d in artifact_dirs:
        read_manifest(d)  # reject a wrong directory before any compile
    source_ppl: dict[tuple[str, int], float] = {}  # one transformers run per source and window
    reports = []
    for artifact_dir in map(Path, artifact_dirs):
        say(f"{artifact_dir.name}: compiling the CPU twin")
        twin = load_cpu_twin(artifact_dir)
        size = min(window, twin.manifest["build"]["context_window"])
        ids = text_token_ids(artifact_dir, Path(text_path), max_tokens)
        chunks = windows(ids, size)
        source = reference or twin.source
        key = (source.id, tuple(str(p) for p in source.files), size, len(ids))
        if key not in source_ppl:
            say(f"{artifact_dir.name}: scoring {source.id} in transformers")
            model = source.load_source_model()
            source_ppl[key] = perplexity_of(lambda w: teacher_forced_logits(model, w)[:-1], chunks)
            del model
        say(f"{artifact_dir.name}: scoring {sum(len(c) - 1 for c in chunks)} tokens on the CPU twin")
        cpu = CpuModel(twin.compiled, twin.stored)
        reports.append(EvalReport(
            artifact=artifact_dir.name, quantization=twin.quantization, text=Path(text_path).name,
            tokens=sum(len(c) - 1 for c in chunks), window=size,
            perplexity=perplexity_of(lambda w: twin_logits(cpu, w), chunks),
            source_perplexity=source_ppl[key]))
    return reports
