"""`webslm build BASE --lora DIR --keep-adapter`: a fine-tune as base + adapter.

The base is an ordinary build of the base model (built here when it is not there yet) and
stays the only copy of its shards; the fine-tune's build holds the adapter's A and B^T (scale
folded into B, as float16 two per uint32: compile/lora.py) in its own shard, and its
tensor-cache.json lists the base's shards by a dataPath leading to the base's folder. A second
fine-tune of the same base therefore
downloads its adapter, its library and its tokenizer, not the base again.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from webslm.artifacts.files import (ADAPTER_SHARD_PREFIX, TENSOR_CACHE, base_file_ref,
                                    split_base_ref)
from webslm.arch.record import Architecture
from webslm.artifacts.manifest import read_manifest
from webslm.artifacts.tensor_cache import TensorCacheWriter
from webslm.compile.spec import ParamSpec
from webslm.compile.spec import LORA_A, LORA_B, LORA_STORAGE, LoraLinear, LoraPlan
from webslm.errors import WebslmError
from webslm.hashing import file_entry
from webslm.quantize.schemes import SCHEMES, QuantScheme
from webslm.source.merged import MergedSource

_MERGE_INSTEAD = "build without --keep-adapter to merge it into the weights"


@dataclasses.dataclass
class KeptAdapter:
    """The adapter of a MergedSource, laid out on the model's (fused) linears."""

    source: MergedSource
    arch: Architecture
    plan: LoraPlan

    @classmethod
    def of(cls, source: MergedSource, arch: Architecture) -> "KeptAdapter":
        _check_keepable(source)
        params = dict.fromkeys(arch.weight_map.param_for(n.removesuffix(".weight"))
                               for n in sorted(source.adapter.low_rank))
        kept = cls(source, arch, LoraPlan({}))
        linears = {}
        for param in params:
            blocks = [(row, lr) for _part, row, _rows, lr in kept._parts(param) if lr is not None]
            rank = max(lr.rank for _row, lr in blocks)
            linears[param] = LoraLinear(rank, tuple((row, i * rank) for i, (row, _lr) in enumerate(blocks)))
        return cls(source, arch, LoraPlan(linears))

    def tensors(self) -> Iterator[tuple[str, np.ndarray]]:
        """Each adapted linear's A [slots, in] and (B * scale)^T [rank, out] (compile/lora.py),
        as float16 packed two per uint32 along the row."""
        for param, shape in self.plan.linears.items():
            rows = sum(n for _part, _row, n, _lr in self._parts(param))
            a = b = None
            for part, row, n_rows, slot, low_rank in self._blocks(param):
                if a is None:
                    a = np.zeros((shape.slots, low_rank.a.shape[1]), np.float32)
                    b = np.zeros((rows, shape.rank), np.float32)
                a[slot:slot + low_rank.rank] = low_rank.a
                b[row:row + n_rows, :low_rank.rank] = low_rank.b * low_rank.scale
            yield f"{param}.{LORA_A}", pack_halves(a, f"{param} (A)")
            yield f"{param}.{LORA_B}", pack_halves(b.T, f"{param} (B * scale)")

    def unstacked(self, stored: dict[str, np.ndarray]) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        """tensors()' inverse on stored arrays: (HF weight name, A, B) in float32, B unscaled."""
        for param in self.plan.linears:
            a = unpack_halves(stored[f"{param}.{LORA_A}"])
            b = unpack_halves(stored[f"{param}.{LORA_B}"]).T
            for part, row, n_rows, slot, low_rank in self._blocks(param):
                r = low_rank.rank
                yield part, a[slot:slot + r], b[row:row + n_rows, :r] / np.float32(low_rank.scale)

    def _parts(self, param: str):
        """(HF weight name, first row, rows, LowRank or None) of each part of a parameter."""
        row = 0
        for part in self.arch.weight_map.parts(param):
            n_rows = self.source.base.tensor_shape(part + ".weight")[0]
            yield part + ".weight", row, n_rows, self.source.adapter.low_rank.get(part + ".weight")
            row += n_rows

    def _blocks(self, param: str):
        """(HF name, first row, rows, first slot, LowRank) of each adapted part."""
        slots = dict(self.plan.linears[param].parts)
        for part, row, n_rows, low_rank in self._parts(param):
            if low_rank is not None:
                yield part, row, n_rows, slots[row], low_rank

    def write(self, out: Path, base_dir: Path, param_count: int) -> dict:
        """The adapter's shard and a tensor-cache.json that also lists the base's shards."""
        base_cache = json.loads((base_dir / TENSOR_CACHE).read_text())
        shared = [{**shard, "dataPath": base_file_ref(base_dir.name, shard["dataPath"])}
                  for shard in base_cache["records"]]
        with TensorCacheWriter(out, prefix=ADAPTER_SHARD_PREFIX) as writer:
            for name, array in self.tensors():
                writer.add(name, array)
            return writer.finish(param_count=param_count, shared=shared)

    def manifest_fields(self, base_dir: Path, cache: dict) -> dict:
        """build.base (the base build and the files read from it) and build.adapter."""
        base_manifest = read_manifest(base_dir)
        shards = [ref[1] for ref in map(split_base_ref, (s["dataPath"] for s in cache["records"]))
                  if ref is not None]
        own = [s for s in cache["records"] if split_base_ref(s["dataPath"]) is None]
        adapter = self.source.adapter
        return {
            "base": {"model_id": base_manifest["build"]["model_id"],
                     "files": {n: base_manifest["files"][n] for n in shards}},
            "adapter": {
                "source": adapter.path.name,
                "targets": sorted({n.removesuffix(".weight").rsplit(".", 1)[-1]
                                   for n in adapter.low_rank}),
                "ranks": sorted({lr.rank for lr in adapter.low_rank.values()}),
                "linears": len(self.plan.linears),
                "dtype": LORA_STORAGE,
                "bytes": sum(s["nbytes"] for s in own),
            },
        }


