"""Qwen2 family: Qwen2 / Qwen2.5 (Qwen2ForCausalLM) checkpoints."""

from webslm.compile.arch.qwen2.mapping import QWEN2_WEIGHTS
from webslm.compile.arch.qwen2.model import Qwen2Config, Qwen2ForCausalLM
from webslm.compile.arch.qwen2 import checkpoints
from webslm.compile.arch.registry import Architecture, GgufLayout, register

ARCH = register(Architecture(
    model_type="qwen2",
    hf_architectures=("Qwen2ForCausalLM",),
    config_from_hf=Qwen2Config.from_hf,
    model_cls=Qwen2ForCausalLM,
    weight_map=QWEN2_WEIGHTS,
    published=checkpoints.PUBLISHED,
    gguf=GgufLayout("qwen2"),
    tiny=checkpoints.TINY,
))
