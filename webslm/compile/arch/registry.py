"""Architectures register themselves here; the rest of webslm looks them up by the
`architectures` field of a Hugging Face config.json."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from webslm.errors import WebslmError


@dataclasses.dataclass(frozen=True)
class WeightMap:
    """How Hugging Face tensors become model parameters, as data.

    fused: parameter suffix -> HF suffixes concatenated (axis 0) to form it, e.g.
        "self_attn.qkv_proj" <- ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj").
    ignored: HF tensor name suffixes that have no parameter (e.g. rotary caches).
    """

    fused: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    ignored: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Architecture:
    model_type: str                    # the name WebLLM/MLC use in mlc-chat-config.json
    hf_architectures: tuple[str, ...]  # config.json "architectures" values we accept
    config_from_hf: Callable[[dict[str, Any]], Any]
    model_cls: type
    weight_map: WeightMap


ARCHITECTURES: dict[str, Architecture] = {}


def register(arch: Architecture) -> Architecture:
    for name in arch.hf_architectures:
        ARCHITECTURES[name] = arch
    return arch


def find_architecture(hf_config: dict[str, Any]) -> Architecture:
    names = hf_config.get("architectures") or []
    for name in names:
        if name in ARCHITECTURES:
            return ARCHITECTURES[name]
    got = ", ".join(names) or f"model_type={hf_config.get('model_type')!r}"
    raise WebslmError(
        f"unsupported architecture {got}",
        f"webslm compiles {', '.join(sorted(ARCHITECTURES))}; pick a model of one of these "
        "architectures (see `webslm models`)",
    )
