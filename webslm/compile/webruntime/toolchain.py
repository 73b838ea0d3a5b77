"""Finding emscripten, running it, and naming the toolchain (its versions).

Everything that shells out to emcc goes through `run_emcc`, so a missing or failing emcc always
becomes a WebslmError that tells the user what to do.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import re
import shutil
import subprocess
from collections.abc import Callable

from webslm.errors import WebslmError

Progress = Callable[[str], None] | None  # optional callback for one-line status messages

INSTALL_HINT = "install Debian package emscripten: apt-get install emscripten"
# The emscripten webslm is tested with (Debian's; shared/TOOLCHAIN.md). Others may work.
EMSCRIPTEN_VERSION = "3.1.6"
STDERR_TAIL_CHARS = 4000


def say(progress: Progress, message: str) -> None:
    """Send a status message to the progress callback, if there is one."""
    if progress is not None:
        progress(message)


def find_emcc() -> str:
    """Path of emcc on PATH; a WebslmError with the install hint when there is none."""
    emcc = shutil.which("emcc")
    if emcc is None:
        raise WebslmError("emscripten's emcc was not found on PATH", INSTALL_HINT)
    return emcc


def run_emcc(args: list[str], what: str) -> None:
    """Run emcc with args; raise a WebslmError naming `what` with the tail of its output."""
    cmd = [find_emcc(), *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    except OSError as exc:  # e.g. emcc vanished or is not executable
        raise WebslmError(f"could not run emcc for {what}: {exc}", INSTALL_HINT) from exc
    if proc.returncode != 0:
        tail = (proc.stderr + proc.stdout)[-STDERR_TAIL_CHARS:]
        raise WebslmError(
            f"emcc failed while {what} (exit code {proc.returncode}):\n{tail}",
            "check the emscripten install (apt-get install emscripten); if the error is in TVM "
            "sources, the installed apache-tvm may not match the one webslm supports",
        )


@functools.lru_cache(maxsize=8)
def _emcc_version_line(emcc: str) -> str:
    proc = subprocess.run([emcc, "--version"], capture_output=True, text=True, errors="replace")
    if proc.returncode != 0 or not proc.stdout.strip():
        tail = proc.stderr[-STDERR_TAIL_CHARS:]
        raise WebslmError(f"`{emcc} --version` failed:\n{tail}", INSTALL_HINT)
    return proc.stdout.strip().splitlines()[0]


def emcc_version_line() -> str:
    """First line of `emcc --version` (cached per emcc path: emcc is slow to start)."""
    return _emcc_version_line(find_emcc())


def toolchain_versions() -> dict:
    """Versions of tvm, tvm_ffi and emscripten (None when emcc is absent).

    They key the runtime object cache and are recorded in every artifact manifest.
    """
    try:
        line = emcc_version_line()
        match = re.search(r"\b(\d+\.\d+\.\d+\S*)", line)
        emscripten = match.group(1) if match else line
    except WebslmError:
        emscripten = None
    return {
        "tvm": _version("apache-tvm", "tvm"),
        "tvm_ffi": _version("apache-tvm-ffi", "tvm_ffi"),
        "emscripten": emscripten,
    }


def _version(distribution: str, module: str) -> str:
    """The installed version; from the module itself for source builds that pip does not know."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return str(importlib.import_module(module).__version__)

