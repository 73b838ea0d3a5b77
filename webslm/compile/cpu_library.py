"""CPU twins' compiled libraries, reused: `verify`, `eval` and the tests compile the same
CPU model again and again (an f16 build's twin is its f32 twin, SmolLM2's takes ~9 s to
compile and well under a second to load). Keyed like the WebGPU libraries of builds
(compile/library_key.py); a damaged or unloadable entry is compiled again, and a failure to
store one never fails the caller.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from webslm.compile.compiler import compile_model
from webslm.compile.library_key import library_key
from webslm.compile.lowering import cpu_target
from webslm.compile.spec import BuildShape, CompiledModel, ParamSpec
from webslm.quantize.schemes import QuantScheme
from webslm.source.cache import cached_entry, staged_dir

if TYPE_CHECKING:  # the compiler reads an architecture's record; records never import it
    from webslm.arch.record import Architecture

KIND = "cpu-libraries"
LIBRARY = "model.so"
METADATA = "metadata.json"


def compile_cpu(arch: Architecture, hf_config: dict[str, Any], scheme: QuantScheme,
                shape: BuildShape, lora: Any = None) -> CompiledModel:
    config = arch.config_from_hf(hf_config)
    key = library_key(arch.model_type, config, scheme, shape, lora, cpu_target())
    entry = cached_entry(KIND, key)
    if entry is not None:
        try:
            return _load(entry, config)
        except Exception:  # noqa: BLE001 - an entry TVM cannot load is compiled again
            pass
    compiled = compile_model(arch, hf_config, scheme, cpu_target(), shape, lora=lora)
    try:
        staged_dir(KIND, key, lambda out: _store(out, compiled))
    except Exception:  # noqa: BLE001 - the cache is an optimisation
        pass
    return compiled


def _store(out: Path, compiled: CompiledModel) -> None:
    compiled.executable.export_library(str(out / LIBRARY))
    params = [{"name": p.name, "shape": list(p.shape), "dtype": p.dtype} for p in compiled.params]
    (out / METADATA).write_text(json.dumps({"metadata": compiled.metadata, "params": params}))


def _load(entry: Path, config: Any) -> CompiledModel:
    import tvm

    saved = json.loads((entry / METADATA).read_text())
    params = [ParamSpec(p["name"], tuple(p["shape"]), p["dtype"]) for p in saved["params"]]
    return CompiledModel(tvm.runtime.load_module(str(entry / LIBRARY)), saved["metadata"], params,
                         config)
