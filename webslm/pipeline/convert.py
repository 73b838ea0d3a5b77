"""Stream Hugging Face tensors into model parameters: fuse, quantize, write.

Tensors arrive one at a time from the source. A fused parameter (e.g. qkv_proj) waits
only for its own parts, so at most one layer's projections are held at once.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Iterable, Iterator

import numpy as np

from webslm.compile.arch.registry import WeightMap
from webslm.compile.compiler import ParamSpec
from webslm.errors import WebslmError
from webslm.quantize.grids import Grid
from webslm.quantize.group import quantize
from webslm.quantize.schemes import QuantScheme

QUANT_SUFFIXES = (".q_weight", ".q_scale", ".q_min")


@dataclasses.dataclass
class Target:
    """One model tensor group: a base name and the HF tensors concatenated to form it."""

    base: str                 # e.g. "model.layers.0.self_attn.qkv_proj"
    suffix: str               # ".weight" or ".bias" (the HF suffix of every part)
    parts: tuple[str, ...]    # HF names, in concatenation order
    quantized: bool           # stored as q_weight + q_scale (+ q_min)
    out_names: tuple[str, ...]  # in the order the quantizer returns its arrays


def plan_targets(params: Iterable[ParamSpec], weight_map: WeightMap) -> list[Target]:
    """Group the model's parameters by the HF tensors they are made from."""
    targets: dict[tuple[str, str], Target] = {}
    for p in params:
        if p.name.endswith(QUANT_SUFFIXES):
            base = p.name.rsplit(".", 1)[0]
            target = targets.setdefault((base, ".weight"), Target(base, ".weight", (), True, ()))
            target.out_names += (p.name,)
        else:
            base, last = p.name.rsplit(".", 1)
            suffix = "." + last
            targets[(base, suffix)] = Target(base, suffix, (), False, (p.name,))
    for t in targets.values():
        t.parts = tuple(name + t.suffix for name in weight_map.parts(t.base))
        if t.quantized:
            t.out_names = tuple(t.base + s for s in QUANT_SUFFIXES if t.base + s in t.out_names)
    return list(targets.values())


def convert(tensors: Iterator[tuple[str, np.ndarray]], params: list[ParamSpec],
            weight_map: WeightMap, scheme: QuantScheme, *, tied_embeddings: bool,
            emit: Callable[[str, np.ndarray], None],
            on_tensor: Callable[[str], None] | None = None) -> None:
    """Consume HF tensors, call emit(name, array) for every model parameter."""
    specs = {p.name: p for p in params}
    targets = plan_targets(params, weight_map)
    owner = {part: t for t in targets for part in t.parts}
    pending: dict[str, np.ndarray] = {}
    done: set[str] = set()
    for name, array in tensors:
        if on_tensor:
            on_tensor(name)
        target = owner.get(name)
        if target is None:
            if name.endswith(weight_map.ignored) or (tied_embeddings and name == "lm_head.weight"):
                continue
            raise WebslmError(f"the checkpoint has a tensor the model does not use: {name}",
                              "check that the source matches its config.json architecture")
        pending[name] = array
        if all(part in pending for part in target.parts):
            merged = np.concatenate([pending.pop(p) for p in target.parts], axis=0) \
                if len(target.parts) > 1 else pending.pop(target.parts[0])
            _emit_target(target, merged, specs, scheme, emit)
            done.add(target.base + target.suffix)
    missing = [p for t in targets if t.base + t.suffix not in done for p in t.parts]
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise WebslmError(f"the checkpoint lacks {len(missing)} tensor(s): {shown}",
                          "the weight files are incomplete or belong to another model; "
                          "re-download the source")


def _emit_target(target: Target, merged: np.ndarray, specs: dict[str, ParamSpec],
                 scheme: QuantScheme, emit: Callable[[str, np.ndarray], None]) -> None:
    if target.quantized:
        grid = _declared_grid(target, specs, merged.shape, scheme)
        outputs = dict(zip(target.out_names, quantize(merged, grid, scheme.act_dtype)))
    else:
        outputs = {target.out_names[0]: merged.astype(scheme.act_dtype)}
    for name, array in outputs.items():
        spec = specs[name]
        if tuple(array.shape) != spec.shape:
            raise WebslmError(
                f"{name}: the checkpoint gives shape {tuple(array.shape)}, the model expects "
                f"{spec.shape}", "the weights do not match config.json; check the source")
        emit(name, array)


def _declared_grid(target: Target, specs: dict[str, ParamSpec], shape: tuple[int, ...],
                   scheme: QuantScheme) -> Grid:
    """The grid the model declared for this weight: codes per word from the packed shape
    (4-bit linears, 8-bit embeddings), a minimum if it has a q_min."""
    words = specs[target.out_names[0]].shape[-1]
    per_word = shape[-1] // words if len(shape) == 2 and words else 0
    if per_word not in (4, 8) or per_word * words != shape[-1]:
        raise WebslmError(
            f"{target.base}: the checkpoint gives shape {tuple(shape)}, the model expects "
            f"packed codes of shape {specs[target.out_names[0]].shape}",
            "the weights do not match config.json; check the source")
    symmetric = not any(n.endswith(".q_min") for n in target.out_names)
    return Grid(32 // per_word, symmetric, scheme.group_size)