def pack_halves(matrix: np.ndarray, what: str) -> np.ndarray:
    """float32 [rows, cols] -> float16 bit patterns, two per uint32 [rows, cols / 2], the lower
    half first (how compile/lora.py's half_at reads them)."""
    halves = matrix.astype(np.float16)
    if not np.isfinite(halves).all():
        raise WebslmError(f"the adapter's {what} has values beyond float16's range (65504)",
                          _MERGE_INSTEAD)
    if matrix.shape[1] % 2:
        raise WebslmError(f"the adapter's {what} has an odd width {matrix.shape[1]}, which a "
                          "kept adapter cannot pack", _MERGE_INSTEAD)
    return np.ascontiguousarray(halves).view(np.uint32)


def unpack_halves(words: np.ndarray) -> np.ndarray:
    """pack_halves' inverse, in float32."""
    return np.ascontiguousarray(words).view(np.float16).astype(np.float32)


def base_params(params: list[ParamSpec]) -> list[ParamSpec]:
    """The compiled model's parameters that come from the base (not the adapter)."""
    return [p for p in params if not p.name.endswith((f".{LORA_A}", f".{LORA_B}"))]


def check_base_build(base_dir: Path, quantization: str, source: MergedSource,
                     params: list[ParamSpec]) -> None:
    """An existing base build can be shared only if it holds exactly these base weights."""
    again = f"remove {base_dir} (its fine-tunes too) or pass --out DIR to build beside a new base"
    try:
        manifest = read_manifest(base_dir)
        cache = json.loads((base_dir / TENSOR_CACHE).read_text())
    except (OSError, ValueError) as err:
        raise WebslmError(f"{base_dir} is not a readable build ({err})", again) from err
    if manifest["build"].get("quantization") != quantization or manifest["source"].get("adapter"):
        raise WebslmError(f"{base_dir} is not a {quantization} build of the base model", again)
    recorded = {n: f["sha256"] for n, f in manifest["source"].get("files", {}).items()}
    ours = {p.name: file_entry(p)["sha256"] for p in source.base.files}
    if recorded != ours:
        raise WebslmError(f"{base_dir} was built from other source files than this base", again)
    stored = {r["name"]: (tuple(r["shape"]), r["dtype"])
              for shard in cache["records"] for r in shard["records"]}
    wanted = {p.name: (p.shape, p.dtype) for p in base_params(params)}
    if stored != wanted:
        raise WebslmError(f"{base_dir} stores other parameters than this webslm builds for the "
                          "base (an older webslm?)", again)
    for shard in cache["records"]:
        path = base_dir / shard["dataPath"]
        if not path.is_file() or path.stat().st_size != shard["nbytes"]:
            raise WebslmError(f"{base_dir} is incomplete: {shard['dataPath']} is missing or changed",
                              again)


def kept_schemes(source: MergedSource, schemes: list[QuantScheme], exact: bool,
                 say: Callable[[str], None]) -> list[QuantScheme]:
    """A QLoRA adapter (--qlora-base nf4) is kept over the NF4 base it was trained against:
    the family's `_nf4` scheme, unless --quantization named the schemes (then a warning)."""
    if source.qlora_base != "nf4":
        return schemes
    chosen = []
    for scheme in schemes:
        nf4 = SCHEMES.get(f"{scheme.family}_nf4")
        if nf4 is None or scheme == nf4:
            chosen.append(scheme)
        elif exact:
            say(f"WARNING: the adapter was trained over an NF4 base; over {scheme.name} it runs "
                f"on other weights (--quantization {nf4.name} keeps it exact)")
            chosen.append(scheme)
        else:
            say(f"the adapter was trained over an NF4 base: building {nf4.name}, its exact base")
            chosen.append(nf4)
    return chosen


def _check_keepable(source: MergedSource) -> None:
    """What an unmerged adapter cannot carry: replaced tensors and branches off the linears."""
    adapter = source.adapter
    if adapter.whole or source.untied:
        what = ", ".join(sorted(adapter.whole)) or "the tied embedding"
        raise WebslmError(f"the adapter {adapter.path.name} replaces whole weights ({what}), "
                          "which a shared base cannot hold", _MERGE_INSTEAD)
    for name, low_rank in adapter.low_rank.items():
        if low_rank.embedding:
            raise WebslmError(f"the adapter adapts the embedding ({name}), which a kept adapter "
                              "does not support", _MERGE_INSTEAD)
        if low_rank.magnitude is not None:
            raise WebslmError(f"the adapter is DoRA ({name} has a magnitude), which a kept "
                              "adapter does not support yet", _MERGE_INSTEAD)
