"""Qwen3 family: Qwen3 dense (Qwen3ForCausalLM) checkpoints, e.g. Qwen3-0.6B and 1.7B."""

from webslm.arch.llama.mapping import LLAMA_WEIGHTS
from webslm.arch.qwen3 import checkpoints
from webslm.arch.qwen3.config import Qwen3Config
from webslm.arch.record import Architecture, GgufLayout

ARCH = Architecture(
    model_type="qwen3",
    hf_architectures=("Qwen3ForCausalLM",),
    config_from_hf=Qwen3Config.from_hf,
    model="webslm.arch.qwen3.model:Qwen3ForCausalLM",
    # Llama's tensor names; q_norm / k_norm are parameters of the same name
    weight_map=LLAMA_WEIGHTS,
    published=checkpoints.PUBLISHED,
    gguf=GgufLayout("qwen3"),
    tiny=checkpoints.TINY,
)
