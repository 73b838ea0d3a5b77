"""Read tensor-cache.json + params_shard_*.bin back into NumPy (verification, tests); shards
of a sibling base build (a kept adapter's) are read from that build's folder beside it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from webslm.artifacts.files import TENSOR_CACHE, local_file
from webslm.errors import WebslmError


def read_tensor_cache(artifact_dir: Path) -> dict[str, np.ndarray]:
    index = artifact_dir / TENSOR_CACHE
    if not index.is_file():
        raise WebslmError(f"{index} is missing", "rebuild the artifact with `webslm build`")
    out: dict[str, np.ndarray] = {}
    for shard in json.loads(index.read_text())["records"]:
        path = local_file(artifact_dir, shard["dataPath"])
        if not path.is_file():
            raise WebslmError(f"{path}, which {index} reads, is missing",
                              "keep the base build beside its fine-tunes, or rebuild")
        data = path.read_bytes()
        if len(data) != shard["nbytes"]:
            raise WebslmError(f"{shard['dataPath']} has {len(data)} bytes, the index says "
                              f"{shard['nbytes']}", "the artifact is damaged; rebuild it")
        for rec in shard["records"]:
            raw = data[rec["byteOffset"]:rec["byteOffset"] + rec["nbytes"]]
            out[rec["name"]] = np.frombuffer(raw, dtype=rec["dtype"]).reshape(rec["shape"]).copy()
    return out
