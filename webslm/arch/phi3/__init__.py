"""Phi-3 family: Phi-3 / Phi-3.5 Mini (Phi3ForCausalLM) checkpoints."""

from webslm.arch.phi3 import checkpoints
from webslm.arch.phi3.config import Phi3Config
from webslm.arch.phi3.mapping import PHI3_WEIGHTS
from webslm.arch.record import Architecture, GgufLayout

ARCH = Architecture(
    model_type="phi3",
    hf_architectures=("Phi3ForCausalLM",),
    config_from_hf=Phi3Config.from_hf,
    model="webslm.arch.phi3.model:Phi3ForCausalLM",
    weight_map=PHI3_WEIGHTS,
    published=checkpoints.PUBLISHED,
    tiny=checkpoints.TINY,
    # fused attn_qkv / ffn_up as the checkpoint stores them; rotary halves, as in Hugging Face
    gguf=GgufLayout("phi3"),
)
