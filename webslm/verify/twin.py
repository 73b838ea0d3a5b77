"""The CPU twin of an artifact: its model compiled for the CPU, on exactly the stored weights.

`webslm verify` and `webslm eval` both start here, so both judge what the browser will run.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from webslm.arch import find_architecture
from webslm.arch.record import Architecture
from webslm.artifacts.manifest import read_manifest
from webslm.artifacts.tensor_cache_reader import read_tensor_cache
from webslm.compile.cpu_library import compile_cpu
from webslm.compile.spec import BuildShape, CompiledModel
from webslm.errors import WebslmError
from webslm.quantize.schemes import QuantScheme
from webslm.source import open_source
from webslm.source.adapter import read_adapter
from webslm.source.base import ModelSource
from webslm.source.merged import merge_adapter
from webslm.source.packaged import resolve_spec


@dataclasses.dataclass
class CpuTwin:
    manifest: dict
    source: ModelSource
    arch: Architecture
    compiled: CompiledModel
    stored: dict[str, np.ndarray]

    @property
    def quantization(self) -> str:
        return self.manifest["build"]["quantization"]

    @property
    def scheme(self) -> QuantScheme:
        """The build's scheme with the per-linear grids it recorded."""
        return QuantScheme.from_build(self.manifest["build"])


def open_manifest_source(manifest: dict, source_spec: str | None = None):
    """The model an artifact was built from (or --source), as its manifest records it: a
    fine-tune is its base with the recorded adapter merged again."""
    spec = resolve_spec(source_spec or manifest["source"]["spec"])
    source = open_source(spec, None if Path(spec).exists() else manifest["source"].get("revision"))
    adapter = manifest["source"].get("adapter")
    if adapter is None:
        return source
    if not Path(adapter["path"]).is_dir():
        raise WebslmError(f"the adapter this build merged, {adapter['path']}, is gone",
                          "restore the adapter folder, or rebuild")
    arch = find_architecture(source.config)
    return merge_adapter(source, read_adapter(Path(adapter["path"])), adapter.get("qlora_base"),
                         meta_rotary=arch.torchtune_meta_rotary)


def load_cpu_twin(artifact_dir: Path, source_spec: str | None = None) -> CpuTwin:
    """Compile the artifact's model for the CPU. f16 schemes compute in f32 on the stored codes
    and (f16) scales, so quantization is judged, not the browser's f16 arithmetic."""
    manifest = read_manifest(artifact_dir)
    cpu_scheme = QuantScheme.from_build(manifest["build"]).f32_twin
    source = open_manifest_source(manifest, source_spec)
    arch = find_architecture(source.config)
    stored = read_tensor_cache(Path(artifact_dir))
    lora = None
    if "adapter" in manifest["build"]:  # kept apart: the library has the adapter's branch
        from webslm.convert.kept_adapter import KeptAdapter

        lora = KeptAdapter.of(source, arch).plan
    compiled = compile_cpu(arch, source.config, cpu_scheme,
                           BuildShape(manifest["build"]["context_window"],
                                      manifest["build"]["prefill_chunk"]), lora=lora)
    return CpuTwin(manifest, source, arch, compiled, stored)
