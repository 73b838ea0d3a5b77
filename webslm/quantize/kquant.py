"""llama.cpp's 4-bit block types carried onto the asymmetric 4-bit grid (grids.Q4_ASYM) as
they are: the codes and each 32-weight group's scale and minimum read from the blocks, not
searched again from the dequantized floats (a search picks its own minimum and scale, 4.4%
RMS off a Q4_K tensor).

Every one of them is value = code * scale + min per 32 weights, code 0..15:
- Q4_K (256 weights, 144 bytes: f16 d, f16 dmin, 12 bytes of 6-bit scales sc and mins m for
  eight groups of 32, 128 bytes of codes): scale = d * sc, min = -(dmin * m).
- Q4_1 (32 weights, 20 bytes: f16 d, f16 m, 16 bytes of codes): scale = d, min = m.
- Q4_0 (32 weights, 18 bytes: f16 d, 16 bytes of codes): value = d * (code - 8), so scale = d,
  min = -8 d.
With float32 scales and minimums the grid's code * scale + min is gguf-py's dequantization
bit for bit (tests/quantize/test_kquant.py); float16 ones round each scale and minimum once.
"""

from __future__ import annotations

import numpy as np

from webslm.errors import WebslmError

GROUP = 32
# ggml type -> (weights per block, bytes per block)
BLOCKS = {"Q4_K": (256, 144), "Q4_1": (32, 20), "Q4_0": (32, 18)}


def _f16(raw: np.ndarray) -> np.ndarray:
    """Little-endian float16 from byte pairs [..., 2], as float32."""
    return np.ascontiguousarray(raw).view("<f2")[..., 0].astype(np.float32)


def _nibbles(qs: np.ndarray) -> np.ndarray:
    """[..., n] bytes -> [..., 2n] codes: the low nibbles in order, then the high ones (the
    order of a Q4_0/Q4_1 block and of each 64-weight half of a Q4_K block)."""
    return np.concatenate([qs & 0x0F, qs >> 4], axis=-1)


def _k_scales_mins(packed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Q4_K's 12 bytes -> eight 6-bit scales and eight 6-bit mins: groups 0-3 in the low six
    bits of bytes 0-3 (scales) and 4-7 (mins); groups 4-7 take their low four bits from bytes
    8-11 (scale in the low nibble, min in the high one) and their top two from the top bits of
    bytes 0-3 (scales) and 4-7 (mins)."""
    p = packed.astype(np.uint8)
    low_sc, low_m = p[:, 0:4] & 63, p[:, 4:8] & 63
    high_sc = (p[:, 8:12] & 0x0F) | ((p[:, 0:4] >> 6) << 4)
    high_m = (p[:, 8:12] >> 4) | ((p[:, 4:8] >> 6) << 4)
    return (np.concatenate([low_sc, high_sc], axis=1).astype(np.float32),
            np.concatenate([low_m, high_m], axis=1).astype(np.float32))


def transcode(raw: np.ndarray, ggml_type: str, shape: tuple[int, int]
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A tensor's bytes (rows of blocks, as GGUF stores a [rows, cols] tensor) -> codes uint8
    [rows, cols], scale and min float32 [rows, cols / 32]."""
    if ggml_type not in BLOCKS:
        raise WebslmError(f"{ggml_type} is not a 4-bit block type webslm transcodes",
                          f"transcode one of {', '.join(BLOCKS)}")
    per_block, nbytes = BLOCKS[ggml_type]
    rows, cols = shape
    if cols % per_block or raw.size != rows * cols // per_block * nbytes:
        raise WebslmError(f"{raw.size} bytes are not a [{rows}, {cols}] {ggml_type} tensor",
                          "pass the tensor's own bytes and shape")
    blocks = np.ascontiguousarray(raw, dtype=np.uint8).reshape(-1, nbytes)
    d = _f16(blocks[:, 0:2].reshape(-1, 1, 2))
    if ggml_type == "Q4_K":
        dmin = _f16(blocks[:, 2:4].reshape(-1, 1, 2))
        sc, m = _k_scales_mins(blocks[:, 4:16])
        scale, minimum = d * sc, -(dmin * m)
        qs = blocks[:, 16:].reshape(-1, 4, 32)  # four 64-weight halves of 32 bytes each
        codes = _nibbles(qs).reshape(-1, per_block)
    else:
        has_min = ggml_type == "Q4_1"
        codes = _nibbles(blocks[:, 4 if has_min else 2:])
        scale = d
        minimum = _f16(blocks[:, 2:4].reshape(-1, 1, 2)) if has_min else np.float32(-8) * d
    groups = rows * cols // GROUP
    return (codes.reshape(rows, cols), scale.reshape(rows, groups // rows),
            minimum.reshape(rows, groups // rows))
