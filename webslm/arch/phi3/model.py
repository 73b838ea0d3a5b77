"""Phi-3's TVM model (the compiler imports it): Llama's blocks, rotating q/k with LongRoPE
itself when the config scales RoPE (webslm.compile.rope says why not in the KV cache)."""

from webslm.arch.llama.model import LlamaForCausalLM
from webslm.arch.phi3.config import Phi3Config
from webslm.compile.rope import LongRope


class Phi3ForCausalLM(LlamaForCausalLM):
    """Llama's entry points and KV cache; LongRoPE where Phi3Config asks for it."""

    @staticmethod
    def model_rope(cfg: Phi3Config) -> LongRope | None:
        if not cfg.rope_in_model:
            return None
        return LongRope.from_rope_scaling(
            cfg.rope_scaling, theta=cfg.rope_theta, rotary_dim=cfg.rotary_dim,
            num_rotated_heads=cfg.num_attention_heads + cfg.num_key_value_heads,
            max_position_embeddings=cfg.max_position_embeddings,
            original_max_position_embeddings=cfg.original_max_position_embeddings)
