"""Qwen2's TVM model (the compiler imports it): Llama's blocks, with Qwen2Config's hooks."""

from webslm.arch.llama.model import LlamaForCausalLM


class Qwen2ForCausalLM(LlamaForCausalLM):
    """Llama's entry points and KV cache; Qwen2Config supplies the biases."""
