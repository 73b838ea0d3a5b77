"""Fine-tunes in a build: report how much of the fine-tune each quantization keeps, and warn,
naming a better quantization, before the build spends minutes compiling it."""

from __future__ import annotations

from typing import Callable

from webslm.quantize.schemes import QuantScheme, get_scheme
from webslm.quantize.survival import SurvivalReport, survival
from webslm.source.base import ModelSource
from webslm.source.merged import MergedSource


def survival_report(source: MergedSource, scheme: QuantScheme) -> SurvivalReport:
    return survival(source.changes(), scheme)


def choose_schemes(source: ModelSource, schemes: list[QuantScheme], exact: bool,
                   say: Callable[[str], None]) -> tuple[list[QuantScheme], dict[str, dict]]:
    """For a fine-tune, report what each scheme keeps (JSON per scheme, for the manifest).
    A scheme picked by default or by a family flag (--q4f32) that rounds the fine-tune away is
    swapped for the family's other 4-bit grid when that one keeps it; a scheme named exactly
    (--quantization) is kept, with a warning naming what would keep more."""
    if not isinstance(source, MergedSource):
        return schemes, {}
    chosen, reports = [], {}
    for scheme in schemes:
        report = survival_report(source, scheme)
        for line in report.lines():
            say(line)
        if not report.survives:
            alternatives = [(get_scheme(n), survival_report(source, get_scheme(n)))
                            for n in scheme.fallbacks]
            swap = next(((s, r) for s, r in alternatives
                         if r.survives and s.family == scheme.family), None)
            if swap is not None and not exact:
                say(f"{scheme.name} rounds the fine-tune away (the base sits on its grid); "
                    f"building {swap[0].name} instead, which keeps {swap[1].kept:.0%}")
                scheme, report = swap
            else:
                kept = ", ".join(f"{s.name} keeps {r.kept:.0%}" for s, r in alternatives)
                say(f"WARNING: {scheme.name} keeps too little of the fine-tune, so the build may "
                    f"answer like the base model ({kept}); rebuild with --quantization NAME")
        chosen.append(scheme)
        reports[scheme.name] = report.to_json()
    return chosen, reports
