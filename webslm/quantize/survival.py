"""How much of a fine-tune's weight change a quantization keeps.

A fine-tune moves each weight by a small delta D. After quantization the build holds
Q(W + D) - Q(W) instead, and when D is smaller than a quantization step most of it rounds
away: the model then answers like its base (the "only says yes" fine-tunes of mlc-llm #3264).
Per layer kind this reports the fraction of D kept along its own direction (<D, Dq> / <D, D>),
the correlation of the kept change with the intended one, and the delta's size against the
grid's step. The verdict is on the fraction kept: a base that does not sit on the grid (a float
checkpoint) dithers the rounding, so even a delta far below one step is kept on average, with
noise of the kind the base's own quantization adds (correlation shows how much). A base that
already sits on the grid (a Q4_1 GGUF built as q4f*_asym) rounds a small delta straight back
to the base: that is the case this warns about.

Each matrix is rounded on the grid its build stores it on (tensor_grid): a q4f*_k build puts
each linear on its own grid, so a kind can be 8-bit in some layers and 4-bit in others, and
the report then has a row for each (kind, grid).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import numpy as np

from webslm.arch.record import WeightMap
from webslm.quantize.grids import Grid
from webslm.quantize.group import dequantize, quantize
from webslm.quantize.nf4 import NF4_CODE
from webslm.quantize.schemes import QuantScheme

MIN_KEPT = 0.5   # below this most of the fine-tune is rounded away (docs/FINETUNES.md)
EMBEDDINGS = ("embed_tokens",)


@dataclasses.dataclass
class KindSurvival:
    kind: str                  # q_proj, down_proj, embed_tokens, ...
    grid: str                  # the grid these matrices are stored on: "4-bit asym", "8-bit", ...
    weights: int               # how many matrices of this kind changed
    correlation: float         # corr(D, Q(W+D) - Q(W)) over all their elements
    kept: float                # <D, Dq> / <D, D>: 1.0 = all of D, 0 = none
    delta_per_step: float      # rms(D) / mean quantization step (inf for unquantized)


@dataclasses.dataclass
class SurvivalReport:
    quantization: str
    kinds: list[KindSurvival]
    kept: float                # over every changed element of every kind
    correlation: float

    @property
    def survives(self) -> bool:
        return self.kept >= MIN_KEPT

    def lines(self) -> list[str]:
        rows = [f"fine-tune kept by {self.quantization}: {self.kept:.0%} of its change "
                f"({'ok' if self.survives else 'TOO LITTLE'}, >= {MIN_KEPT:.0%}), "
                f"correlation {self.correlation:.2f}"]
        for k in self.kinds:
            step = "n/a" if not np.isfinite(k.delta_per_step) else f"{k.delta_per_step:.2f}"
            rows.append(f"  {k.kind:<14} {k.grid:<10} x{k.weights:<3} kept {k.kept:>4.0%}  "
                        f"correlation {k.correlation:.2f}  |delta| / step {step}")
        return rows

    def to_json(self) -> dict:
        return {**dataclasses.asdict(self), "survives": self.survives,
                "kinds": [{**dataclasses.asdict(k), "delta_per_step": _finite(k.delta_per_step)}
                          for k in self.kinds]}


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def tensor_grid(name: str, scheme: QuantScheme, weight_map: WeightMap) -> Grid:
    """The grid a build of `scheme` stores the HF matrix `name` on: the embedding's, an untied
    lm_head's, or its linear's own (QuantScheme.linear_grid of the parameter the weight map
    fuses it into: q_proj is part of qkv_proj)."""
    kind = _kind(name)
    if kind in EMBEDDINGS:
        return scheme.embedding_grid
    if kind == "lm_head":
        return scheme.lm_head_grid
    return scheme.linear_grid(weight_map.param_for(name.removesuffix(".weight")))


def _roundtrip(w: np.ndarray, scheme: QuantScheme, grid: Grid) -> tuple[np.ndarray, float]:
    """What the build stores for w on `grid`, as float32, and the grid's mean step there."""
    if not scheme.quantized:
        return w.astype(scheme.act_dtype).astype(np.float32), float("nan")
    arrays = quantize(w, grid, scheme.act_dtype)
    step = float(np.abs(arrays[1].astype(np.float32)).mean())
    if grid.nf4:  # its scale is the block's absmax: the mean gap of the code book is the step
        step *= float(np.ptp(NF4_CODE)) / (NF4_CODE.size - 1)
    return dequantize(arrays, grid=grid), step


