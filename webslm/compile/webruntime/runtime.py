"""Compile TVM's web runtime (the C++ half of every model library) once, and cache the objects.

Next to TVM's three sources it compiles webslm's own C++ (WEBSLM_SOURCES: the windowed KV
cache), and it edits TVM's sources first (patches.py).

The apache-tvm wheel ships the runtime sources (tvm/web/emcc, tvm/src/runtime) but not a built
runtime, and lacks a few headers those sources include; webslm ships its own versions of those in
include_extra/. Compiling takes minutes (wasm_runtime.cc alone 2-4 min on 2 cores), so the objects
are cached per toolchain under <cache>/runtime/<key>/ and shared by every model build.

A cache entry only appears by an atomic rename of a fully built directory, under a file lock, so
a crash or a concurrent build never leaves something that looks complete but is not. build.json
records each object's bytes and sha256; an entry damaged later (a truncated or altered object)
is detected on use and repaired by recompiling only the bad objects.
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

from webslm.compile.webruntime import patches
from webslm.compile.webruntime.toolchain import (
    Progress,
    emcc_version_line,
    find_emcc,
    run_emcc,
    say,
    toolchain_versions,
)
from webslm.errors import WebslmError
from webslm.hashing import file_entry, sha256_file
from webslm.user_cache import CACHE_ENV, cache_root, exchange_dirs

INCLUDE_EXTRA = Path(__file__).parent / "include_extra"
WEBSLM_SOURCES = (Path(__file__).parent / "windowed_kv_cache.cc",)  # compiled with TVM's own
RUNTIME_SOURCES = ("wasm_runtime", "tvmjs_support", "webgpu_runtime",
                   *(p.stem for p in WEBSLM_SOURCES))  # also the link order
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
    digest.update(patches.fingerprint())
    for source in WEBSLM_SOURCES:
        digest.update(source.read_bytes())
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


def damaged_objects(directory: Path) -> dict[str, str]:
    """Source name -> what is wrong with its object in a cache entry (empty: all good).
    Checked against the bytes and sha256 recorded in build.json when the entry was made;
    an entry from before those were recorded gets a structural check of the wasm file."""
    table = _recorded(directory)
    damaged = {}
    for name, path in zip(RUNTIME_SOURCES, _objects_in(directory)):
        if not path.is_file() or path.stat().st_size == 0:
            damaged[name] = "missing" if not path.exists() else "empty"
            continue
        expected = table.get(path.name) if table else None
        size = path.stat().st_size
        if expected and size != expected["bytes"]:
            damaged[name] = f"{size} bytes, {expected['bytes']} expected"
        elif expected and sha256_file(path) != expected["sha256"]:
            damaged[name] = "sha256 differs from build.json"
        elif not expected and (problem := wasm_problem(path)):
            damaged[name] = problem
    return damaged


def _is_complete(directory: Path) -> bool:
    return directory.is_dir() and not damaged_objects(directory)


def _recorded(directory: Path) -> dict | None:
    """build.json's table of objects, or None (an older entry, or an unreadable build.json)."""
    try:
        objects = json.loads((directory / "build.json").read_text()).get("objects")
    except (OSError, ValueError, AttributeError):
        return None
    return objects if isinstance(objects, dict) else None




def _object_table(directory: Path) -> dict:
    return {p.name: file_entry(p) for p in _objects_in(directory)}


def wasm_problem(path: Path) -> str | None:
    """Why `path` is not a whole wasm object file (a truncated one ends mid-section), or None.
    Walks the section headers only: milliseconds for the 7 MB wasm_runtime.o."""
    data = path.read_bytes()
    if data[:8] != b"\0asm\x01\0\0\0":
        return "not a wasm object file"
    pos = 8
    while pos < len(data):
        pos += 1  # section id
        size, shift = 0, 0
        while pos < len(data):
            byte = data[pos]
            pos += 1
            size |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        else:
            return "truncated (ends inside a section header)"
        pos += size
    return None if pos == len(data) else f"truncated ({len(data)} bytes, sections need {pos})"


