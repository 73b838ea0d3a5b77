"""Every architecture's tiny test model (`Architecture.tiny`, from the registry), compiled for
the CPU, against transformers: q0f32 within 1e-3 over a prefill and 32 decode steps, tied and
untied embeddings, and q4f32 against transformers carrying the dequantized stored weights
(for q4f32_nf4 those are bitsandbytes' NF4 round trip, checked bit for bit).

The reference is transformers stepped through its own KV cache as CpuModel steps ours (for
LongRoPE that is what decoding past the original context means; parity_utils). The
architecture-specific checks (biases present, RoPE thresholds) stay in test_<name>_parity.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from parity_utils import (BuildShape, assert_close, cached_logits, compile_and_convert,
                          dequantized_reference, random_tokens, run_cpu)
from tiny_sources import TINY, tiny_transformers

from webslm.quantize.nf4 import nf4_roundtrip, quantized_by_qlora

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


# q, k, v apart with GQA sizes, an untied lm_head; Phi-3's qkv_proj, one HF tensor
@pytest.mark.parametrize("name", ["qwen3-0.6b", "phi-3.5-mini"])
def test_q4f32_nf4_computes_with_bitsandbytes_nf4(name):
    """The decoder linears a q4f32_nf4 build computes with are each HF tensor's NF4 round
    trip exactly (what a QLoRA adapter was trained over); the untied lm_head is 8-bit."""
    model = _tiny(name)
    source = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    arch, compiled, stored = compile_and_convert(model, "q4f32_nf4", SHAPE)
    assert stored["lm_head.q_weight"].shape[1] * 4 == model.config.hidden_size
    reference = dequantized_reference(model, arch, compiled, stored)
    linears = [n for n in source if quantized_by_qlora(n)]
    assert len(linears) >= 6
    for n in linears:
        np.testing.assert_array_equal(reference.state_dict()[n].numpy(), nf4_roundtrip(source[n]),
                                      err_msg=n)
    tokens = random_tokens(model, PREFILL + DECODE, seed=3)
    assert_close(run_cpu(compiled, stored, tokens, PREFILL),
                 cached_logits(reference, tokens, PREFILL, SHAPE.prefill_chunk))
