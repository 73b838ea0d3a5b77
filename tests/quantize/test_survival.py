"""The survival report: a delta far below one 4-bit step on a base that already sits on the
grid (a Q4_1 GGUF built as q4f*_asym) is rounded away and warned about; a strong delta is
kept; a float base dithers the rounding, so even a small delta is kept on average; each linear
is rounded on its own grid (q4f*_k)."""

from __future__ import annotations

import numpy as np
import pytest

from webslm.arch.llama.mapping import LLAMA_WEIGHTS
from webslm.quantize.grids import Q4_ASYM, Q8_SYM
from webslm.quantize.group import dequantize, quantize
from webslm.quantize.schemes import get_scheme
from webslm.quantize.survival import MIN_KEPT, stored, stored_weight, survival, tensor_grid

ASYM, SYM = get_scheme("q4f32_asym"), get_scheme("q4f32_1")


def _on_grid(scheme, rng, shape=(128, 256)) -> np.ndarray:
    w = rng.normal(0, 0.05, shape).astype(np.float32)
    return dequantize(quantize(w, scheme.weight_grid, "float32"))


def _low_rank_delta(rng, shape, size: float) -> np.ndarray:
    a, b = rng.normal(0, 1, (8, shape[1])), rng.normal(0, 1, (shape[0], 8))
    d = b @ a
    return (d / np.sqrt((d ** 2).mean()) * size).astype(np.float32)


def _step(w, scheme) -> float:
    return float(np.abs(quantize(w, scheme.weight_grid, "float32")[1]).mean())


def test_a_delta_far_below_a_step_on_a_grid_base_warns():
    rng = np.random.default_rng(0)
    w = _on_grid(ASYM, rng)
    d = _low_rank_delta(rng, w.shape, 0.02 * _step(w, ASYM))
    report = survival([("model.layers.0.mlp.down_proj.weight", w, w + d)], ASYM, LLAMA_WEIGHTS)
    assert not report.survives and report.kept < 0.2, report.lines()
    assert report.kinds[0].delta_per_step == pytest.approx(0.02, rel=0.05)
    assert "TOO LITTLE" in report.lines()[0]


def test_a_strong_delta_survives():
    rng = np.random.default_rng(1)
    w = _on_grid(ASYM, rng)
    d = _low_rank_delta(rng, w.shape, 3 * _step(w, ASYM))
    report = survival([("model.layers.0.self_attn.q_proj.weight", w, w + d)], ASYM, LLAMA_WEIGHTS)
    assert report.survives and report.kept > 0.9 and report.correlation > 0.9, report.lines()


def test_a_float_base_keeps_a_small_delta_on_average():
    """Off the grid, rounding acts as dither: the delta is kept along its direction, with
    noise (low correlation) of the size the base's own quantization already adds."""
    rng = np.random.default_rng(2)
    w = rng.normal(0, 0.05, (256, 512)).astype(np.float32)
    d = _low_rank_delta(rng, w.shape, 0.05 * _step(w, SYM))
    report = survival([("model.layers.0.mlp.up_proj.weight", w, w + d)], SYM, LLAMA_WEIGHTS)
    assert report.kept >= MIN_KEPT and report.survives, report.lines()
    assert report.correlation < 0.5


def test_unquantized_builds_keep_everything_and_embeddings_use_their_grid():
    rng = np.random.default_rng(3)
    w = rng.normal(0, 0.05, (64, 64)).astype(np.float32)
    d = _low_rank_delta(rng, w.shape, 1e-3)
    q0 = survival([("model.embed_tokens.weight", w, w + d)], get_scheme("q0f32"), LLAMA_WEIGHTS)
    assert q0.kept == pytest.approx(1.0) and q0.kinds[0].delta_per_step == float("inf")
    assert q0.to_json()["kinds"][0]["delta_per_step"] is None  # JSON has no infinity
    f16 = survival([("model.embed_tokens.weight", w, w + d)], get_scheme("q0f16"), LLAMA_WEIGHTS)
    assert 0.9 < f16.kept < 1.1


def test_each_linear_is_rounded_on_its_own_grid():
    """q4f*_k: layer 0's q, k, v (fused into qkv_proj) on the 8-bit grid, layer 1's on the
    4-bit one. A tenth of a 4-bit step mostly rounds back to a base on the 4-bit grid, but is
    over one 8-bit step: kept there. The report has a row per (kind, grid)."""
    scheme = get_scheme("q4f32_k").with_linear_grids({"model.layers.0.self_attn.qkv_proj": Q8_SYM})
    wide = "model.layers.0.self_attn.q_proj.weight"
    narrow = "model.layers.1.self_attn.q_proj.weight"
    assert tensor_grid(wide, scheme, LLAMA_WEIGHTS) == Q8_SYM
    assert tensor_grid(narrow, scheme, LLAMA_WEIGHTS) == Q4_ASYM
    assert tensor_grid("model.embed_tokens.weight", scheme, LLAMA_WEIGHTS) == Q8_SYM
    rng = np.random.default_rng(4)
    w = _on_grid(scheme, rng)
    d = _low_rank_delta(rng, w.shape, 0.1 * _step(w, scheme))
    report = survival([(wide, w, w + d), (narrow, w, w + d)], scheme, LLAMA_WEIGHTS)
    rows = {k.grid: k for k in report.kinds}
    assert [k.kind for k in report.kinds] == ["q_proj", "q_proj"]
    assert set(rows) == {"8-bit", "4-bit asym"}
    assert rows["8-bit"].kept > 0.9 and rows["8-bit"].correlation > 0.9, report.lines()
    assert rows["4-bit asym"].kept < 0.3, report.lines()
    assert rows["4-bit asym"].delta_per_step == pytest.approx(0.1, rel=0.05)
    assert rows["8-bit"].delta_per_step > 1  # the same delta, against the finer step
    assert rows["4-bit asym"].kept < report.kept < rows["8-bit"].kept
    assert any("8-bit" in line for line in report.lines()[1:])
    np.testing.assert_array_equal(stored_weight(wide, w, scheme, LLAMA_WEIGHTS),
                                  dequantize(quantize(w, Q8_SYM, "float32"), grid=Q8_SYM))
    with pytest.raises(ValueError, match="stored_weight"):  # a linear's grid needs its name
        stored(w, scheme)
