"""Qwen3 (dense): the shared Llama block with an RMSNorm over each q and k head (before RoPE)
and, unlike Qwen2, no q/k/v bias (attention_bias, false in every release).

GQA, the SiLU-gated MLP, RoPE with theta 1e6 and tied or untied embeddings are the shared
blocks' math, so the model is LlamaForCausalLM with this config.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from webslm.arch.llama.config import LlamaConfig
from webslm.errors import WebslmError


@dataclasses.dataclass
class Qwen3Config(LlamaConfig):
    rms_norm_eps: float = 1e-6
    # Carried into mlc-chat-config as the checkpoint states them; every Qwen3 release ships
    # use_sliding_window=false, so no layer slides.
    use_sliding_window: bool = False
    sliding_window: int | None = None
    max_window_layers: int = 0

    @classmethod
    def from_hf(cls, hf: dict[str, Any]) -> "Qwen3Config":
        cfg = super().from_hf(hf)
        # transformers: layer i slides when its layer_types entry says so (older configs:
        # use_sliding_window and i >= max_window_layers)
        layer_types = hf.get("layer_types") or []
        sliding = "sliding_attention" in layer_types or (
            cfg.use_sliding_window and cfg.max_window_layers < cfg.num_hidden_layers)
        if sliding:
            raise WebslmError(
                f"this Qwen3 checkpoint uses sliding-window attention ({cfg.sliding_window} "
                "tokens), which webslm does not compile",
                "use a checkpoint with use_sliding_window=false (all Qwen3 dense releases)")
        return cfg

    @property
    def qk_norm(self) -> bool:
        return True
