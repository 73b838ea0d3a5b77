"""Stream Hugging Face tensors into model parameters: fuse, quantize, write.

Tensors arrive one at a time from the source. A fused parameter (e.g. qkv_proj) waits
only for its own parts, so at most one layer's projections are held at once.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Callable, Iterable, Iterator

import numpy as np

from webslm.arch.record import WeightMap
from webslm.compile.spec import ROW_BLOCKS, ParamSpec
from webslm.errors import WebslmError
from webslm.quantize.grids import Grid
from webslm.quantize.group import quantize
from webslm.quantize.schemes import QuantScheme

QUANT_SUFFIXES = (".q_weight", ".q_scale", ".q_min")
Exact = Callable[[str, Grid, str], "tuple[np.ndarray, ...] | None"]


@dataclasses.dataclass
class Target:
    """One model tensor group: a base name and the HF tensors concatenated to form it."""

    base: str                 # e.g. "model.layers.0.self_attn.qkv_proj"
    suffix: str               # ".weight" or ".bias" (the HF suffix of every part)
    parts: tuple[str, ...]    # HF names, in concatenation order
    quantized: bool           # stored as q_weight + q_scale (+ q_min)
    out_names: tuple[str, ...]  # in the order the quantizer returns its arrays, block by block
    blocks: int = 1           # row blocks a table too large to bind whole is stored in

    @property
    def block_names(self) -> list[tuple[str, ...]]:
        """out_names per row block: [(q_weight, q_scale[, q_min]), ...]."""
        n = len(self.out_names) // self.blocks
        return [self.out_names[i:i + n] for i in range(0, len(self.out_names), n)]


_ROW_BLOCK = re.compile(rf"^(.*)\.{ROW_BLOCKS}\.(\d+)$")


def plan_targets(params: Iterable[ParamSpec], weight_map: WeightMap) -> list[Target]:
    """Group the model's parameters by the HF tensors they are made from (a table stored in
    row blocks, model.embed_tokens.rows.<i>.*, is one target)."""
    targets: dict[tuple[str, str], Target] = {}
    blocks: dict[str, set[str]] = {}
    for p in params:
        if p.name.endswith(QUANT_SUFFIXES):
            base = p.name.rsplit(".", 1)[0]
            if m := _ROW_BLOCK.match(base):
                base = m.group(1)
                blocks.setdefault(base, set()).add(m.group(2))
            target = targets.setdefault((base, ".weight"), Target(base, ".weight", (), True, ()))
            target.out_names += (p.name,)
        else:
            base, last = p.name.rsplit(".", 1)
            suffix = "." + last
            targets[(base, suffix)] = Target(base, suffix, (), False, (p.name,))
    for t in targets.values():
        t.parts = tuple(name + t.suffix for name in weight_map.parts(t.base))
        if t.quantized:
            t.blocks = len(blocks.get(t.base, ())) or 1
            bases = [f"{t.base}.{ROW_BLOCKS}.{i}" for i in range(t.blocks)] \
                if t.base in blocks else [t.base]
            t.out_names = tuple(b + s for b in bases for s in QUANT_SUFFIXES
                                if b + s in t.out_names)
    return list(targets.values())


def join_blocks(target: Target, arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    """A target's stored arrays with its row blocks joined: (q_weight, q_scale[, q_min])."""
    return tuple(_concat([arrays[names[i]] for names in target.block_names])
                 for i in range(len(target.block_names[0])))


def convert(tensors: Iterator[tuple[str, np.ndarray]], params: list[ParamSpec],
            weight_map: WeightMap, scheme: QuantScheme, *, tied_embeddings: bool,
            emit: Callable[[str, np.ndarray], None],
            on_tensor: Callable[[str], None] | None = None, exact: Exact | None = None) -> None:
    """Consume HF tensors, call emit(name, array) for every model parameter. exact(name,
    grid, scale dtype): the source's own arrays of a tensor on that grid when it stores the
    tensor there (ModelSource.on_grid), else None, and the tensor is quantized."""
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
            _emit_target(target, [(p, pending.pop(p)) for p in target.parts], specs, scheme,
                         emit, exact or (lambda *_: None))
            done.add(target.base + target.suffix)
    missing = [p for t in targets if t.base + t.suffix not in done for p in t.parts]
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise WebslmError(f"the checkpoint lacks {len(missing)} tensor(s): {shown}",
                          "the weight files are incomplete or belong to another model; "
                          "re-download the source")


def _emit_target(target: Target, named: list[tuple[str, np.ndarray]],
                 specs: dict[str, ParamSpec], scheme: QuantScheme,
                 emit: Callable[[str, np.ndarray], None], exact: Exact) -> None:
    """Quantize (or cast) the HF tensors of one parameter and concatenate them (axis 0). Each
    is quantized on its own: the same as quantizing the concatenation on the row-wise grids,
    and on NF4 what bitsandbytes did (its statistics are per tensor: q, k, v apart)."""
    pieces = [piece for _name, piece in named]
    if target.quantized:
        grid = declared_grid(target, specs, scheme)
        for piece in pieces:
            _check_columns(target, specs, piece.shape, grid)
        arrays = [exact(name, grid, scheme.act_dtype) or quantize(piece, grid, scheme.act_dtype)
                  for name, piece in named]
        joined = [_concat(list(a)) for a in zip(*arrays)]
        rows = np.cumsum([specs[names[0]].shape[0] for names in target.block_names])[:-1]
        outputs = {name: block for i, whole in enumerate(joined)
                   for name, block in zip([names[i] for names in target.block_names],
                                          np.split(whole, rows, axis=0))}
    else:
        outputs = {target.out_names[0]: _concat(pieces).astype(scheme.act_dtype)}
    for name, array in outputs.items():
        spec = specs[name]
        if tuple(array.shape) != spec.shape:
            raise WebslmError(
                f"{name}: the checkpoint gives shape {tuple(array.shape)}, the model expects "
                f"{spec.shape}", "the weights do not match config.json; check the source")
        emit(name, array)


def _concat(arrays: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(arrays, axis=0) if len(arrays) > 1 else arrays[0]


def declared_grid(target: Target, specs: dict[str, ParamSpec], scheme: QuantScheme) -> Grid:
    """The grid the model declared for a quantized parameter: the one of the scheme's grids
    (this linear's, the embedding's, the lm_head's) whose packed arrays have the declared
    count and widths."""
    first = target.block_names[0]
    q_weight, q_scale = (specs[n].shape[-1] for n in first[:2])
    for grid in (scheme.linear_grid(target.base), scheme.embedding_grid, scheme.lm_head_grid):
        if (len(first) == len(grid.suffixes)
                and q_weight * grid.codes_per_word == q_scale * grid.group_size):
            return grid
    raise WebslmError(f"{target.base}: the model declares packed arrays no grid of "
                      f"{scheme.name} has", "convert with the scheme the model was compiled for")


def _check_columns(target: Target, specs: dict[str, ParamSpec], shape: tuple[int, ...],
                   grid: Grid) -> None:
    words = specs[target.out_names[0]].shape[-1]
    if len(shape) != 2 or shape[-1] != words * grid.codes_per_word:
        raise WebslmError(
            f"{target.base}: the checkpoint gives shape {tuple(shape)}, the model expects "
            f"packed codes of shape {specs[target.out_names[0]].shape}",
            "the weights do not match config.json; check the source")
