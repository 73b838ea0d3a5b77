"""Hugging Face Llama tensor names -> webslm parameters (fused projections)."""

from webslm.compile.arch.registry import WeightMap

LLAMA_WEIGHTS = WeightMap(
    fused={
        "self_attn.qkv_proj": ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"),
        "mlp.gate_up_proj": ("mlp.gate_proj", "mlp.up_proj"),
    },
    ignored=("rotary_emb.inv_freq",),
)
