"""MLC-LLM's symmetric q4 packing checked bit-exactly against a deliberately naive reference."""

import numpy as np
import pytest

from webslm.errors import WebslmError
from webslm.quantize import (Q4_ASYM, Q4_SYM, Q8_SYM, SCHEMES, dequantize_q4, get_scheme,
                             quantize_q4)


def naive_quantize(w, group_size, scale_dtype):
    """One element at a time: the spec written as plainly as possible."""
    rows, cols = w.shape
    words = [[0] * (cols // 8) for _ in range(rows)]
    scales = [[None] * (cols // group_size) for _ in range(rows)]
    for r in range(rows):
        for g in range(cols // group_size):
            group = [np.float32(w[r, g * group_size + k]) for k in range(group_size)]
            biggest = max(abs(x) for x in group)
            scale = np.dtype(scale_dtype).type(np.float32(biggest) / np.float32(7))
            scales[r][g] = scale
            for k, x in enumerate(group):
                if float(scale) == 0.0:
                    code = 7
                else:
                    code = round(float(np.float32(x) / np.float32(scale))) + 7  # half to even
                    code = min(max(code, 0), 14)
                col = g * group_size + k
                words[r][col // 8] |= code << (4 * (col % 8))
    return np.array(words, dtype=np.uint32), np.array(scales, dtype=scale_dtype)


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
    q_ref, s_ref = naive_quantize(w, 32, scale_dtype)
    assert q.dtype == np.uint32 and q.shape == (6, 12)
    assert s.dtype == np.dtype(scale_dtype) and s.shape == (6, 3)
    np.testing.assert_array_equal(s.view(np.uint8), s_ref.view(np.uint8))
    np.testing.assert_array_equal(q, q_ref)
    np.testing.assert_array_equal(dequantize_q4(q, s), naive_dequantize(q_ref, s_ref, 32))


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
    w = np.zeros((1, 32), dtype=np.float32)
    w[0, :6] = [7.0, 0.5, 1.5, 2.5, -0.5, -1.5]
    q, _ = quantize_q4(w, scale_dtype="float32")
    codes = [(int(q[0, 0]) >> (4 * i)) & 0xF for i in range(6)]
    assert codes == [14, 7, 9, 9, 7, 5]


@pytest.mark.parametrize("scale_dtype,rel", [("float32", 1e-6), ("float16", 2e-3)])
def test_round_trip_error_is_at_most_half_a_step(scale_dtype, rel):
    rng = np.random.default_rng(7)
    w = rng.standard_normal((64, 256)).astype(np.float32) * 0.05
    q, s = quantize_q4(w, scale_dtype=scale_dtype)
    back = dequantize_q4(q, s)
    step = np.repeat(s.astype(np.float32), 32, axis=1)
    assert (np.abs(back - w) <= step * (0.5 + rel) + 1e-12).all()
    # the group maximum is representable: it comes back within the scale's own rounding error
    big = np.abs(w).reshape(64, 8, 32).max(-1)
    assert np.allclose(np.abs(back).reshape(64, 8, 32).max(-1), big, rtol=2 * rel + 1e-6)


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
    import webslm.quantize.group as g

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
    assert set(SCHEMES) == {"q4f16_1", "q4f32_1", "q4f16_asym", "q4f32_asym", "q4f16_nf4",
                            "q4f32_nf4", "q4f16_k", "q4f32_k", "q8f16_1", "q8f32_1", "q0f16",
                            "q0f32"}
    s = get_scheme("q4f32_1")
    assert (s.weight_bits, s.group_size, s.act_dtype) == (4, 32, "float32")
    assert get_scheme("q0f16").weight_bits is None and get_scheme("q0f16").act_dtype == "float16"
    assert get_scheme("q4f16_1").needs_shader_f16 and not get_scheme("q0f32").needs_shader_f16
    with pytest.raises(AttributeError):
        s.name = "x"
    asym = get_scheme("q4f16_asym")
    assert asym.family == "q4f16" and asym.needs_shader_f16
    assert (asym.weight_grid, asym.embedding_grid) == (Q4_ASYM, Q8_SYM)
    assert get_scheme("q4f32_1").embedding_grid == Q4_SYM
    q8 = get_scheme("q8f16_1")
    assert (q8.weight_bits, q8.weight_grid, q8.embedding_grid) == (8, Q8_SYM, Q8_SYM)
    with pytest.raises(WebslmError, match="q4f16_1, q4f16_asym, q4f16_k, q4f16_nf4, q4f32_1"):
        get_scheme("q3f16_1")
