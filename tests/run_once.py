"""Test artifacts made once per test run, whichever pytest-xdist worker needs them first."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from filelock import FileLock


def built_once(tmp_path_factory, name: str, make) -> Path:
    """make(out) once per test run, even on several pytest-xdist workers: the first worker to
    need `name` makes it under the run's shared temp root while the others wait, then reuse
    it. Callers must not change what they get (copy or hard-link it first)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # pytest-N/, above each worker's popen-gwK/
    out, done = root / name, root / f"{name}.done"
    with FileLock(str(root / f"{name}.lock")):
        if not done.exists():
            shutil.rmtree(out, ignore_errors=True)  # a failed try of another worker
            out.mkdir()
            make(out)
            done.touch()
    return out


def linked_copy(src: Path, dst: Path) -> Path:
    """A copy of the build folder `src` at `dst` that a test may add to, hard-linked file by
    file where the filesystem allows (a shared build is never changed through it: builds
    replace files, never write into them)."""

    def link_or_copy(a, b):
        try:
            os.link(a, b)
        except OSError:
            shutil.copy2(a, b)

    return Path(shutil.copytree(src, dst, copy_function=link_or_copy))
