"""npm commands for the package tests: pack web/ and list what the tarball holds."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WEB = REPO / "web"
NPM_TIMEOUT_S = 900  # a cold npm cache downloads WebLLM, transformers.js and Vite


def npm() -> str:
    found = shutil.which("npm")
    if found is None:
        pytest.skip("npm is not installed (`make install` needs it)")
    return found


def run(cmd: list[str], cwd: Path, timeout: float = NPM_TIMEOUT_S) -> str:
    """Run `cmd`; fail the test with its output when it fails."""
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} failed ({done.returncode}) in {cwd}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    return done.stdout


def pack_listing() -> dict:
    """`npm pack --dry-run --json` of web/: {files: [{path, size}], size, unpackedSize, ...}."""
    out = run([npm(), "pack", "--dry-run", "--json", "--ignore-scripts"], WEB, timeout=120)
    return json.loads(out)[0]


def pack(dest: Path) -> Path:
    """`npm pack` web/ into `dest`; returns the tarball."""
    out = run([npm(), "pack", "--json", "--ignore-scripts", "--pack-destination", str(dest)], WEB, timeout=120)
    return dest / json.loads(out)[0]["filename"]
