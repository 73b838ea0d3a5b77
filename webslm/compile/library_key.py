"""What a compiled model library is compiled from, as one cache key.

A model library depends on what the model computes, not on its weights: the architecture's
config, the quantization scheme, the compile-time shape, a kept adapter's plan, the target,
webslm's arch, compile and quantize code, and the toolchain. The WebGPU libraries of builds
(compile/library_cache.py) and the CPU twins of verify and eval (compile/cpu_library.py) are
cached under it.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from pathlib import Path
from typing import Any

import webslm
from webslm.compile import spec
from webslm.compile.spec import BuildShape
from webslm.compile.webruntime import toolchain_versions


@functools.cache
def _code_digest() -> str:
    """Every file of webslm's arch, compile and quantize packages: a change to a model, kernel,
    schedule or pass is a new key, without anyone remembering to bump a version."""
    root = Path(webslm.__file__).parent
    digest = hashlib.sha256()
    for package in ("arch", "compile", "quantize"):
        for path in sorted((root / package).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def library_key(model_type: str, config: Any, scheme: Any, shape: BuildShape, lora: Any,
                target: Any) -> str:
    recipe = {"model_type": model_type, "config": dataclasses.asdict(config),
              "scheme": dataclasses.asdict(scheme), "shape": dataclasses.asdict(shape),
              "lora": repr(lora), "target": str(target), "toolchain": toolchain_versions(),
              "binding_limit": spec.DEFAULT_BINDING_BYTES,  # tables above it are row blocks
              "code": _code_digest()}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True, default=repr).encode()).hexdigest()[:32]
