"""The grids of q4f*_asym: asymmetric 4-bit (llama.cpp's Q4_1) and symmetric 8-bit (Q8_0).
Each against a naive reference, and llama.cpp's own blocks carried over bit for bit."""

import numpy as np
import pytest

from webslm.errors import WebslmError
from webslm.quantize import Q4_ASYM, Q4_SYM, Q8_SYM, dequantize, grid_of, quantize


def naive_quantize(w, grid, scale_dtype):
    """One element at a time, the rule of each grid written out plainly."""
    f = np.dtype(scale_dtype).type
    rows, cols = w.shape
    words = np.zeros((rows, cols // grid.codes_per_word), dtype=np.uint32)
    scales = np.zeros((rows, cols // 32), dtype=scale_dtype)
    mins = np.zeros_like(scales)
    for r in range(rows):
        for g in range(cols // 32):
            group = [np.float32(x) for x in w[r, g * 32:(g + 1) * 32]]
            if grid.symmetric:
                low, zero = f(0), grid.center
                scale = f(np.float32(max(abs(x) for x in group)) / np.float32(grid.max_code - zero))
            else:
                low, zero = f(min(group)), 0
                scale = f(np.float32(max(group) - np.float32(low)) / np.float32(grid.max_code))
            scales[r, g], mins[r, g] = scale, low
            for k, x in enumerate(group):
                step = 0 if float(scale) == 0 else round(float((x - np.float32(low)) / np.float32(scale)))
                code = min(max(step + zero, 0), grid.max_code)
                col = g * 32 + k
                words[r, col // grid.codes_per_word] |= np.uint32(
                    code << (grid.bits * (col % grid.codes_per_word)))
    return (words, scales) if grid.symmetric else (words, scales, mins)


@pytest.mark.parametrize("grid", [Q4_ASYM, Q8_SYM, Q4_SYM], ids=["q4-asym", "q8", "q4-sym"])
@pytest.mark.parametrize("scale_dtype", ["float16", "float32"])
def test_packing_matches_naive_reference(grid, scale_dtype):
    rng = np.random.default_rng(7)
    w = (rng.standard_normal((5, 64)) * rng.uniform(0.01, 2.0, size=(5, 1))).astype(np.float32)
    w[1, :32] = 0.25 if not grid.symmetric else 0.0  # constant / all-zero group: scale 0
    w[3, 32:] = np.abs(w[3, 32:]) + 1.0  # a group that never crosses zero
    ours, ref = quantize(w, grid, scale_dtype), naive_quantize(w, grid, scale_dtype)
    assert len(ours) == len(grid.suffixes) and grid_of(ours) == grid
    for a, b in zip(ours, ref):
        np.testing.assert_array_equal(a.view(np.uint8), b.view(np.uint8))
    back = dequantize(ours)
    assert back[1, :32].tolist() == [w[1, 0]] * 32
    step = ours[1].astype(np.float32).repeat(32, axis=1)
    assert (np.abs(back - w) <= 0.5 * step + 1e-3 * np.abs(w)).all()


def test_asymmetric_is_finer_than_symmetric_on_skewed_groups():
    rng = np.random.default_rng(0)
    w = (np.abs(rng.standard_normal((64, 128))) + 0.5).astype(np.float32)  # all positive
    err = {g: np.abs(dequantize(quantize(w, g, "float32")) - w).mean() for g in (Q4_SYM, Q4_ASYM)}
    assert err[Q4_ASYM] < 0.5 * err[Q4_SYM]


@pytest.mark.parametrize("qtype, grid", [("Q4_1", Q4_ASYM), ("Q8_0", Q8_SYM)])
def test_llama_cpp_blocks_are_carried_over_bit_exactly(qtype, grid):
    """Blocks made by gguf-py's own quantizer, dequantized, land on our grid exactly."""
    gguf = pytest.importorskip("gguf")
    rng = np.random.default_rng(5)
    w = (rng.standard_normal((16, 256)) * 0.05 + 0.01).astype(np.float32)
    kind = gguf.GGMLQuantizationType[qtype]
    source = gguf.dequantize(gguf.quantize(w, kind), kind).reshape(w.shape)
    np.testing.assert_array_equal(dequantize(quantize(source, grid, "float16")), source)


def test_f16_overflow_names_the_f32_scheme():
    w = np.full((1, 32), -7e4, dtype=np.float32)  # the minimum itself overflows f16
    with pytest.raises(WebslmError, match="q4f32_asym"):
        quantize(w, Q4_ASYM, "float16")


def test_mismatched_arrays_are_refused():
    q, s = quantize(np.ones((4, 64), np.float32), Q8_SYM)
    with pytest.raises(WebslmError, match="does not match"):
        dequantize((q[:, :5], s))