def _record_table(directory: Path) -> None:
    """Add the objects' sizes and hashes to an older entry's build.json (written atomically)
    so that later damage is caught by hash, not only by the structural check."""
    info_path = directory / "build.json"
    try:
        info = json.loads(info_path.read_text())
    except (OSError, ValueError):
        info = {}
    info["objects"] = _object_table(directory)
    tmp = directory / f".build.json.{os.getpid()}"
    try:
        tmp.write_text(json.dumps(info, indent=2) + "\n")
        os.replace(tmp, info_path)
    except OSError:
        tmp.unlink(missing_ok=True)  # a read-only cache still works, with the weaker check


def _stage_sources(stage: Path) -> list[str]:
    """Lay out the sources as in a TVM checkout (their relative #includes expect that) and
    return the emcc include flags."""
    tvm_dir, ffi = _tvm_dir(), _tvm_ffi_paths()
    shutil.copytree(tvm_dir / "web" / "emcc", stage / "web" / "emcc")
    shutil.copytree(tvm_dir / "src" / "runtime", stage / "src" / "runtime")
    shutil.copytree(ffi["src"], stage / "3rdparty" / "tvm-ffi" / "src")
    for source in WEBSLM_SOURCES:
        shutil.copy2(source, stage / "web" / "emcc" / source.name)
    patches.apply_edits(stage)
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


def _compile_all(stage: Path, out_dir: Path, progress: Progress,
                 names: tuple[str, ...] = RUNTIME_SOURCES) -> None:
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
        for future in [pool.submit(compile_one, name) for name in names]:
            future.result()  # re-raises the first WebslmError


def ensure_runtime_objects(progress: Progress = None) -> list[Path]:
    """Paths of the compiled web runtime objects (wasm_runtime, tvmjs_support, webgpu_runtime),
    compiling them first if this toolchain has no complete cache entry. A damaged entry
    (truncated, emptied or altered object) is repaired: only its bad objects are recompiled."""
    find_emcc()  # fail early, with the install hint, before any work
    final = runtime_dir()
    if _is_complete(final):
        if _recorded(final) is None:
            _record_table(final)
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
        for stale in final.parent.glob(f"{final.name}.tmp-*"):  # left by a killed build
            shutil.rmtree(stale, ignore_errors=True)
        damaged = damaged_objects(final) if final.is_dir() else dict.fromkeys(RUNTIME_SOURCES)
        if final.is_dir():
            reasons = ", ".join(f"{n}.o: {why}" for n, why in damaged.items())
            say(progress, f"the web runtime cache entry {final} is damaged ({reasons}): "
                          "recompiling what is needed")
        else:
            say(progress, "compiling TVM's web runtime (once per toolchain, a few minutes)")
        _rebuild(final, tuple(n for n in RUNTIME_SOURCES if n in damaged), progress)
    return _objects_in(final)


def _rebuild(final: Path, names: tuple[str, ...], progress: Progress) -> None:
    """Compile `names` into a fresh entry (the other objects are copied from the old one)
    and swap it in whole: the entry is complete or absent, never half-written."""
    start = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix=f"{final.name}.tmp-", dir=final.parent))
    try:
        out_dir = work / "objects"
        out_dir.mkdir()
        for name in RUNTIME_SOURCES:
            if name not in names:
                shutil.copy2(final / f"{name}.o", out_dir / f"{name}.o")
        _compile_all(work / "stage", out_dir, progress, names)
        info = {"toolchain": toolchain_versions(), "emcc": emcc_version_line(),
                "cflags": CFLAGS, "seconds": round(time.monotonic() - start, 1),
                "objects": _object_table(out_dir)}
        (out_dir / "build.json").write_text(json.dumps(info, indent=2) + "\n")
        if final.exists() and not exchange_dirs(out_dir, final):
            final.rename(work / "old")  # no atomic exchange here: a brief gap, under the lock
        if not final.exists():
            os.rename(out_dir, final)  # atomic: the entry appears complete or not at all
    finally:
        shutil.rmtree(work, ignore_errors=True)
    say(progress, f"web runtime compiled in {time.monotonic() - start:.0f} s: {final}")
