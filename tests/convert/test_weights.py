"""Weight conversion: fused names from data, streaming, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from webslm.arch.llama.mapping import LLAMA_WEIGHTS
from webslm.compile.spec import ParamSpec
from webslm.convert.weights import convert, plan_targets
from webslm.errors import WebslmError
from webslm.quantize.grids import Q4_ASYM, Q8_SYM
from webslm.quantize.group import dequantize, dequantize_q4, quantize
from webslm.quantize.schemes import get_scheme

PARAMS = [
    ParamSpec("model.layers.0.self_attn.qkv_proj.q_weight", (96, 4), "uint32"),
    ParamSpec("model.layers.0.self_attn.qkv_proj.q_scale", (96, 1), "float32"),
    ParamSpec("model.norm.weight", (32,), "float32"),
]


def _hf(rng):
    return {"model.layers.0.self_attn.q_proj.weight": rng.standard_normal((32, 32), "float32"),
            "model.layers.0.self_attn.k_proj.weight": rng.standard_normal((32, 32), "float32"),
            "model.layers.0.self_attn.v_proj.weight": rng.standard_normal((32, 32), "float32"),
            "model.norm.weight": rng.standard_normal(32, "float32")}


def test_plan_fuses_by_data():
    targets = {t.base: t for t in plan_targets(PARAMS, LLAMA_WEIGHTS)}
    qkv = targets["model.layers.0.self_attn.qkv_proj"]
    assert qkv.quantized and qkv.parts == tuple(
        f"model.layers.0.self_attn.{p}_proj.weight" for p in "qkv")


def test_convert_quantizes_each_part_and_concatenates():
    hf = _hf(np.random.default_rng(0))
    out = {}
    convert(iter(hf.items()), PARAMS, LLAMA_WEIGHTS, get_scheme("q4f32_1"),
            tied_embeddings=False, emit=out.__setitem__)
    w = dequantize_q4(out["model.layers.0.self_attn.qkv_proj.q_weight"],
                      out["model.layers.0.self_attn.qkv_proj.q_scale"])
    expected = np.concatenate([hf[f"model.layers.0.self_attn.{p}_proj.weight"] for p in "qkv"])
    assert np.abs(w - expected).max() <= np.abs(expected).max() / 7  # within one step
    assert out["model.norm.weight"].dtype == np.float32


QKV = "model.layers.0.self_attn.qkv_proj"


def test_a_linear_off_the_schemes_grid_is_stored_on_its_own():
    """q4f32_k with qkv_proj resolved to the 8-bit grid: the converter follows the model's
    declaration (4 codes per word, no minimum), within half an 8-bit step."""
    hf = _hf(np.random.default_rng(1))
    params = [ParamSpec(f"{QKV}.q_weight", (96, 8), "uint32"),
              ParamSpec(f"{QKV}.q_scale", (96, 1), "float32"), PARAMS[2]]
    scheme = get_scheme("q4f32_k").with_linear_grids({QKV: Q8_SYM})
    out = {}
    convert(iter(hf.items()), params, LLAMA_WEIGHTS, scheme, tied_embeddings=False,
            emit=out.__setitem__)
    w = dequantize((out[f"{QKV}.q_weight"], out[f"{QKV}.q_scale"]), grid=Q8_SYM)
    expected = np.concatenate([hf[f"model.layers.0.self_attn.{p}_proj.weight"] for p in "qkv"])
    assert np.abs(w - expected).max() <= np.abs(expected).max() / 127 / 2 * 1.001


def test_what_the_source_stores_on_the_grid_is_taken_as_it_is():
    """exact(name, grid, dtype) answers for k_proj (codes, scales, minimums the source
    holds): those arrays are stored for its rows; q and v, unanswered, are quantized."""
    hf = _hf(np.random.default_rng(2))
    params = [ParamSpec(f"{QKV}.q_weight", (96, 4), "uint32"),
              ParamSpec(f"{QKV}.q_scale", (96, 1), "float32"),
              ParamSpec(f"{QKV}.q_min", (96, 1), "float32"), PARAMS[2]]
    k_name = "model.layers.0.self_attn.k_proj.weight"
    own = quantize(np.random.default_rng(3).standard_normal((32, 32), "float32"), Q4_ASYM,
                   "float32")
    asked = []

    def exact(name, grid, dtype):
        asked.append((name, grid, dtype))
        return own if name == k_name else None

    out = {}
    convert(iter(hf.items()), params, LLAMA_WEIGHTS, get_scheme("q4f32_k"),
            tied_embeddings=False, emit=out.__setitem__, exact=exact)
    assert [a[0] for a in asked] == [f"model.layers.0.self_attn.{p}_proj.weight" for p in "qkv"]
    assert all(a[1:] == (Q4_ASYM, "float32") for a in asked)
    for stored, mine in zip((out[f"{QKV}.{s}"] for s in ("q_weight", "q_scale", "q_min")), own):
        np.testing.assert_array_equal(stored[32:64], mine)
    q = quantize(hf["model.layers.0.self_attn.q_proj.weight"], Q4_ASYM, "float32")
    np.testing.assert_array_equal(out[f"{QKV}.q_weight"][:32], q[0])


def test_missing_tensor_is_named():
    hf = _hf(np.random.default_rng(0))
    del hf["model.layers.0.self_attn.v_proj.weight"]
    with pytest.raises(WebslmError, match="v_proj.weight"):
        convert(iter(hf.items()), PARAMS, LLAMA_WEIGHTS, get_scheme("q4f32_1"),
                tied_embeddings=False, emit=lambda *_: None)


def test_unexpected_tensor_is_named():
    hf = {**_hf(np.random.default_rng(0)), "model.extra.weight": np.zeros(3, "float32")}
    with pytest.raises(WebslmError, match="model.extra.weight"):
        convert(iter(hf.items()), PARAMS, LLAMA_WEIGHTS, get_scheme("q0f32"),
                tied_embeddings=False, emit=lambda *_: None)


def test_shape_mismatch_names_both_shapes():
    hf = _hf(np.random.default_rng(0))
    hf["model.norm.weight"] = np.zeros(16, "float32")
    with pytest.raises(WebslmError, match=r"\(16,\).*\(32,\)"):
        convert(iter(hf.items()), PARAMS, LLAMA_WEIGHTS, get_scheme("q4f32_1"),
                tied_embeddings=False, emit=lambda *_: None)


def test_tied_lm_head_is_skipped():
    hf = {**_hf(np.random.default_rng(0)), "lm_head.weight": np.zeros((4, 32), "float32")}
    out = {}
    convert(iter(hf.items()), PARAMS, LLAMA_WEIGHTS, get_scheme("q4f32_1"),
            tied_embeddings=True, emit=out.__setitem__)
    assert "lm_head.weight" not in out
