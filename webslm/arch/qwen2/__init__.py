"""Qwen2 family: Qwen2 / Qwen2.5 (Qwen2ForCausalLM) checkpoints."""

from webslm.arch.qwen2 import checkpoints
from webslm.arch.qwen2.config import Qwen2Config
from webslm.arch.qwen2.mapping import QWEN2_WEIGHTS
from webslm.arch.record import Architecture, GgufLayout

ARCH = Architecture(
    model_type="qwen2",
    hf_architectures=("Qwen2ForCausalLM",),
    config_from_hf=Qwen2Config.from_hf,
    model="webslm.arch.qwen2.model:Qwen2ForCausalLM",
    weight_map=QWEN2_WEIGHTS,
    published=checkpoints.PUBLISHED,
    gguf=GgufLayout("qwen2"),
    tiny=checkpoints.TINY,
)
