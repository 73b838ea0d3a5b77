"""Llama family: Llama 2/3.x, SmolLM2 and other LlamaForCausalLM checkpoints."""

from webslm.compile.arch.llama.mapping import LLAMA_WEIGHTS
from webslm.compile.arch.llama.model import LlamaConfig, LlamaForCausalLM
from webslm.compile.arch.llama import checkpoints
from webslm.compile.arch.registry import Architecture, GgufLayout, register

ARCH = register(Architecture(
    model_type="llama",
    hf_architectures=("LlamaForCausalLM",),
    config_from_hf=LlamaConfig.from_hf,
    model_cls=LlamaForCausalLM,
    weight_map=LLAMA_WEIGHTS,
    published=checkpoints.PUBLISHED,
    gguf=GgufLayout("llama", interleaved_rotary=True),
    torchtune_meta_rotary=True,
))
