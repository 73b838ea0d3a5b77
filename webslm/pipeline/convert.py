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
from webslm.quantize.group_q4 import quantize_q4
from webslm.quantize.schemes import QuantScheme

QUANT_SUFFIXES = (".q_weight", ".q_scale")


@dataclasses.dataclass
class Target:
    """One model tensor group: a base name and the HF tensors concatenated to form it."""

    base: str                 # e.g. "model.layers.0.self_attn.qkv_proj"
    suffix: str               # ".weight" or ".bias" (the HF suffix of every part)
    parts: tuple[str, ...]    # HF names, in concatenation order
    quantized: bool           # stored as q_weight + q_scale
    out_names: tuple[str, ...]


def _hf_parts(base: str, weight_map: WeightMap) -> tuple[str, ...]:
    for fused, pieces in weight_map.fused.items():
        if base == fused or base.endswith("." + fused):
            prefix = base[: len(base) - len(fused)]
            return tuple(prefix + p for p in pieces)
    return (base,)


def plan_targets(params: Iterable[ParamSpec], weight_map: WeightMap) -> list[Target]:
    """Group the model's parameters by the HF tensors they are made from."""
    targets: dict[tuple[str, str], Target] = {}
    for p in params:
        if p.name.endswith(QUANT_SUFFIXES):
            base, suffix = p.name.rsplit(".", 1)[0], ".weight"
            key = (base, suffix)
            if key not in targets:
                targets[key] = Target(base, suffix, (), True,
                                      (base + ".q_weight", base + ".q_scale"))
        else:
            base, last = p.name.rsplit(".", 1)
            suffix = "." + last
            targets[(base, suffix)] = Target(base, suffix, (), False, (p.name,))
    for t in targets.values():
        t.parts = tuple(name + t.suffix for name in _hf_parts(t.base, weight_map))
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
        q_weight, q_scale = quantize_q4(merged, scheme.group_size, scheme.act_dtype)
        outputs = dict(zip(target.out_names, (q_weight, q_scale)))
    else:
        outputs = {target.out_names[0]: merged.astype(scheme.act_dtype)}
    for name, array in outputs.items():
        spec = specs[name]
        if tuple(array.shape) != spec.shape:
            raise WebslmError(
                f"{name}: the checkpoint gives shape {tuple(array.shape)}, the model expects "
                f"{spec.shape}", "the weights do not match config.json; check the source")
        emit(name, array)
