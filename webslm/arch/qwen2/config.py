"""Qwen2 / Qwen2.5: the Llama block with biases on the q/k/v projections (not on o_proj).

Everything else (GQA, RMSNorm, SiLU-gated MLP, RoPE with the config's theta, optional tied
embeddings) is Llama's math, so the model is LlamaForCausalLM with a different config.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from webslm.arch.llama.config import LlamaConfig
from webslm.errors import WebslmError


@dataclasses.dataclass
class Qwen2Config(LlamaConfig):
    rms_norm_eps: float = 1e-6
    # Carried into mlc-chat-config as the checkpoint states them. Qwen2.5 ships
    # use_sliding_window=false, so no layer slides and sliding_window_size stays -1.
    use_sliding_window: bool = False
    sliding_window: int | None = None
    max_window_layers: int = 0

    @classmethod
    def from_hf(cls, hf: dict[str, Any]) -> "Qwen2Config":
        cfg = super().from_hf(hf)
        # transformers: layer i slides when use_sliding_window and i >= max_window_layers
        if cfg.use_sliding_window and cfg.max_window_layers < cfg.num_hidden_layers:
            raise WebslmError(
                f"this Qwen2 checkpoint uses sliding-window attention ({cfg.sliding_window} "
                f"tokens from layer {cfg.max_window_layers}), which webslm does not compile",
                "use a checkpoint with use_sliding_window=false (all Qwen2.5 releases)")
        return cfg

    @property
    def qkv_bias(self) -> bool:
        return True

    @property
    def o_proj_bias(self) -> bool:
        return False
