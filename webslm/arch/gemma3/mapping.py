"""Hugging Face Gemma 3 tensor names -> webslm parameters: Llama's, with q_norm and k_norm
joined into one parameter (model.QkNorm); the four block norms keep their names."""

from webslm.arch.record import FUSED_PROJECTIONS, WeightMap

GEMMA3_WEIGHTS = WeightMap(
    fused={**FUSED_PROJECTIONS, "self_attn.qk_norm": ("self_attn.q_norm", "self_attn.k_norm")},
    ignored=("rotary_emb.inv_freq",))
