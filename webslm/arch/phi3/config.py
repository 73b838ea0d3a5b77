"""Phi-3 / Phi-3.5: the Llama block with fused qkv/gate_up checkpoints and LongRoPE.

The math of a Phi-3 layer is Llama's (pre-norm, SiLU-gated MLP with gate first, no biases),
so the model is LlamaForCausalLM; only the config differs. With LongRoPE the model rotates
q/k itself (webslm.compile.rope explains why) and the KV cache stores them as given.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from webslm.arch.llama.config import LlamaConfig
from webslm.errors import WebslmError

LONGROPE_ALIASES = ("longrope", "su", "yarn")  # older Phi-3 configs say "su" (or "yarn")


@dataclasses.dataclass
class Phi3Config(LlamaConfig):
    original_max_position_embeddings: int = 0
    partial_rotary_factor: float = 1.0
    sliding_window: int | None = None

    @classmethod
    def from_hf(cls, hf: dict[str, Any]) -> "Phi3Config":
        cfg = super().from_hf(hf)
        rope = dict(hf.get("rope_scaling") or hf.get("rope_parameters") or {})
        # transformers gives the top-level original_max_position_embeddings priority
        cfg.original_max_position_embeddings = (
            hf.get("original_max_position_embeddings") or rope.get("original_max_position_embeddings")
            or cfg.max_position_embeddings)
        cfg.partial_rotary_factor = (hf.get("partial_rotary_factor")
                                     or rope.get("partial_rotary_factor") or 1.0)
        if cfg.rope_scaling is not None:
            if cfg.rope_scaling["rope_type"] not in LONGROPE_ALIASES:
                raise WebslmError(f"Phi-3 rope scaling {cfg.rope_scaling['rope_type']!r} is not "
                                  "supported", "webslm compiles Phi-3 with plain RoPE or LongRoPE")
            cfg.rope_scaling = {**cfg.rope_scaling, "rope_type": "longrope",
                                "original_max_position_embeddings": cfg.original_max_position_embeddings}
        if cfg.sliding_window is not None and cfg.sliding_window < cfg.max_position_embeddings:
            raise WebslmError(
                f"this Phi-3 checkpoint attends through a sliding window of {cfg.sliding_window} "
                "tokens, which webslm does not compile",
                "use a checkpoint without a sliding window smaller than its context, e.g. Phi-3.5")
        return cfg

    @property
    def rotary_dim(self) -> int:
        return int(self.head_dim * self.partial_rotary_factor)

    @property
    def rope_in_model(self) -> bool:
        return self.rope_scaling is not None  # LongRoPE (model.py)

    def kv_cache_rope_scaling(self) -> dict[str, Any]:
        return {}  # plain RoPE in the cache, or none at all (LongRoPE is in the model)
