"""How close each way of building a fine-tune comes to the fine-tune itself, measured before
anything is compiled.

A candidate is a scheme and a placement: the adapter merged into the weights on that grid,
or kept apart (y = Q(W) x + s B (A x)) over that grid's base. Each runs in transformers on
exactly the weights its build would store (the float32 twin of an f16 scheme: same grids),
and is held to PEFT running the adapter unmerged over the float base, the model the trainer
checked. Scores: top-1 agreement and mean KL(PEFT || candidate) over a window of the eval
text and over PEFT's greedy answers to the adapter's own prompts (prompts.txt in the adapter
folder, one user message a line, rendered with the fine-tune's chat template), and how many
of those answers the candidate gives token for token. On SmolLM2-135M a comparison takes
seconds to a minute on 2 cores.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from webslm.arch.record import WeightMap
from webslm.compile.spec import LORA_STORAGE
from webslm.errors import WebslmError
from webslm.quantize.schemes import QuantScheme
from webslm.quantize.survival import stored_weight, tensor_grid
from webslm.source.merged import MergedSource, base_shape
from webslm.verify import EVAL_TEXT

PROMPTS_FILE = "prompts.txt"
EVAL_TOKENS = 160       # one window of the eval text
ANSWER_TOKENS = 32      # PEFT's greedy answer to each prompt, at most
MAX_PROMPTS = 8


@dataclasses.dataclass(frozen=True)
class Candidate:
    scheme: QuantScheme
    kept: bool              # the adapter kept apart over the scheme's base, else merged

    @property
    def label(self) -> str:
        return f"kept apart over {self.scheme.name}" if self.kept else f"merged, {self.scheme.name}"


@dataclasses.dataclass
class Score:
    candidate: Candidate
    agreement: float        # top-1 = PEFT's, over the eval window and the prompts' answers
    kl: float               # mean KL(PEFT || candidate) over the same positions
    answered: int           # prompts whose greedy answer is PEFT's, token for token
    megabytes: float        # its download: the stored weights (and the adapter, kept apart)

    def row(self, prompts: int) -> dict:
        return {"build": self.candidate.label, "quantization": self.candidate.scheme.name,
                "kept_adapter": self.candidate.kept, "megabytes": round(self.megabytes, 1),
                "top1_agreement": round(self.agreement, 4), "mean_kl": round(self.kl, 4),
                "prompts_answered": self.answered, "prompts": prompts}


def read_prompts(adapter_dir: Path) -> list[str]:
    path = Path(adapter_dir) / PROMPTS_FILE
    if not path.is_file():
        return []
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if line][:MAX_PROMPTS]


@dataclasses.dataclass
class Reference:
    """PEFT's logits on the scored token sequences, and where each prompt's answer starts."""

    sequences: list[list[int]]     # the eval window, then each prompt + PEFT's answer
    starts: list[int]              # the first scored position of each (0: every position)
    logits: list[np.ndarray]
    answers: list[str]             # PEFT's greedy answers, as text

    @property
    def prompts(self) -> int:
        return len(self.sequences) - 1


def reference(source: MergedSource, prompts: list[str]) -> Reference:
    import torch
    from transformers import AutoTokenizer

    from webslm.verify.reference import teacher_forced_logits

    tokenizer = AutoTokenizer.from_pretrained(source.tokenizer_dir)
    if not tokenizer.chat_template:  # a base model's tokenizer (Gemma 3 270M's), none saved
        raise WebslmError(
            "the fine-tune has no chat template to ask its prompts.txt with (neither the "
            "adapter folder nor the base model carries one)",
            "save the tokenizer with the adapter (tokenizer.save_pretrained(adapter_dir), as "
            "the trainers do when they set a chat template), or name the build with "
            "--quantization to skip the comparison")
    text = EVAL_TEXT.read_text(encoding="utf-8")
    sequences = [tokenizer(text, add_special_tokens=False)["input_ids"][:EVAL_TOKENS]]
    starts, answers = [0], []
    model = source.load_source_model()
    for prompt in prompts:
        ids = tokenizer.apply_chat_template([{"role": "user", "content": prompt}],
                                            add_generation_prompt=True, return_dict=True,
                                            return_tensors="pt")["input_ids"]
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=ANSWER_TOKENS, do_sample=False)
        sequences.append(out[0].tolist())
        starts.append(ids.shape[1] - 1)  # the logits that predict the answer's first token
        answers.append(tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip())
    logits = [teacher_forced_logits(model, s) for s in sequences]
    return Reference(sequences, starts, logits, answers)


def score(source: MergedSource, candidates: list[Candidate], ref: Reference,
          weight_map: WeightMap) -> list[Score]:
    """Each candidate's agreement with the reference; one transformers model is reloaded with
    each candidate's weights in turn (weight_map: the architecture's, for per-linear grids)."""
    from webslm.verify.reference import load_weights_into, teacher_forced_logits

    model = source.load_reference_model()
    names = [n for n, p in model.named_parameters() if p.dim() == 2]
    scores = []
    for candidate in candidates:
        load_weights_into(model, {n: _weight(source, n, candidate, weight_map) for n in names})
        agree = kl = answered = positions = 0
        for i, (ids, start, want) in enumerate(zip(ref.sequences, ref.starts, ref.logits)):
            got = teacher_forced_logits(model, ids)[start:-1]
            want = want[start:-1]
            same = got.argmax(-1) == want.argmax(-1)
            agree += int(same.sum())
            kl += float(_kl(want, got).sum())
            positions += len(same)
            answered += int(i > 0 and bool(same.all()))
        scores.append(Score(candidate, agree / positions, kl / positions, answered,
                            stored_megabytes(source, candidate, weight_map)))
    return scores


def _weight(source: MergedSource, name: str, candidate: Candidate, weight_map: WeightMap
            ) -> np.ndarray:
    """What the candidate computes with for one HF matrix, in float32."""
    scheme = candidate.scheme.f32_twin
    low_rank = source.adapter.low_rank.get(name)
    if candidate.kept and low_rank is not None:
        return stored_weight(name, source.base_tensor(name), scheme, weight_map) + low_rank.delta()
    return stored_weight(name, source.get_tensor(name), scheme, weight_map)


def _kl(p_logits: np.ndarray, q_logits: np.ndarray) -> np.ndarray:
    """KL(p || q) per position (torch: a vocabulary of 50k-150k logits a position)."""
    import torch

    p = torch.log_softmax(torch.from_numpy(p_logits).float(), -1)
    q = torch.log_softmax(torch.from_numpy(q_logits).float(), -1)
    return (p.exp() * (p - q)).sum(-1).clamp(min=0).double().numpy()


def stored_megabytes(source: MergedSource, candidate: Candidate, weight_map: WeightMap) -> float:
    """Weights on their grids (codes, scales, minimums; each linear on its own: tensor_grid),
    plus a kept adapter's A and B as stored (LORA_STORAGE, in every build)."""
    scheme = candidate.scheme
    float_bytes = 2 if scheme.act_dtype == "float16" else 4
    total = 0.0
    for name in source.tensor_names():
        whole = source.adapter.whole.get(name)
        shape = whole.shape if whole is not None else base_shape(source.base, name)
        elements = math.prod(shape)
        if len(shape) != 2 or not scheme.quantized:
            total += elements * float_bytes
            continue
        grid = tensor_grid(name, scheme, weight_map)
        total += elements * grid.bits_per_weight(scheme.act_dtype) / 8
    if candidate.kept:
        total += sum(lr.a.size + lr.b.size for lr in source.adapter.low_rank.values()) \
            * np.dtype(LORA_STORAGE).itemsize
    return total / 1e6
