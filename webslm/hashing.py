"""SHA-256 of files, and the {"bytes", "sha256"} entry that manifests, caches and the
browser's integrity check all describe a file by."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_entry(path: Path) -> dict:
    """{"bytes": size, "sha256": hex digest} of one file."""
    return {"bytes": Path(path).stat().st_size, "sha256": sha256_file(path)}
