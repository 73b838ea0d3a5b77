"""Model architectures. Importing this package registers every architecture."""

from webslm.compile.arch import llama  # noqa: F401  (registers itself)
from webslm.compile.arch.registry import ARCHITECTURES, Architecture, WeightMap, find_architecture

__all__ = ["ARCHITECTURES", "Architecture", "WeightMap", "find_architecture"]
