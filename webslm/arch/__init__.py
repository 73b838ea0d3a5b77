"""The architectures webslm compiles, one folder each, listed here; looked up by the
`architectures` field of a Hugging Face config.json.

A folder holds the record (`__init__.py`), the config (`config.py`), the tensor-name mapping
(`mapping.py`), released configs and the tiny test model (`checkpoints.py`), and the TVM model
(`model.py`, imported by the compiler alone). Adding an architecture is adding its folder and
its line in ALL.
"""

from __future__ import annotations

from typing import Any

from webslm.arch import gemma3, llama, phi3, qwen2, qwen3
from webslm.arch.record import ArchConfig, Architecture, WeightMap
from webslm.errors import WebslmError

ALL: tuple[Architecture, ...] = (gemma3.ARCH, llama.ARCH, phi3.ARCH, qwen2.ARCH, qwen3.ARCH)

# config.json "architectures" value -> record
ARCHITECTURES: dict[str, Architecture] = {name: a for a in ALL for name in a.hf_architectures}


def architectures() -> list[Architecture]:
    """Every architecture once, in model_type order."""
    return sorted(ALL, key=lambda a: a.model_type)


def published_config(name: str) -> dict[str, Any] | None:
    """The released config.json of the models.yaml model `name`, when an architecture
    folder holds it (known before anything is downloaded)."""
    for arch in ALL:
        if name in arch.published:
            return arch.published[name].config
    return None


def find_architecture(hf_config: dict[str, Any]) -> Architecture:
    names = hf_config.get("architectures") or []
    for name in names:
        if name in ARCHITECTURES:
            return ARCHITECTURES[name]
    for arch in ALL:
        for name in names:
            if name in arch.refused:
                raise WebslmError(f"{name} is not {arch.display_name}: {arch.refused[name]}",
                                  f"webslm compiles {', '.join(sorted(ARCHITECTURES))}")
    got = ", ".join(names) or f"model_type={hf_config.get('model_type')!r}"
    raise WebslmError(
        f"unsupported architecture {got}",
        f"webslm compiles {', '.join(sorted(ARCHITECTURES))}; pick a model of one of these "
        "architectures (see `webslm models`)",
    )


__all__ = ["ALL", "ARCHITECTURES", "ArchConfig", "Architecture", "WeightMap", "architectures",
           "find_architecture", "published_config"]
