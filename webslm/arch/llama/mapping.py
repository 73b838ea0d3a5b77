"""Hugging Face Llama tensor names -> webslm parameters (fused projections)."""

from webslm.arch.record import FUSED_PROJECTIONS, WeightMap

LLAMA_WEIGHTS = WeightMap(fused=FUSED_PROJECTIONS, ignored=("rotary_emb.inv_freq",))
