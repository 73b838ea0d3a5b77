"""Model sources: hub repos, local HF folders and GGUF files, read as HF-named float32 tensors."""

from webslm.source.base import ModelSource
from webslm.source.bundled import smollm2_gguf_path
from webslm.source.gguf import GgufSource, open_gguf
from webslm.source.hub import download_snapshot, open_hub
from webslm.source.open import open_source
from webslm.source.safetensors_dir import SafetensorsSource, open_model_dir

__all__ = [
    "GgufSource",
    "ModelSource",
    "SafetensorsSource",
    "download_snapshot",
    "open_gguf",
    "open_hub",
    "open_model_dir",
    "open_source",
    "smollm2_gguf_path",
]
