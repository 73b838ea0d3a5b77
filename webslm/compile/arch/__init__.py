"""Model architectures. Importing this package registers every architecture."""

from webslm.compile.arch import llama, phi3, qwen2  # noqa: F401  (each registers itself)
from webslm.compile.arch.registry import ARCHITECTURES, Architecture, WeightMap, find_architecture

__all__ = ["ARCHITECTURES", "Architecture", "WeightMap", "find_architecture"]
