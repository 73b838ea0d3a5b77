"""Phi-3 family: Phi-3 / Phi-3.5 Mini (Phi3ForCausalLM) checkpoints."""

from webslm.compile.arch.phi3.mapping import PHI3_WEIGHTS
from webslm.compile.arch.phi3.model import Phi3Config, Phi3ForCausalLM
from webslm.compile.arch.phi3 import checkpoints
from webslm.compile.arch.registry import Architecture, register

ARCH = register(Architecture(
    model_type="phi3",
    hf_architectures=("Phi3ForCausalLM",),
    config_from_hf=Phi3Config.from_hf,
    model_cls=Phi3ForCausalLM,
    weight_map=PHI3_WEIGHTS,
    published=checkpoints.PUBLISHED,
    tiny=checkpoints.TINY,
))
