"""The Llama config (Llama 2/3.x, SmolLM2, ...): what the model, the converter and the build
read off a Hugging Face config.json, with the hooks related architectures override
(`qkv_bias`, `o_proj_bias`, `activation`, `qk_norm`, `rotary_dim`, `rope_in_model`,
`kv_cache_rope_scaling`) instead of copying a block. No TVM here: model.py is the compiler's.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from webslm.errors import WebslmError
from webslm.source.config import head_dim


@dataclasses.dataclass
class LlamaConfig:
    """The subset of a Hugging Face Llama config.json the model needs."""

    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    vocab_size: int
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    rope_scaling: dict[str, Any] | None = None
    tie_word_embeddings: bool = False
    head_dim: int = 0
    max_position_embeddings: int = 2048
    attention_bias: bool = False
    mlp_bias: bool = False

    def __post_init__(self):
        if not self.head_dim:
            self.head_dim = head_dim(dataclasses.asdict(self))

    @classmethod
    def from_hf(cls, hf: dict[str, Any]) -> "LlamaConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        cfg = cls(**{k: v for k, v in hf.items() if k in names and v is not None})
        # transformers 5 writes `rope_parameters` (theta inside) instead of rope_scaling/theta
        rope = dict(hf.get("rope_scaling") or hf.get("rope_parameters") or {})
        theta = rope.pop("rope_theta", None)
        if theta is not None and hf.get("rope_theta") is None:
            cfg.rope_theta = theta
        rope_type = rope.get("rope_type", rope.get("type", "default"))
        cfg.rope_scaling = {**rope, "rope_type": rope_type} if rope_type != "default" else None
        act = hf.get("hidden_act") or cfg.activation
        if act != cfg.activation:  # the hook, not the config, picks the MLP's op
            raise WebslmError(f"config.json: hidden_act {act!r}, but this architecture's MLP "
                              f"computes {cfg.activation!r}",
                              "restore the model's original config.json")
        return cfg

    # -- hooks that related architectures override ------------------------------------
    @property
    def activation(self) -> str:
        """The MLP gate's activation, a config.json hidden_act name (compile/activations.py)."""
        return "silu"

    @property
    def qk_norm(self) -> bool:
        """An RMSNorm over each q and k head before RoPE (weights q_norm / k_norm, head_dim)."""
        return False

    @property
    def qkv_bias(self) -> bool:
        return self.attention_bias

    @property
    def o_proj_bias(self) -> bool:
        return self.attention_bias

    @property
    def rotary_dim(self) -> int:
        return self.head_dim

    @property
    def residual_dtype(self) -> str | None:
        """The residual stream's dtype when it is not the build's (verify's f16 range skips
        what an f16 build keeps wider)."""
        return None

    @property
    def max_prefill_chunk(self) -> int | None:
        """The longest prefill step the compiled attention computes exactly (None: any)."""
        return None

    def kv_positions(self, context: int, prefill_chunk: int) -> list[int]:
        """Positions each layer's KV cache holds in a WebGPU build at `context` tokens."""
        return [context] * self.num_hidden_layers

    @property
    def rope_in_model(self) -> bool:
        """The model rotates q/k itself (its TVM model's model_rope); else the KV cache does."""
        return False

    def kv_cache_rope_scaling(self) -> dict[str, Any]:
        """The rope_scaling dict in the form TIRPagedKVCache understands."""
        return dict(self.rope_scaling) if self.rope_scaling else {}
