"""The compiled Llama (CPU target) against transformers, token by token."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from webslm.compile.arch import find_architecture
from webslm.compile.compiler import BuildShape, compile_model
from webslm.compile.pipeline import cpu_target
from webslm.pipeline.convert import convert
from webslm.quantize.schemes import get_scheme
from webslm.verify.cpu_model import CpuModel
from webslm.verify.reference import load_weights_into, stored_as_hf, teacher_forced_logits

pytestmark = pytest.mark.slow

LLAMA3_ROPE = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
               "high_freq_factor": 4.0, "original_max_position_embeddings": 16}


def _compile_and_convert(model, scheme_name):
    hf_config = {**model.config.to_dict(), "architectures": ["LlamaForCausalLM"]}
    arch = find_architecture(hf_config)
    scheme = get_scheme(scheme_name)
    compiled = compile_model(arch, hf_config, scheme, cpu_target(), BuildShape(128, 16))
    stored = {}
    tensors = ((k, v.detach().numpy().copy()) for k, v in model.state_dict().items())
    convert(tensors, compiled.params, arch.weight_map, scheme,
            tied_embeddings=model.config.tie_word_embeddings, emit=stored.__setitem__)
    return arch, compiled, stored


def _run_cpu(compiled, stored, tokens, prefill_len):
    cpu = CpuModel(compiled, stored)
    rows = [cpu.prefill(tokens[:prefill_len])]
    rows += [cpu.decode(t) for t in tokens[prefill_len:]]
    return np.stack(rows)


@pytest.mark.parametrize("tied", [False, True], ids=["untied", "tied"])
@pytest.mark.parametrize("rope_scaling", [None, LLAMA3_ROPE], ids=["rope", "llama3-rope"])
def test_q0f32_matches_transformers(tiny_llama_factory, tied, rope_scaling):
    model = tiny_llama_factory(tie_word_embeddings=tied, rope_scaling=rope_scaling)
    _, compiled, stored = _compile_and_convert(model, "q0f32")
    rng = np.random.default_rng(1)
    tokens = rng.integers(0, model.config.vocab_size, 9 + 32).tolist()  # prefill 9, decode 32
    ref = teacher_forced_logits(model, tokens)[8:]
    ours = _run_cpu(compiled, stored, tokens, 9)
    assert np.abs(ours - ref).max() < 1e-3
    assert (ours.argmax(-1) == ref.argmax(-1)).all()


def test_q4f32_computes_what_the_quantizer_stored(tiny_llama_factory):
    model = tiny_llama_factory(tie_word_embeddings=True)
    arch, compiled, stored = _compile_and_convert(model, "q4f32_1")
    hf_shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    load_weights_into(model, stored_as_hf(stored, compiled.params, arch.weight_map, hf_shapes))
    tokens = np.random.default_rng(2).integers(0, model.config.vocab_size, 24).tolist()
    ref = teacher_forced_logits(model, tokens)[3:]
    ours = _run_cpu(compiled, stored, tokens, 4)
    assert np.abs(ours - ref).max() < 1e-3


def test_prefill_in_chunks_equals_one_pass(tiny_llama_factory):
    """Prompts longer than prefill_chunk go in pieces, as WebLLM sends them."""
    model = tiny_llama_factory()
    _, compiled, stored = _compile_and_convert(model, "q0f32")
    tokens = list(range(40))  # prefill_chunk is 16: three chunks
    ref = teacher_forced_logits(model, tokens)[-1]
    assert np.abs(CpuModel(compiled, stored).prefill(tokens) - ref).max() < 1e-3


def test_dequantized_reference_differs_from_source(tiny_llama_factory):
    """Guard: the q4 comparison above is not trivially comparing a model with itself."""
    model = tiny_llama_factory()
    before = teacher_forced_logits(model, [1, 2, 3])
    arch, compiled, stored = _compile_and_convert(model, "q4f32_1")
    hf_shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    load_weights_into(model, stored_as_hf(stored, compiled.params, arch.weight_map, hf_shapes))
    with torch.no_grad():
        after = teacher_forced_logits(model, [1, 2, 3])
    assert np.abs(after - before).max() > 1e-3
