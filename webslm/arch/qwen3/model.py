"""Qwen3's TVM model (the compiler imports it): Llama's blocks, with Qwen3Config's hooks."""

from webslm.arch.llama.model import LlamaForCausalLM


class Qwen3ForCausalLM(LlamaForCausalLM):
    """Llama's entry points and KV cache; Qwen3Config turns on the q/k norms."""
