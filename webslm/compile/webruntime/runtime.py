"""Compile TVM's web runtime (the C++ half of every model library) once, and cache the objects.

The apache-tvm wheel ships the runtime sources (tvm/web/emcc, tvm/src/runtime) but not a built
runtime, and lacks a few headers those sources include; webslm ships its own versions of those in
include_extra/. Compiling takes minutes (wasm_runtime.cc alone 2-4 min on 2 cores), so the objects
are cached per toolchain under <cache>/runtime/<key>/ and shared by every model build.

A cache entry only appears by an atomic rename of a fully built directory, under a file lock, so
a crash or a concurrent build never leaves something that looks complete but is not.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from webslm.compile.webruntime.toolchain import (
    Progress,
    emcc_version_line,
    find_emcc,
    run_emcc,
    say,
    toolchain_versions,
)
from webslm.errors import WebslmError
from webslm.user_cache import CACHE_ENV, cache_root

INCLUDE_EXTRA = Path(__file__).parent / "include_extra"
RUNTIME_SOURCES = ("wasm_runtime", "tvmjs_support", "webgpu_runtime")  # also the link order
CFLAGS = ["-O3", "-std=c++17", "-Wno-ignored-attributes"]
MAX_JOBS = 2


def _tvm_dir() -> Path:
    """The installed tvm package directory, found without importing tvm (slow to import)."""
    spec = importlib.util.find_spec("tvm")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("apache-tvm is not installed")
    return Path(list(spec.submodule_search_locations)[0])


def _tvm_ffi_paths() -> dict[str, Path]:
    from tvm_ffi import libinfo

    return {
        "src": Path(libinfo.find_source_path()) / "src",
        "include": Path(libinfo.find_include_path()),
        "dlpack": Path(libinfo.find_dlpack_include_path()),
    }


def cache_key() -> str:
    """Directory name for this toolchain: versions, plus a digest of everything else that
    changes the objects (exact emcc build, flags, and webslm's own headers)."""
    versions = toolchain_versions()
    digest = hashlib.sha256()
    digest.update(emcc_version_line().encode())
    digest.update(" ".join(CFLAGS).encode())
    for header in sorted(INCLUDE_EXTRA.rglob("*.h")):
        digest.update(header.relative_to(INCLUDE_EXTRA).as_posix().encode())
        digest.update(header.read_bytes())
    return (
        f"tvm-{versions['tvm']}_ffi-{versions['tvm_ffi']}_emcc-{versions['emscripten']}"
        f"_{digest.hexdigest()[:10]}"
    )


def runtime_dir() -> Path:
    """Where the objects for the current toolchain live (or will live) in the cache."""
    return cache_root() / "runtime" / cache_key()


def _objects_in(directory: Path) -> list[Path]:
    return [directory / f"{name}.o" for name in RUNTIME_SOURCES]


def _is_complete(directory: Path) -> bool:
    return all(p.is_file() and p.stat().st_size > 0 for p in _objects_in(directory))


def _stage_sources(stage: Path) -> list[str]:
    """Lay out the sources as in a TVM checkout (their relative #includes expect that) and
    return the emcc include flags."""
    tvm_dir, ffi = _tvm_dir(), _tvm_ffi_paths()
    shutil.copytree(tvm_dir / "web" / "emcc", stage / "web" / "emcc")
    shutil.copytree(tvm_dir / "src" / "runtime", stage / "src" / "runtime")
    shutil.copytree(ffi["src"], stage / "3rdparty" / "tvm-ffi" / "src")
    for extra in ("src/support", "3rdparty/compiler-rt"):
        shutil.copytree(INCLUDE_EXTRA / extra, stage / extra)
        if (tvm_dir / extra).is_dir():  # a wheel that ships these headers wins over ours
            shutil.copytree(tvm_dir / extra, stage / extra, dirs_exist_ok=True)
    include_dirs = [
        stage,
        tvm_dir / "include",
        INCLUDE_EXTRA / "include",
        ffi["include"],
        ffi["dlpack"],
        stage / "3rdparty" / "compiler-rt",
    ]
    return [f"-I{d}" for d in include_dirs]


def _compile_all(stage: Path, out_dir: Path, progress: Progress) -> None:
    includes = _stage_sources(stage)

    def compile_one(name: str) -> None:
        start = time.monotonic()
        source = stage / "web" / "emcc" / f"{name}.cc"
        say(progress, f"compiling web runtime: {name}.cc")
        run_emcc([*includes, *CFLAGS, "-c", str(source), "-o", str(out_dir / f"{name}.o")],
                 f"compiling the TVM web runtime source {name}.cc")
        say(progress, f"compiled {name}.cc in {time.monotonic() - start:.0f} s")

    # wasm_runtime.cc goes first: it takes ~10x longer than the other two together.
    with ThreadPoolExecutor(max_workers=MAX_JOBS) as pool:
        for future in [pool.submit(compile_one, name) for name in RUNTIME_SOURCES]:
            future.result()  # re-raises the first WebslmError


def ensure_runtime_objects(progress: Progress = None) -> list[Path]:
    """Paths of the compiled web runtime objects (wasm_runtime, tvmjs_support, webgpu_runtime),
    compiling them first if this toolchain has no complete cache entry."""
    find_emcc()  # fail early, with the install hint, before any work
    final = runtime_dir()
    if _is_complete(final):
        return _objects_in(final)

    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        lock = open(final.parent / f"{final.name}.lock", "w")
    except OSError as exc:
        raise WebslmError(f"cannot write webslm's cache at {final.parent}: {exc}",
                          f"set {CACHE_ENV} to a writable directory") from exc
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(progress, "waiting for another webslm process that is compiling the web runtime")
            fcntl.flock(lock, fcntl.LOCK_EX)
        if _is_complete(final):  # built by the process we waited for
            return _objects_in(final)
        if final.exists():  # damaged by hand (files removed): rebuild it
            shutil.rmtree(final)
        for stale in final.parent.glob(f"{final.name}.tmp-*"):  # left by a killed build
            shutil.rmtree(stale, ignore_errors=True)

        say(progress, "compiling TVM's web runtime (once per toolchain, a few minutes)")
        start = time.monotonic()
        work = Path(tempfile.mkdtemp(prefix=f"{final.name}.tmp-", dir=final.parent))
        try:
            out_dir = work / "objects"
            out_dir.mkdir()
            _compile_all(work / "stage", out_dir, progress)
            info = {"toolchain": toolchain_versions(), "emcc": emcc_version_line(),
                    "cflags": CFLAGS, "seconds": round(time.monotonic() - start, 1)}
            (out_dir / "build.json").write_text(json.dumps(info, indent=2) + "\n")
            os.rename(out_dir, final)  # atomic: the entry appears complete or not at all
        finally:
            shutil.rmtree(work, ignore_errors=True)
        say(progress, f"web runtime compiled in {time.monotonic() - start:.0f} s: {final}")
    return _objects_in(final)
