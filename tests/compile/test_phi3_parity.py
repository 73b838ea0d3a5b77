"""The compiled Phi-3 (CPU target) against transformers, LongRoPE included.

The tiny config's original context is 16 tokens, so sequences cross from the short to the
long factors inside the test: during decode, and inside one prefill. The reference is
transformers stepped through its own KV cache exactly as we step ours (webslm.compile.rope
explains why a recompute differs once the sequence crosses).
"""

from __future__ import annotations

import numpy as np
import pytest
from parity_utils import (BuildShape, assert_close, cached_logits, compile_and_convert,
                          dequantized_reference, random_tokens, run_cpu, teacher_forced_logits,
                          tiny_model)

pytestmark = pytest.mark.slow
ORIGINAL = 16
SHAPE = BuildShape(128, 32)  # a 20-token prompt crosses ORIGINAL inside one prefill chunk


def tiny_phi3(longrope: bool = True, **overrides):
    from transformers import Phi3Config, Phi3ForCausalLM

    rng = np.random.default_rng(0)
    config = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=4, vocab_size=320,
                  max_position_embeddings=256, pad_token_id=0, bos_token_id=1, eos_token_id=2)
    if longrope:  # factors far apart, so the two regimes give clearly different logits
        config.update(original_max_position_embeddings=ORIGINAL, rope_scaling={
            "type": "longrope", "short_factor": rng.uniform(1.0, 1.5, 8).tolist(),
            "long_factor": rng.uniform(2.0, 16.0, 8).tolist()})
    return tiny_model(Phi3ForCausalLM, Phi3Config, **{**config, **overrides})


@pytest.fixture(scope="module")
def longrope_build():
    model = tiny_phi3()
    return (model, *compile_and_convert(model, "q0f32", SHAPE))


def test_q0f32_plain_rope_matches_transformers():
    model = tiny_phi3(longrope=False)
    _, compiled, stored = compile_and_convert(model, "q0f32")
    tokens = random_tokens(model, 9 + 32)
    assert_close(run_cpu(compiled, stored, tokens, 9), teacher_forced_logits(model, tokens)[8:])


def test_longrope_within_the_original_context(longrope_build):
    model, _, compiled, stored = longrope_build
    tokens = random_tokens(model, 5 + 11)  # positions 0..15: short factors throughout
    assert_close(run_cpu(compiled, stored, tokens, 5), teacher_forced_logits(model, tokens)[4:])


def test_longrope_crossing_during_decode(longrope_build):
    model, _, compiled, stored = longrope_build
    tokens = random_tokens(model, 9 + 32)  # decode crosses position 16
    ours = run_cpu(compiled, stored, tokens, 9)
    assert_close(ours, cached_logits(model, tokens, 9, SHAPE.prefill_chunk))
    # Guard: the regimes differ, so the switch really happened inside the test. A recompute
    # re-rotates the early keys with the long factors; a KV cache (ours, transformers') cannot.
    recomputed = teacher_forced_logits(model, tokens)[8:]
    assert np.abs(ours - recomputed).max() > 0.1


def test_longrope_crossing_inside_the_prefill(longrope_build):
    """A 20-token prompt puts every key in the long regime, as a transformers recompute does."""
    model, _, compiled, stored = longrope_build
    tokens = random_tokens(model, 20 + 32, seed=3)
    ours = run_cpu(compiled, stored, tokens, 20)
    assert_close(ours, teacher_forced_logits(model, tokens)[19:])
    assert_close(ours, cached_logits(model, tokens, 20, SHAPE.prefill_chunk))


def test_q4f32_computes_what_the_quantizer_stored():
    model = tiny_phi3()
    arch, compiled, stored = compile_and_convert(model, "q4f32_1", SHAPE)
    reference = dequantized_reference(model, arch, compiled, stored)
    tokens = random_tokens(model, 9 + 32, seed=2)
    assert_close(run_cpu(compiled, stored, tokens, 9),
                 cached_logits(reference, tokens, 9, SHAPE.prefill_chunk))