def stored(w: np.ndarray, scheme: QuantScheme, embedding: bool = False) -> np.ndarray:
    """The float32 weight a build of `scheme` computes with, for the matrix w (one HF tensor:
    for q4f*_nf4 linears this is nf4_roundtrip(w)). A scheme with per-linear grids (q4f*_k)
    needs the matrix's name: stored_weight."""
    if scheme.linear_grids and not embedding:
        raise ValueError(f"{scheme.name} stores each linear on its own grid: use stored_weight")
    return _roundtrip(w, scheme, scheme.embedding_grid if embedding else scheme.weight_grid)[0]


def stored_weight(name: str, w: np.ndarray, scheme: QuantScheme, weight_map: WeightMap
                  ) -> np.ndarray:
    """The float32 weight a build of `scheme` computes with for the HF matrix `name`, on its
    grid (tensor_grid)."""
    return _roundtrip(w, scheme, tensor_grid(name, scheme, weight_map))[0]


def _kind(name: str) -> str:
    return name.removesuffix(".weight").rsplit(".", 1)[-1]


def _label(grid: Grid, scheme: QuantScheme) -> str:
    if not scheme.quantized:
        return scheme.act_dtype
    return f"{grid.bits}-bit" + (" nf4" if grid.nf4 else "" if grid.symmetric else " asym")


def survival(changes: Iterable[tuple[str, np.ndarray, np.ndarray]], scheme: QuantScheme,
             weight_map: WeightMap) -> SurvivalReport:
    """changes: (HF weight name, weight before, weight after) for every changed matrix;
    weight_map: the architecture's (which fused linear, and so which grid, each one is)."""
    acc: dict[tuple[str, str], list[float]] = {}
    for name, before, after in changes:
        grid = tensor_grid(name, scheme, weight_map)
        q_before, step = _roundtrip(before, scheme, grid)
        q_after, _ = _roundtrip(after, scheme, grid)
        d = (after.astype(np.float64) - before).ravel()
        dq = (q_after.astype(np.float64) - q_before).ravel()
        a = acc.setdefault((_kind(name), _label(grid, scheme)), [0, 0.0, 0.0, 0.0, 0.0, 0])
        a[0] += 1
        a[1] += float(d @ dq)
        a[2] += float(d @ d)
        a[3] += float(dq @ dq)
        a[4] += step * d.size
        a[5] += d.size
    kinds = [KindSurvival(kind, grid, int(n), _corr(dd, d2, q2), dd / d2 if d2 else 0.0,
                          _per_step(d2, steps, size))
             for (kind, grid), (n, dd, d2, q2, steps, size) in acc.items()]
    dd, d2, q2 = np.sum([a[1:4] for a in acc.values()], axis=0) if acc else (0.0, 0.0, 0.0)
    return SurvivalReport(scheme.name, kinds, float(dd / d2) if d2 else 0.0, _corr(dd, d2, q2))


def _per_step(d2: float, steps: float, size: int) -> float:
    """rms(D) / mean step; infinite when the build is unquantized (no step to round to)."""
    if not np.isfinite(steps) or steps <= 0:
        return float("inf")
    return float(np.sqrt(d2 / size) / (steps / size))


def _corr(dd: float, d2: float, q2: float) -> float:
    return float(dd / np.sqrt(d2 * q2)) if d2 > 0 and q2 > 0 else 0.0
