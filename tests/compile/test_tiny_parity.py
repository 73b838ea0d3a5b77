"""Every architecture's tiny test model (`Architecture.tiny`, from the registry), compiled for
the CPU, against transformers: q0f32 within 1e-3 over a prefill and 32 decode steps, tied and
untied embeddings, and q4f32 against transformers carrying the dequantized stored weights.

The reference is transformers stepped through its own KV cache as CpuModel steps ours (for
LongRoPE that is what decoding past the original context means; parity_utils). The
architecture-specific checks (biases present, RoPE thresholds) stay in test_<name>_parity.py.
"""

from __future__ import annotations

import pytest
import torch
from parity_utils import (BuildShape, assert_close, cached_logits, compile_and_convert,
                          dequantized_reference, random_tokens, run_cpu)
from tiny_sources import TINY, tiny_transformers

pytestmark = pytest.mark.slow
SHAPE = BuildShape(128, 16)
PREFILL, DECODE = 9, 32
# a small vocabulary keeps the compiles and the references cheap; ids inside it
SMALL_VOCAB = dict(vocab_size=320, bos_token_id=1, eos_token_id=2, pad_token_id=0)


def _tiny(name: str, **overrides):
    """Norm weights random too (ones would hide a norm that is skipped or misplaced)."""
    model = tiny_transformers(TINY[name], **SMALL_VOCAB, **overrides)
    with torch.no_grad():
        for param_name, p in model.named_parameters():
            if p.dim() == 1 and param_name.endswith("norm.weight"):
                p.uniform_(0.5, 1.5)
    return model


@pytest.mark.parametrize("tied", [False, True], ids=["untied", "tied"])
@pytest.mark.parametrize("name", sorted(TINY))
def test_q0f32_matches_transformers(name, tied):
    model = _tiny(name, tie_word_embeddings=tied)
    _, compiled, stored = compile_and_convert(model, "q0f32", SHAPE)
    assert ("lm_head.weight" in stored) is not tied
    tokens = random_tokens(model, PREFILL + DECODE)
    assert_close(run_cpu(compiled, stored, tokens, PREFILL),
                 cached_logits(model, tokens, PREFILL, SHAPE.prefill_chunk))


@pytest.mark.parametrize("name", sorted(TINY))
def test_q4f32_computes_what_the_quantizer_stored(name):
    model = _tiny(name)
    arch, compiled, stored = compile_and_convert(model, "q4f32_1", SHAPE)
    reference = dequantized_reference(model, arch, compiled, stored)
    tokens = random_tokens(model, PREFILL + DECODE, seed=2)
    assert_close(run_cpu(compiled, stored, tokens, PREFILL),
                 cached_logits(reference, tokens, PREFILL, SHAPE.prefill_chunk))
