"""Every file and folder name of a build, named once: the build pipeline writes by these names,
and `webslm serve`, verify, bench and the tests read by them.

A site serves each build from `models/<id>/resolve/main/` (the folder layout WebLLM expects).
A fine-tune built as "base + adapter" reads its base's weight shards from the base's own
folder: its tensor-cache.json names them by a URL relative to its own folder, which WebLLM
resolves with `new URL(dataPath, modelUrl)` and caches by the resolved URL, so the shards are
downloaded and stored once for the base and all its fine-tunes.
"""

from __future__ import annotations

from pathlib import Path

MANIFEST = "webslm-manifest.json"        # artifacts/manifest.py: what was built, and how
CHAT_CONFIG = "mlc-chat-config.json"     # WebLLM's model config
TENSOR_CACHE = "tensor-cache.json"       # WebLLM's weight index
ADAPTER_SHARD_PREFIX = "adapter_shard"   # a kept adapter's own shards (its base's are shared)
GGUF_DIR = "gguf"                        # the CPU build's llama.cpp file(s)
RESOLVE = "resolve/main"

_ONNX_SUFFIX = {"fp32": "", "q8": "_quantized"}  # transformers.js picks the file by dtype


def webgpu_build_id(model: str, quantization: str) -> str:
    """A WebLLM build of one quantization: smollm2-135m-q4f16_asym."""
    return f"{model}-{quantization}"


def cpu_build_id(model: str) -> str:
    """The CPU build (ONNX for transformers.js, GGUF for wllama): smollm2-135m-cpu."""
    return f"{model}-cpu"


def model_library(build_id: str) -> str:
    """A WebLLM build's compiled model library."""
    return f"{build_id}-webgpu.wasm"


def onnx_filename(dtype: str) -> str:
    """"q4" -> "model_q4.onnx", "q8" -> "model_quantized.onnx", "fp32" -> "model.onnx"."""
    return f"model{_ONNX_SUFFIX.get(dtype, '_' + dtype)}.onnx"


def onnx_data_filename(dtype: str) -> str:
    """The external-data file transformers.js fetches next to the graph."""
    return onnx_filename(dtype) + "_data"


def gguf_filename(qtype: str) -> str:
    """"Q8_0" -> "gguf/model.Q8_0.gguf", relative to the build folder (a larger file is
    split into model.Q8_0-00001-of-0000N.gguf and so on)."""
    return f"{GGUF_DIR}/model.{qtype}.gguf"


def model_folder(model_id: str) -> str:
    """A build's folder below the site's `models/`: `<id>/resolve/main/`."""
    return f"{model_id}/{RESOLVE}/"


def base_folder_ref(base_id: str) -> str:
    """The base build's folder relative to a fine-tune's folder:
    `../../../<base>/resolve/main/` (up out of `<id>/resolve/main/`, into the base's)."""
    return "../" * model_folder("x").count("/") + model_folder(base_id)


def base_file_ref(base_id: str, name: str) -> str:
    """The name a fine-tune's tensor cache and file table give its base's file `name`."""
    return base_folder_ref(base_id) + name


def split_base_ref(ref: str) -> tuple[str, str] | None:
    """base_file_ref's inverse: (base id, file name), or None for a build's own file."""
    up = base_folder_ref("")[: -len(model_folder(""))]
    rest = ref[len(up):].split("/") if ref.startswith(up) else []
    if len(rest) != 4 or "/".join(rest[1:3]) != RESOLVE:
        return None
    return rest[0], rest[3]


def local_file(artifact_dir: Path, ref: str) -> Path:
    """Where a tensor-cache dataPath's file is on disk: in the build's directory, or in its
    base's directory beside it (builds of one --out root are siblings)."""
    base = split_base_ref(ref)
    return artifact_dir / ref if base is None else artifact_dir.parent / base[0] / base[1]
