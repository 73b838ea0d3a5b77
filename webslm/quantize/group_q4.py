"""Symmetric 4-bit group quantization in the layout MLC-LLM's q4f16_1 / q4f32_1 kernels read.

Per group of `group_size` consecutive input elements of a row: scale = max|w| / 7, stored in the
activation dtype; code = clamp(round(w / scale) + 7, 0, 14); eight codes per uint32, the first
element in the lowest 4 bits. Codes are computed against the scale *as stored* so that
dequantize_q4 reproduces exactly what the GPU kernels compute.
"""

import numpy as np

from webslm.errors import WebslmError

MAX_INT = 7
CODES_PER_WORD = 8
_SHIFTS = (np.arange(CODES_PER_WORD, dtype=np.uint32) * 4).astype(np.uint32)
_BLOCK_ELEMS = 1 << 22  # rows per block chosen so temporaries stay around 16-64 MiB


def _check_shape(shape: tuple[int, ...], group_size: int) -> None:
    if group_size <= 0 or group_size % CODES_PER_WORD:
        raise WebslmError(
            f"group size {group_size} is not a positive multiple of {CODES_PER_WORD}",
            "use group_size=32 (the q4*_1 schemes)",
        )
    if len(shape) != 2:
        raise WebslmError(
            f"cannot group-quantize a tensor of shape {tuple(shape)}: expected [out, in]",
            "only 2-D weights (linear layers, embeddings) are quantized; keep others unquantized",
        )
    if shape[1] % group_size:
        raise WebslmError(
            f"input dimension {shape[1]} of a weight of shape {tuple(shape)} is not a multiple "
            f"of the group size {group_size}",
            "use an unquantized scheme (q0f16 / q0f32) for this model",
        )


def _rows_per_block(n_in: int) -> int:
    return max(1, _BLOCK_ELEMS // max(n_in, 1))


def quantize_q4(
    w: np.ndarray, group_size: int = 32, scale_dtype: str | np.dtype = "float16"
) -> tuple[np.ndarray, np.ndarray]:
    """Quantize w[out, in] to (q_weight uint32 [out, in/8], q_scale [out, in/group] scale_dtype)."""
    _check_shape(w.shape, group_size)
    scale_dtype = np.dtype(scale_dtype)
    n_out, n_in = w.shape
    n_groups = n_in // group_size
    q_weight = np.empty((n_out, n_in // CODES_PER_WORD), dtype=np.uint32)
    q_scale = np.empty((n_out, n_groups), dtype=scale_dtype)
    step = _rows_per_block(n_in)
    for start in range(0, n_out, step):
        stop = min(start + step, n_out)
        block = np.asarray(w[start:stop], dtype=np.float32).reshape(stop - start, n_groups, group_size)
        if not np.isfinite(block).all():
            raise WebslmError(
                f"weight rows {start}..{stop - 1} contain NaN or infinity",
                "the source checkpoint is damaged; re-download or re-export it",
            )
        with np.errstate(over="ignore"):  # overflow is reported just below, with a fix
            scale = (np.abs(block).max(axis=-1) / np.float32(MAX_INT)).astype(scale_dtype)
        if not np.isfinite(scale).all():
            raise WebslmError(
                f"a group scale overflows {scale_dtype.name} "
                f"(weights too large near rows {start}..{stop - 1})",
                "use the float32 variant of the scheme (q4f32_1)",
            )
        q_scale[start:stop] = scale
        scale32 = scale.astype(np.float32)[..., None]
        safe = np.where(scale32 == 0, np.float32(1), scale32)  # zero groups: every code becomes 7
        codes = np.clip(np.rint(block / safe) + MAX_INT, 0, 2 * MAX_INT).astype(np.uint32)
        codes = codes.reshape(stop - start, n_in // CODES_PER_WORD, CODES_PER_WORD)
        q_weight[start:stop] = np.bitwise_or.reduce(codes << _SHIFTS, axis=-1)
    return q_weight, q_scale


def dequantize_q4(q_weight: np.ndarray, q_scale: np.ndarray, group_size: int = 32) -> np.ndarray:
    """Rebuild float32 weights the way the kernels do: (code - 7) * scale in the scale's dtype."""
    n_out, n_words = q_weight.shape
    n_in = n_words * CODES_PER_WORD
    if q_scale.shape != (n_out, n_in // group_size) or n_in % group_size:
        raise WebslmError(
            f"scale shape {q_scale.shape} does not match packed weight shape {q_weight.shape} "
            f"with group size {group_size}",
            "pass the q_weight / q_scale pair produced together by quantize_q4",
        )
    out = np.empty((n_out, n_in), dtype=np.float32)
    step = _rows_per_block(n_in)
    for start in range(0, n_out, step):
        stop = min(start + step, n_out)
        words = q_weight[start:stop].astype(np.uint32)[..., None]
        codes = ((words >> _SHIFTS) & np.uint32(0xF)).reshape(stop - start, -1, group_size)
        centered = codes.astype(np.float32) - np.float32(MAX_INT)
        # |code - 7| <= 7 times an f16 scale is exact in f32; rounding that to f16 afterwards
        # equals an f16 multiply, and is much faster than NumPy's emulated f16 arithmetic.
        values = centered * q_scale[start:stop].astype(np.float32)[..., None]
        if q_scale.dtype != np.float32:
            values = values.astype(q_scale.dtype)
        out[start:stop] = values.reshape(stop - start, n_in)
    return out
