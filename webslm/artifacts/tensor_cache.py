"""Stream weights into `tensor-cache.json` + `params_shard_*.bin`, the layout tvmjs/WebLLM load.

The JSON matches what tvm.contrib.tvmjs.dump_tensor_cache writes (TVM 0.27), with two deliberate
choices: every record is "raw" (no f32-to-bf16 re-encoding, so f32 builds keep full precision),
and records keep add order across shards (tvmjs commits an oversized tensor before the shard
that was still filling). Sharding follows tvmjs: a shard closes before it would reach the cap,
and a tensor of at least half the cap that would not fit gets a shard of its own.
"""

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from webslm.artifacts.files import TENSOR_CACHE
from webslm.errors import WebslmError

SHARD_CAP_BYTES = 32 << 20
SHARD_PREFIX = "params_shard"
DTYPES = ("float32", "float16", "uint32", "int32", "uint8", "int8")


@dataclass
class _Shard:
    """The shard being filled: its file stays open so each tensor is written as it arrives."""

    path: Path
    file: BinaryIO
    md5: "hashlib._Hash" = field(default_factory=hashlib.md5)
    nbytes: int = 0
    records: list[dict] = field(default_factory=list)


class TensorCacheWriter:
    """Write tensors one at a time; `finish()` writes tensor-cache.json and returns its content."""

    def __init__(self, out_dir: Path, shard_cap_bytes: int = SHARD_CAP_BYTES,
                 prefix: str = SHARD_PREFIX):
        self.out_dir = Path(out_dir)
        self.cap = shard_cap_bytes
        self.prefix = prefix
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for stale in [*self.out_dir.glob(f"{prefix}_*.bin"), self.out_dir / TENSOR_CACHE]:
            stale.unlink(missing_ok=True)  # leftovers of an earlier run would be loaded by name
        self._shards: list[dict] = []
        self._current: _Shard | None = None
        self._names: set[str] = set()
        self._param_bytes = 0
        self._elements = 0
        self._finished = False

    def add(self, name: str, array: np.ndarray) -> None:
        """Append one tensor; it lands on disk before this returns."""
        if self._finished:
            raise WebslmError(f"tensor {name!r} added after finish()", "add every tensor before finish()")
        if name in self._names:
            raise WebslmError(f"tensor {name!r} added twice", "give every parameter a unique name")
        array = np.asarray(array)
        if array.dtype.name not in DTYPES:
            raise WebslmError(
                f"tensor {name!r} has dtype {array.dtype.name}, which the tensor cache does not store",
                f"convert it to one of {', '.join(DTYPES)} first",
            )
        array = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
        nbytes = array.nbytes
        current_bytes = self._current.nbytes if self._current else 0
        if current_bytes + nbytes >= self.cap:
            self._close_current()
            if 2 * nbytes >= self.cap:
                self._write_record(name, array)
                self._close_current()
                return
        self._write_record(name, array)

    def finish(self, param_count: int | None = None, shared: list[dict] = ()) -> dict:
        """Close the last shard and write tensor-cache.json.

        param_count: parameters of the unquantized model, for BitsPerParam (MLC-LLM reports it
        that way); defaults to the number of stored elements.
        shared: shard records of another build (dataPath leading to it) listed first, so one
        index loads both; their tensors count in the metadata like the build's own.
        """
        self._close_current()
        self._finished = True
        shared_names = [r["name"] for shard in shared for r in shard["records"]]
        clash = self._names.intersection(shared_names)
        if clash:
            raise WebslmError(f"tensor {sorted(clash)[0]!r} is both shared and the build's own",
                              "give every parameter a unique name")
        param_bytes = self._param_bytes + sum(shard["nbytes"] for shard in shared)
        count = param_count if param_count is not None else self._elements
        cache = {
            "metadata": {
                "ParamSize": len(self._names) + len(shared_names),
                "ParamBytes": param_bytes,
                "BitsPerParam": param_bytes * 8.0 / count if count else 0.0,
            },
            "records": [*shared, *self._shards],
        }
        (self.out_dir / TENSOR_CACHE).write_text(json.dumps(cache, indent=4))
        return cache

    def _write_record(self, name: str, array: np.ndarray) -> None:
        if self._current is None:
            path = self.out_dir / f"{self.prefix}_{len(self._shards)}.bin"
            self._current = _Shard(path, open(path, "wb"))
        shard = self._current
        data = memoryview(array.reshape(-1)).cast("B")
        shard.file.write(data)
        shard.md5.update(data)
        shard.records.append(
            {
                "name": name,
                "shape": [int(d) for d in array.shape],
                "dtype": array.dtype.name,
                "format": "raw",
                "nbytes": array.nbytes,
                "byteOffset": shard.nbytes,
            }
        )
        shard.nbytes += array.nbytes
        self._names.add(name)
        self._param_bytes += array.nbytes
        self._elements += math.prod(array.shape)

    def _close_current(self) -> None:
        shard, self._current = self._current, None
        if shard is None:
            return
        shard.file.close()
        self._shards.append(
            {
                "dataPath": shard.path.name,
                "format": "raw-shard",
                "nbytes": shard.nbytes,
                "records": shard.records,
                "md5sum": shard.md5.hexdigest(),
            }
        )

    def __enter__(self) -> "TensorCacheWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None and self._current is not None:
            self._current.file.close()  # leave no tensor-cache.json: the output is incomplete
            self._current = None


def largest_tensor_bytes(cache: dict) -> int:
    """The largest tensor of a tensor-cache.json: WebLLM puts each in a GPU buffer of its own,
    which a kernel binds whole (a q4 embedding of 262k x 1152 is 151 MB, above the 128 MiB
    binding many GPUs and WebGPU's default limits allow)."""
    return max((r["nbytes"] for shard in cache["records"] for r in shard["records"]), default=0)
