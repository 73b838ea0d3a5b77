"""Fine-tunes in a build: choose the build whose answers are the fine-tune's, before the build
spends minutes compiling it.

For each scheme the user's flags (or models.yaml) ask for, the candidates are: the adapter
merged on that grid, merged on the family's other 4-bit grid, merged without 4-bit rounding
(a finer grid), and kept apart over the scheme's own base. verify/finetune_candidates.py
scores each against PEFT running the adapter unmerged; the build takes the one that agrees
best among those of comparable size (at most SIZE_SLACK times the scheme's own merged
build), prints the comparison and says which it picked. A scheme named exactly
(--quantization) is built as asked, with a warning when it keeps too little of the
fine-tune."""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

from webslm.arch.record import WeightMap
from webslm.errors import WebslmError
from webslm.quantize.schemes import SCHEMES, QuantScheme, get_scheme
from webslm.quantize.survival import SurvivalReport, survival
from webslm.source.base import ModelSource
from webslm.source.merged import MergedSource, base_shape

SIZE_SLACK = 1.25   # "comparable size": a kept adapter's A and B add 10-18% to a 4-bit base
# Each candidate is a float32 transformers model on the CPU: beyond this many parameters the
# comparison would take many minutes and gigabytes, and the asked scheme is built as named.
COMPARE_MAX_PARAMS = 2_000_000_000


def survival_report(source: MergedSource, scheme: QuantScheme, weight_map: WeightMap
                    ) -> SurvivalReport:
    return survival(source.changes(), scheme, weight_map)


@dataclasses.dataclass
class Choice:
    scheme: QuantScheme
    kept: bool                  # build the adapter kept apart over the scheme's base
    manifest: dict              # build.finetune_survival / build.finetune_choice


def choose_builds(source: ModelSource, arch, schemes: list[QuantScheme], exact: bool,
                  say: Callable[[str], None], can_keep: bool = True) -> list[Choice]:
    """One Choice per requested scheme (none but the requested ones for a plain model)."""
    if not isinstance(source, MergedSource):
        return [Choice(s, False, {}) for s in schemes]
    if exact:
        return [_as_named(source, s, arch.weight_map, say) for s in schemes]
    params = sum(math.prod(base_shape(source.base, n)) for n in source.base.tensor_names())
    if params > COMPARE_MAX_PARAMS:
        say(f"the fine-tune's builds are compared on models up to {COMPARE_MAX_PARAMS / 1e9:g}B "
            f"parameters; this one has {params / 1e9:.1f}B, so the asked schemes are built")
        return [_as_named(source, s, arch.weight_map, say) for s in schemes]
    from webslm.verify.finetune_candidates import Candidate, read_prompts, reference, score

    keepable = can_keep and _keepable(source, arch)
    prompts = read_prompts(source.adapter.path)
    say(f"comparing builds of the fine-tune with PEFT (the adapter unmerged) on the eval text"
        + (f" and {len(prompts)} prompts from the adapter's prompts.txt" if prompts else ""))
    ref = reference(source, prompts)
    measured: dict = {}  # (f32 twin, kept) -> Score: an f16 scheme is scored on its f32 twin
    choices = []
    for scheme in schemes:
        report = survival_report(source, scheme, arch.weight_map)
        for line in report.lines():
            say(line)
        candidates = [Candidate(scheme, False)]
        candidates += [Candidate(get_scheme(n), False) for n in scheme.fallbacks]
        if keepable:
            candidates.append(Candidate(_kept_base(source, scheme), True))
        todo = [c for c in candidates if (c.scheme.f32_twin.name, c.kept) not in measured]
        twins = [dataclasses.replace(c, scheme=c.scheme.f32_twin) for c in todo]
        for s in score(source, twins, ref, arch.weight_map):
            measured[(s.candidate.scheme.name, s.candidate.kept)] = s
        scores = [_resized(source, measured[(c.scheme.f32_twin.name, c.kept)], c, arch.weight_map)
                  for c in candidates]
        budget = scores[0].megabytes * SIZE_SLACK
        pick = max((s for s in scores if s.megabytes <= budget),
                   key=lambda s: (s.answered, s.agreement, -s.kl, -s.megabytes))
        for line in _table(scores, pick, budget, ref.prompts):
            say(line)
        best = max(scores, key=lambda s: (s.answered, s.agreement, -s.kl))
        if best.answered > pick.answered:
            say(f"note: {best.candidate.label} answers {best.answered}/{ref.prompts} prompts "
                f"as PEFT does, but is {best.megabytes:.0f} MB; --quantization "
                f"{best.candidate.scheme.name} builds it")
        say(f"building {pick.candidate.label}: "
            + ("the build asked for agrees best with the fine-tune" if pick is scores[0]
               else "it agrees best with the fine-tune at comparable size"))
        choices.append(Choice(pick.candidate.scheme, pick.candidate.kept, {
            "finetune_survival": report.to_json(),
            "finetune_choice": {"picked": pick.candidate.label, "size_slack": SIZE_SLACK,
                                "reference_answers": ref.answers,
                                "candidates": [s.row(ref.prompts) for s in scores]}}))
    return choices


def _as_named(source: MergedSource, scheme: QuantScheme, weight_map: WeightMap, say) -> Choice:
    report = survival_report(source, scheme, weight_map)
    for line in report.lines():
        say(line)
    if not report.survives:
        kept = ", ".join(f"{n} keeps {survival_report(source, get_scheme(n), weight_map).kept:.0%}"
                         for n in scheme.fallbacks)
        say(f"WARNING: {scheme.name} keeps too little of the fine-tune, so the build may "
            f"answer like the base model ({kept}); rebuild with --quantization NAME, or without "
            "it to let webslm compare the builds")
    return Choice(scheme, False, {"finetune_survival": report.to_json()})


def _kept_base(source: MergedSource, scheme: QuantScheme) -> QuantScheme:
    """A QLoRA adapter is kept over the NF4 base it was trained on (kept_adapter.kept_schemes)."""
    nf4 = SCHEMES.get(f"{scheme.family}_nf4")
    return nf4 if source.qlora_base == "nf4" and nf4 is not None else scheme


def _keepable(source: MergedSource, arch) -> bool:
    from webslm.convert.kept_adapter import KeptAdapter

    try:
        KeptAdapter.of(source, arch)
    except WebslmError:  # DoRA, replaced tensors, embedding LoRA: merged only
        return False
    return True


def _resized(source: MergedSource, measured, candidate, weight_map: WeightMap):
    """A twin's measurement, with the size of the candidate's own float type."""
    from webslm.verify.finetune_candidates import stored_megabytes

    return dataclasses.replace(measured, candidate=candidate,
                               megabytes=stored_megabytes(source, candidate, weight_map))


def _table(scores, pick, budget: float, prompts: int) -> list[str]:
    rows = [f"  {'build':<30} {'size':>9} {'top-1 = PEFT':>12} {'mean KL':>8}  answers = PEFT's"]
    for s in scores:
        mark = "<- picked" if s is pick else f"(over {budget:.0f} MB)" if s.megabytes > budget else ""
        answered = f"{s.answered}/{prompts}" if prompts else "-"
        rows.append(f"  {s.candidate.label:<30} {s.megabytes:>6.1f} MB {s.agreement:>12.1%} "
                    f"{s.kl:>8.4f}  {answered:<6} {mark}".rstrip())
    return rows
