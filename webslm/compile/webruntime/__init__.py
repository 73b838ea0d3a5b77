"""TVM's web runtime, compiled once per toolchain, and linking model libraries (.wasm) with it.

WebLLM loads a model library: one wasm holding the model's compiled host code, its WebGPU
shaders, and TVM's C++ runtime. pip's apache-tvm ships the runtime only as sources, and emits
LLVM bitcode newer than Debian's emscripten reads, so webslm builds both halves as wasm objects
itself and links them with emcc.
"""

from webslm.compile.webruntime.link import link_model_library
from webslm.compile.webruntime.runtime import ensure_runtime_objects
from webslm.compile.webruntime.toolchain import toolchain_versions

__all__ = ["ensure_runtime_objects", "link_model_library", "toolchain_versions"]
