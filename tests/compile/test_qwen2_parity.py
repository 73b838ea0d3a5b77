"""The compiled Qwen2 (CPU target) against transformers: q/k/v biases, GQA, theta 1e6, tying."""

from __future__ import annotations

import pytest
from parity_utils import (assert_close, compile_and_convert, dequantized_reference,
                          random_tokens, run_cpu, teacher_forced_logits, tiny_model)

pytestmark = pytest.mark.slow


def tiny_qwen2(**overrides):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, vocab_size=320,
                  rms_norm_eps=1e-6, rope_theta=1e6, max_position_embeddings=256,
                  tie_word_embeddings=False)
    return tiny_model(Qwen2ForCausalLM, Qwen2Config, **{**config, **overrides})


@pytest.mark.parametrize("tied", [False, True], ids=["untied", "tied"])
def test_q0f32_matches_transformers(tied):
    model = tiny_qwen2(tie_word_embeddings=tied)
    _, compiled, stored = compile_and_convert(model, "q0f32")
    assert any(p.name.endswith("qkv_proj.bias") for p in compiled.params)
    assert not any(p.name.endswith("o_proj.bias") for p in compiled.params)
    tokens = random_tokens(model, 9 + 32)  # prefill 9, decode 32
    assert_close(run_cpu(compiled, stored, tokens, 9), teacher_forced_logits(model, tokens)[8:])


def test_q4f32_computes_what_the_quantizer_stored():
    model = tiny_qwen2(tie_word_embeddings=True)
    arch, compiled, stored = compile_and_convert(model, "q4f32_1")
    reference = dequantized_reference(model, arch, compiled, stored)
    tokens = random_tokens(model, 9 + 32, seed=2)
    assert_close(run_cpu(compiled, stored, tokens, 9),
                 teacher_forced_logits(reference, tokens)[8:])
