"""Qwen2 tensor names are Llama's; q/k/v biases fuse like the weights (by suffix)."""

from webslm.arch.llama.mapping import LLAMA_WEIGHTS

QWEN2_WEIGHTS = LLAMA_WEIGHTS
