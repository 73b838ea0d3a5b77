"""q4 group packing checked bit-exactly against a deliberately naive reference."""

import numpy as np
import pytest

from webslm.errors import WebslmError
from webslm.quantize import SCHEMES, dequantize_q4, get_scheme, quantize_q4
from webslm.quantize.group_q4 import codes_for


def naive_codes(w, scales, group_size):
    """One element at a time, given the stored scales: the packing spec written plainly."""
    rows, cols = w.shape
    words = [[0] * (cols // 8) for _ in range(rows)]
    for r in range(rows):
        for col in range(cols):
            scale = np.float32(scales[r, col // group_size])
            if float(scale) == 0.0:
                code = 7
            else:
                code = round(float(np.float32(w[r, col]) / scale)) + 7  # half to even
                code = min(max(code, 0), 15)
            words[r][col // 8] |= code << (4 * (col % 8))
    return np.array(words, dtype=np.uint32)


def group_errors(w, scales, group_size):
    """Squared reconstruction error per group for the given scales, nearest codes."""
    rows, cols = w.shape
    out = np.zeros((rows, cols // group_size))
    for r in range(rows):
        for col in range(cols):
            scale = float(scales[r, col // group_size])
            x = float(w[r, col])
            code = 7 if scale == 0 else min(max(round(x / scale) + 7, 0), 15)
            out[r, col // group_size] += ((code - 7) * scale - x) ** 2
    return out


def naive_dequantize(words, scales, group_size):
    rows, n_words = words.shape
    out = np.zeros((rows, n_words * 8), dtype=np.float32)
    for r in range(rows):
        for col in range(n_words * 8):
            code = (int(words[r, col // 8]) >> (4 * (col % 8))) & 0xF
            scale = scales[r, col // group_size]
            out[r, col] = np.float32(scale.dtype.type(np.float32(code - 7) * np.float32(scale)))
    return out


@pytest.mark.parametrize("scale_dtype", ["float16", "float32"])
def test_packing_matches_naive_reference_bit_exactly(scale_dtype):
    rng = np.random.default_rng(1234)
    w = (rng.standard_normal((6, 96)) * rng.uniform(0.01, 3.0, size=(6, 1))).astype(np.float32)
    w[2, 32:64] = 0.0  # an all-zero group
    w[4, :32] = np.linspace(-3.5, 3.5, 32, dtype=np.float32)  # exact halves: rounding ties
    q, s = quantize_q4(w, 32, scale_dtype)
    assert q.dtype == np.uint32 and q.shape == (6, 12)
    assert s.dtype == np.dtype(scale_dtype) and s.shape == (6, 3)
    np.testing.assert_array_equal(q, naive_codes(w, s, 32))
    np.testing.assert_array_equal(dequantize_q4(q, s), naive_dequantize(q, s, 32))


@pytest.mark.parametrize("scale_dtype", ["float16", "float32"])
def test_chosen_scales_never_lose_to_max_over_7(scale_dtype):
    """The search starts from max|w|/7 among others, so no group may end up worse than it."""
    rng = np.random.default_rng(5)
    w = (rng.standard_normal((8, 128)) * rng.uniform(0.01, 2.0, size=(8, 1))).astype(np.float32)
    w[1, :32] = rng.standard_t(2, size=32)  # heavy tails: clipping at +8 steps matters
    _, chosen = quantize_q4(w, 32, scale_dtype)
    plain = (np.abs(w).reshape(8, 4, 32).max(-1) / np.float32(7)).astype(scale_dtype)
    ours, theirs = group_errors(w, chosen, 32), group_errors(w, plain, 32)
    assert (ours <= theirs * (1 + 1e-6) + 1e-12).all()
    assert ours.sum() < 0.9 * theirs.sum()  # and better overall, by a clear margin


def test_first_element_sits_in_the_lowest_bits():
    w = np.zeros((1, 32), dtype=np.float32)
    w[0, 0] = 7.0  # scale 1 -> code 14 in element 0
    w[0, 1] = -7.0  # code 0 in element 1
    w[0, 7] = 1.0  # code 8 in element 7 (top nibble)
    q, s = quantize_q4(w, scale_dtype="float32")
    assert s[0, 0] == 1.0
    assert q[0, 0] == 0x8777_770E
    assert (q[0, 1:] == 0x7777_7777).all()


def test_round_half_to_even_on_ties():
    block = np.array([[[0.0, 0.5, 1.5, 2.5, -0.5, -1.5, 7.6, -7.6]]], dtype=np.float32)
    codes = codes_for(block, np.ones((1, 1, 1), dtype=np.float32))
    assert codes[0, 0].tolist() == [7, 7, 9, 9, 7, 5, 15, 0]  # and clamped to 0..15


def test_round_trip_error_is_small():
    rng = np.random.default_rng(7)
    w = rng.standard_normal((64, 256)).astype(np.float32) * 0.05
    for scale_dtype in ("float32", "float16"):
        q, s = quantize_q4(w, scale_dtype=scale_dtype)
        rel = np.sqrt(((dequantize_q4(q, s) - w) ** 2).mean() / (w ** 2).mean())
        assert rel < 0.09  # Gaussian groups of 32 at 4 bits: 0.087; max/7 alone gives 0.097


def test_zero_groups_give_code_7_and_no_nan():
    w = np.zeros((3, 64), dtype=np.float32)
    w[1, 40] = 1e-3
    for dtype in ("float16", "float32"):
        q, s = quantize_q4(w, scale_dtype=dtype)
        assert (q[0] == 0x7777_7777).all() and (q[1, :4] == 0x7777_7777).all()
        assert s[0, 0] == 0 and s[1, 0] == 0 and s[1, 1] > 0
        back = dequantize_q4(q, s)
        assert np.isfinite(back).all()
        assert (back[0] == 0).all() and back[1, 40] == pytest.approx(1e-3, rel=1e-3)


def test_f16_scales_underflowing_to_zero_act_as_zero_groups():
    w = np.full((1, 32), 1e-9, dtype=np.float32)  # 1e-9 / 7 is below the smallest f16 subnormal
    q, s = quantize_q4(w, scale_dtype="float16")
    assert s[0, 0] == 0 and q[0, 0] == 0x7777_7777
    assert np.isfinite(dequantize_q4(q, s)).all()


def test_large_matrix_in_row_blocks_matches_small_blocks(monkeypatch):
    import webslm.quantize.group_q4 as g

    rng = np.random.default_rng(3)
    w = rng.standard_normal((300, 128)).astype(np.float32)
    q1, s1 = quantize_q4(w)
    monkeypatch.setattr(g, "_BLOCK_ELEMS", 128 * 7)  # 7 rows per block, a ragged last block
    q2, s2 = quantize_q4(w)
    np.testing.assert_array_equal(q1, q2)
    np.testing.assert_array_equal(s1, s2)
    np.testing.assert_array_equal(dequantize_q4(q1, s1), dequantize_q4(q2, s2))


@pytest.mark.parametrize("shape", [(4, 40), (4, 31), (32,), (2, 2, 32)])
def test_bad_shapes_raise_a_clear_error(shape):
    with pytest.raises(WebslmError) as err:
        quantize_q4(np.ones(shape, dtype=np.float32))
    assert err.value.fix


def test_non_finite_weights_are_rejected():
    w = np.ones((2, 32), dtype=np.float32)
    w[1, 3] = np.nan
    with pytest.raises(WebslmError, match="NaN"):
        quantize_q4(w)


def test_f16_scale_overflow_suggests_f32():
    w = np.full((1, 32), 6e5, dtype=np.float32)
    with pytest.raises(WebslmError, match="q4f32_1"):
        quantize_q4(w, scale_dtype="float16")


def test_schemes():
    assert set(SCHEMES) == {"q4f16_1", "q4f32_1", "q0f16", "q0f32"}
    s = get_scheme("q4f32_1")
    assert (s.weight_bits, s.group_size, s.act_dtype) == (4, 32, "float32")
    assert get_scheme("q0f16").weight_bits is None and get_scheme("q0f16").act_dtype == "float16"
    assert get_scheme("q4f16_1").needs_shader_f16 and not get_scheme("q0f32").needs_shader_f16
    with pytest.raises(AttributeError):
        s.name = "x"
    with pytest.raises(WebslmError, match="q4f16_1, q4f32_1"):
        get_scheme("q3f16_1")
