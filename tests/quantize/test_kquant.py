"""Transcoded 4-bit blocks dequantize to exactly what gguf-py's reference dequantizes the same
bytes to: the grid carries a Q4_K / Q4_1 / Q4_0 tensor bit for bit (float32 scales)."""

import numpy as np
import pytest
from gguf import GGMLQuantizationType, dequantize as gguf_dequantize

from webslm.errors import WebslmError
from webslm.quantize.grids import Q4_ASYM
from webslm.quantize.group import dequantize, pack
from webslm.quantize.kquant import BLOCKS, transcode


def random_blocks(ggml_type: str, rows: int, cols: int, seed: int = 0) -> np.ndarray:
    """Random bytes of a [rows, cols] tensor, its float16 fields set to finite values of
    every sign and size a real file could hold."""
    per_block, nbytes = BLOCKS[ggml_type]
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, (rows * cols // per_block, nbytes), dtype=np.uint8)
    halves = 2 if ggml_type in ("Q4_K", "Q4_1") else 1
    f16 = (rng.standard_normal((blocks.shape[0], halves)) * 10.0 ** rng.integers(-4, 0, (blocks.shape[0], halves)))
    blocks[:, :2 * halves] = f16.astype("<f2").view(np.uint8).reshape(blocks.shape[0], -1)
    return blocks.reshape(rows, -1)


@pytest.mark.parametrize("ggml_type", sorted(BLOCKS))
def test_transcoded_blocks_dequantize_as_gguf_py_does(ggml_type):
    rows, cols = 6, 512
    raw = random_blocks(ggml_type, rows, cols)
    codes, scale, minimum = transcode(raw, ggml_type, (rows, cols))
    assert codes.max() <= 15 and scale.dtype == minimum.dtype == np.float32
    ours = dequantize((pack(codes, Q4_ASYM), scale, minimum), grid=Q4_ASYM)
    reference = gguf_dequantize(raw, GGMLQuantizationType[ggml_type]).astype(np.float32)
    np.testing.assert_array_equal(ours, reference)


def test_q4_k_groups_follow_its_six_bit_scales():
    """A Q4_K block whose eight groups have scales 1..8 and mins 0 (d = 1): group g's codes
    come back times g + 1, which only the right unpacking of the 12 scale bytes gives."""
    block = np.zeros(144, np.uint8)
    block[0:2] = np.array([1.0], "<f2").view(np.uint8)
    sc = np.arange(1, 9)
    block[4:8] = sc[:4]                                   # groups 0-3: low six bits
    block[12:16] = sc[4:] & 0x0F                          # groups 4-7: low nibble of bytes 8-11
    block[16:144] = 0x21                                  # low nibbles 1, high nibbles 2
    codes, scale, minimum = transcode(block.reshape(1, -1), "Q4_K", (1, 256))
    np.testing.assert_array_equal(scale[0], sc.astype(np.float32))
    np.testing.assert_array_equal(minimum[0], np.zeros(8, np.float32))
    np.testing.assert_array_equal(codes[0].reshape(8, 32)[:, 0], [1, 2] * 4)


def test_wrong_sizes_are_refused():
    with pytest.raises(WebslmError, match="are not a"):
        transcode(np.zeros((2, 144), np.uint8), "Q4_K", (2, 512))
    with pytest.raises(WebslmError, match="Q5_0 is not"):
        transcode(np.zeros((1, 22), np.uint8), "Q5_0", (1, 32))
