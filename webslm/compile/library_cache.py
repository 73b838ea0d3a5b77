"""Compiled model libraries, reused across builds.

A WebGPU model library depends on what the model computes, not on its weights
(compile/library_key.py says what that is). A fine-tune rebuilt after more training, or any
rebuild of a model already built on this machine, takes the library (and its kernel table)
from webslm's cache and skips the compile and link, most of a small model's build.
Entries are checked against their file table on every use (source/cache.py);
`webslm build --recompile` compiles anyway.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

from webslm.compile.spec import CompiledModel, ParamSpec
from webslm.source.cache import cached_entry, staged_dir

KIND = "libraries"
LIBRARY = "model.wasm"
METADATA = "metadata.json"  # the compile metadata: parameters, kernel calls, memory plan


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
