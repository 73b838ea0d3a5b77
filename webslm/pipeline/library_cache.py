"""Compiled model libraries, reused across builds.

A WebGPU model library depends on what the model computes, not on its weights: the
architecture's config, the quantization scheme, the compile-time shape, a kept adapter's plan,
webslm's compile and quantize code, and the toolchain. A fine-tune rebuilt after more training,
or any rebuild of a model already built on this machine, takes the library (and its kernel
table) from webslm's cache and skips the compile and link, most of a small model's build.
Entries are checked against their file table on every use (source/cache.py);
`webslm build --recompile` compiles anyway.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import webslm
from webslm.compile.compiler import BuildShape, CompiledModel, ParamSpec
from webslm.compile.webruntime import toolchain_versions
from webslm.source.cache import cache_key, cached_entry, staged_dir

KIND = "libraries"
LIBRARY = "model.wasm"
METADATA = "metadata.json"  # the compile metadata: parameters, kernel calls, memory plan


@functools.cache
def _code_digest() -> str:
    """Every file of webslm's compile and quantize packages: a change to a kernel, schedule or
    pass is a new key, without anyone remembering to bump a version."""
    root = Path(webslm.__file__).parent
    digest = hashlib.sha256()
    for package in ("compile", "quantize"):
        for path in sorted((root / package).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def library_key(model_type: str, config: Any, scheme: Any, shape: BuildShape, lora: Any,
                target: Any) -> str:
    recipe = {"model_type": model_type, "config": dataclasses.asdict(config),
              "scheme": dataclasses.asdict(scheme), "shape": dataclasses.asdict(shape),
              "lora": repr(lora), "target": str(target), "toolchain": toolchain_versions(),
              "code": _code_digest()}
    return cache_key(json.dumps(recipe, sort_keys=True, default=repr))


@dataclasses.dataclass
class CachedLibrary:
    wasm: Path
    compiled: CompiledModel  # executable is None: the library is already linked


def find_library(key: str, config: Any) -> CachedLibrary | None:
    entry = cached_entry(KIND, key)
    if entry is None:
        return None
    try:
        metadata = json.loads((entry / METADATA).read_text())
        params = [ParamSpec(p["name"], tuple(p["shape"]), p["dtype"]) for p in metadata["params"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return CachedLibrary(entry / LIBRARY, CompiledModel(None, metadata, params, config))


def store_library(key: str, wasm: Path, metadata: dict, say) -> None:
    """Keep a linked library for the next build; a failure here never fails this build."""
    def fill(entry: Path) -> None:
        shutil.copyfile(wasm, entry / LIBRARY)
        (entry / METADATA).write_text(json.dumps(metadata))

    try:
        staged_dir(KIND, key, fill)
    except (OSError, TypeError, ValueError) as err:
        say(f"warning: the compiled library was not cached ({err}); the build is complete")
