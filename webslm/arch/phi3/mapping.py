"""Phi-3 checkpoints already store fused qkv_proj and gate_up_proj: names map one to one."""

from webslm.arch.record import WeightMap

PHI3_WEIGHTS = WeightMap(ignored=("rotary_emb.inv_freq",))
