"""Model architectures, one folder each. Importing this package imports every subpackage of
it, and each registers itself: an architecture is added by adding its folder."""

import importlib
import pkgutil

from webslm.compile.arch.registry import (ARCHITECTURES, ArchConfig, Architecture, WeightMap,
                                          architectures, find_architecture, published_config)

for _module in pkgutil.iter_modules(__path__):
    if _module.ispkg:
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["ARCHITECTURES", "ArchConfig", "Architecture", "WeightMap", "architectures",
           "find_architecture", "published_config"]
