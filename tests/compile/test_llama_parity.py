"""The compiled Llama (CPU target) against transformers, token by token."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from parity_utils import (assert_close, compile_and_convert, dequantized_reference,
                          random_tokens, run_cpu, teacher_forced_logits)

from webslm.compile.cpu_model import CpuModel

pytestmark = pytest.mark.slow

LLAMA3_ROPE = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
               "high_freq_factor": 4.0, "original_max_position_embeddings": 16}


@pytest.mark.parametrize("tied", [False, True], ids=["untied", "tied"])
@pytest.mark.parametrize("rope_scaling", [None, LLAMA3_ROPE], ids=["rope", "llama3-rope"])
def test_q0f32_matches_transformers(tiny_llama_factory, tied, rope_scaling):
    model = tiny_llama_factory(tie_word_embeddings=tied, rope_scaling=rope_scaling)
    _, compiled, stored = compile_and_convert(model, "q0f32")
    tokens = random_tokens(model, 9 + 32)  # prefill 9, decode 32
    assert_close(run_cpu(compiled, stored, tokens, 9), teacher_forced_logits(model, tokens)[8:])


@pytest.mark.parametrize("scheme, tied", [("q4f32_1", True), ("q4f32_asym", True),
                                          ("q4f32_asym", False)])
def test_q4_computes_what_the_quantizer_stored(tiny_llama_factory, scheme, tied):
    """Tied: the quantized embedding gather and the tied lm_head (8-bit in q4f32_asym);
    untied: a 4-bit lm_head of its own."""
    model = tiny_llama_factory(tie_word_embeddings=tied)
    arch, compiled, stored = compile_and_convert(model, scheme)
    dequantized_reference(model, arch, compiled, stored)
    tokens = random_tokens(model, 24, seed=2)
    assert np.abs(run_cpu(compiled, stored, tokens, 4)
                  - teacher_forced_logits(model, tokens)[3:]).max() < 1e-3


@pytest.mark.parametrize("scheme", ["q8f32_1", "q4f32_asym"])
def test_a_table_above_the_binding_limit_is_stored_in_row_blocks(tiny_llama_factory, scheme,
                                                                  monkeypatch):
    """An 8-bit embedding can pass the 128 MiB a GPU binds at once (Gemma 3's is 160 MiB);
    under a limit this tiny model's table passes, it is stored in row blocks, and the gather
    (rows of every block are asked for) and the tied lm_head (one matmul per block) compute
    what the quantizer stored, the 8-bit linears too."""
    from webslm.compile import spec

    model = tiny_llama_factory(tie_word_embeddings=True)
    vocab, dim = model.config.vocab_size, model.config.hidden_size
    monkeypatch.setattr(spec, "DEFAULT_BINDING_BYTES", -(-vocab // 3) * dim)  # 8-bit: 3 blocks
    arch, compiled, stored = compile_and_convert(model, scheme)
    blocks = [p for p in compiled.params if ".rows." in p.name and p.name.endswith("q_weight")]
    assert [p.name for p in blocks] == [f"model.embed_tokens.rows.{i}.q_weight" for i in range(3)]
    assert sum(p.shape[0] for p in blocks) == vocab
    assert max(a.nbytes for n, a in stored.items() if ".rows." in n) <= spec.DEFAULT_BINDING_BYTES
    dequantized_reference(model, arch, compiled, stored)
    tokens = [0, vocab - 1, vocab // 2, *random_tokens(model, 21, seed=3)]  # every block's rows
    assert np.abs(run_cpu(compiled, stored, tokens, 4)
                  - teacher_forced_logits(model, tokens)[3:]).max() < 1e-3


def test_prefill_in_chunks_equals_one_pass(tiny_llama_factory):
    """Prompts longer than prefill_chunk go in pieces, as WebLLM sends them."""
    model = tiny_llama_factory()
    _, compiled, stored = compile_and_convert(model, "q0f32")
    tokens = list(range(40))  # prefill_chunk is 16: three chunks
    ref = teacher_forced_logits(model, tokens)[-1]
    assert np.abs(CpuModel(compiled, stored).prefill(tokens) - ref).max() < 1e-3


def test_dequantized_reference_differs_from_source(tiny_llama_factory):
    """Guard: the q4 comparison above is not trivially comparing a model with itself."""
    model = tiny_llama_factory()
    before = teacher_forced_logits(model, [1, 2, 3])
    arch, compiled, stored = compile_and_convert(model, "q4f32_1")
    dequantized_reference(model, arch, compiled, stored)
    with torch.no_grad():
        after = teacher_forced_logits(model, [1, 2, 3])
    assert np.abs(after - before).max() > 1e-3
