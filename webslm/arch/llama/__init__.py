"""Llama family: Llama 2/3.x, SmolLM2 and other LlamaForCausalLM checkpoints."""

from webslm.arch.llama import checkpoints
from webslm.arch.llama.config import LlamaConfig
from webslm.arch.llama.mapping import LLAMA_WEIGHTS
from webslm.arch.record import Architecture, GgufLayout

ARCH = Architecture(
    model_type="llama",
    hf_architectures=("LlamaForCausalLM",),
    config_from_hf=LlamaConfig.from_hf,
    model="webslm.arch.llama.model:LlamaForCausalLM",
    weight_map=LLAMA_WEIGHTS,
    published=checkpoints.PUBLISHED,
    gguf=GgufLayout("llama", interleaved_rotary=True),
    torchtune_meta_rotary=True,
)
