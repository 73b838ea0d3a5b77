"""Gemma 3's config rules (fast: nothing compiles): both config.json spellings give the same
layers and RoPE bases, what webslm cannot compile is refused naming what differs, and the
prefill chunk is held inside the sliding window."""

from __future__ import annotations

import pytest

from webslm.arch import find_architecture
from webslm.arch.gemma3.config import GLOBAL, SLIDING
from webslm.errors import WebslmError

# google/gemma-3-270m's config.json as transformers 5 writes it (rope_parameters per layer kind)
GEMMA3_270M = {
    "architectures": ["Gemma3ForCausalLM"], "model_type": "gemma3_text", "vocab_size": 262144,
    "hidden_size": 640, "intermediate_size": 2048, "num_hidden_layers": 18,
    "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 256,
    "hidden_activation": "gelu_pytorch_tanh", "max_position_embeddings": 32768,
    "rms_norm_eps": 1e-6, "tie_word_embeddings": True, "query_pre_attn_scalar": 256,
    "sliding_window": 512, "attention_bias": False,
    "rope_parameters": {"sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                        "full_attention": {"rope_type": "default", "rope_theta": 1000000.0}},
    "layer_types": ([SLIDING] * 5 + [GLOBAL]) * 3,
}
# the same model as transformers 4 wrote it: one rope_theta, rope_local_base_freq, a pattern
OLDER = {k: v for k, v in GEMMA3_270M.items() if k not in ("rope_parameters", "layer_types")} | {
    "rope_theta": 1000000.0, "rope_local_base_freq": 10000.0, "rope_scaling": None,
    "sliding_window_pattern": 6, "hidden_activation": "gelu_pytorch_tanh"}


def _config(hf):
    return find_architecture(hf).config_from_hf(hf)


@pytest.mark.parametrize("hf", [GEMMA3_270M, OLDER], ids=["rope_parameters", "older"])
def test_layers_and_rope_bases(hf):
    cfg = _config(hf)
    assert cfg.layer_types == tuple(GEMMA3_270M["layer_types"])
    assert [cfg.layer_rope(i) for i in (0, 5)] == [(10000.0, 1.0), (1000000.0, 1.0)]
    assert (cfg.head_dim, cfg.activation, cfg.query_pre_attn_scalar) == (256, "gelu_pytorch_tanh", 256)
    assert cfg.rope_in_model and cfg.qk_norm and cfg.max_prefill_chunk == 512


def test_linear_global_rope_scaling():
    """Gemma 3 4B and up scale the global layers' RoPE linearly; sliding layers keep 10k."""
    params = {**GEMMA3_270M["rope_parameters"],
              GLOBAL: {"rope_type": "linear", "factor": 8.0, "rope_theta": 1000000.0}}
    cfg = _config({**GEMMA3_270M, "rope_parameters": params})
    assert [cfg.layer_rope(i) for i in (0, 5)] == [(10000.0, 1.0), (1000000.0, 8.0)]
    with pytest.raises(WebslmError, match="rope scaling 'yarn'"):
        _config({**GEMMA3_270M, "rope_parameters": {
            **params, GLOBAL: {"rope_type": "yarn", "factor": 8.0, "rope_theta": 1e6}}})


@pytest.mark.parametrize("change, message", [
    ({"final_logit_softcapping": 30.0}, "Gemma 2's attention"),
    ({"attn_logit_softcapping": 50.0}, "Gemma 2's attention"),
    ({"use_bidirectional_attention": True}, "an encoder"),
    ({"layer_types": [SLIDING] * 17}, "layer_types"),
    ({"architectures": ["Gemma2ForCausalLM"]}, "softcapping"),
    ({"architectures": ["Gemma3ForConditionalGeneration"]}, "vision tower"),
    ({"architectures": ["Gemma3nForCausalLM"]}, "per-layer embeddings"),
])
def test_what_webslm_cannot_compile_is_refused_by_name(change, message):
    with pytest.raises(WebslmError, match=message):
        _config({**GEMMA3_270M, **change})


def test_an_all_global_config_has_no_chunk_limit():
    assert _config({**GEMMA3_270M, "layer_types": [GLOBAL] * 18}).max_prefill_chunk is None
