"""Link a compiled Relax VM executable with the cached web runtime into a model library (.wasm).

TVM's own path (tvm.support.emcc.create_tvmjs_wasm) exports LLVM bitcode, which TVM 0.27 writes
as LLVM 22 and Debian's emcc 3.1.6 (LLVM 14) cannot read. Asking export_library for wasm object
files instead (an fcompile whose object_format is "o") works: wasm-ld reads newer objects fine.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from webslm.compile.webruntime.runtime import ensure_runtime_objects
from webslm.compile.webruntime.toolchain import Progress, run_emcc, say
from webslm.compile.webruntime.wasm import imports_tvmjs_lacks
from webslm.errors import WebslmError

# The settings of tvm.support.emcc.create_tvmjs_wasm, at -O2 (-O3 links ~3x slower).
LINK_FLAGS = [
    "-O2",
    "-std=c++17",
    "--no-entry",
    "-s", "WASM_BIGINT=1",
    "-s", "ERROR_ON_UNDEFINED_SYMBOLS=0",  # the rest is imported from the tvmjs runtime
    "-s", "STANDALONE_WASM=1",
    "-s", "ALLOW_MEMORY_GROWTH=1",
    "-s", "TOTAL_MEMORY=160MB",
]


def link_model_library(executable, out_path: Path, progress: Progress = None) -> Path:
    """Write the model library for `executable` (from tvm.relax.build for the webgpu target with
    a wasm32 host) to out_path, atomically; return out_path."""
    out_path = Path(out_path)
    if not hasattr(executable, "export_library"):
        raise TypeError(f"expected a tvm.relax VMExecutable, got {type(executable).__name__}")
    runtime_objects = [str(p) for p in ensure_runtime_objects(progress)]

    def fcompile(output: str, objects: list[str], options=None, **_kwargs) -> None:
        extra = list(options) if options else []
        run_emcc([*LINK_FLAGS, "-o", output, *runtime_objects, *objects, *extra],
                 f"linking the model library {out_path.name}")

    fcompile.object_format = "o"  # makes export_library write wasm objects, not bitcode

    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out_path.stem}.", suffix=".wasm",
                                    dir=out_path.parent)
    os.close(fd)
    start = time.monotonic()
    say(progress, f"linking {out_path.name} with emcc")
    try:
        with tempfile.TemporaryDirectory(prefix="webslm-link-") as workspace:
            executable.export_library(tmp_name, fcompile=fcompile, workspace_dir=workspace)
        _check_imports(Path(tmp_name), out_path.name)
        os.replace(tmp_name, out_path)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    say(progress, f"linked {out_path.name} in {time.monotonic() - start:.0f} s")
    return out_path


def _check_imports(wasm: Path, name: str) -> None:
    """Refuse a library that WebLLM could not instantiate (it would fail only in the browser)."""
    missing = imports_tvmjs_lacks(wasm)
    if missing:
        raise WebslmError(
            f"the linked {name} needs functions that WebLLM's runtime does not provide: "
            + ", ".join(missing),
            "these symbols were undefined at link time: the model uses a TVM function that the "
            "web runtime does not include; report it with the model's architecture",
        )
