"""Group quantization onto the grids our WebGPU kernels read (webslm.quantize.grids).

- 4-bit symmetric (q4f*_1, MLC-LLM's rule): scale = max|w| / 7, code = clamp(round(w / scale)
  + 7, 0, 14), value = (code - 7) * scale.
- 4-bit asymmetric (q4f*_asym, llama.cpp's Q4_1 grid): min = min(w), scale = (max(w) - min)
  / 15, code = clamp(round((w - min) / scale), 0, 15), value = code * scale + min. Half a bit
  more per weight and a finer grid for skewed groups; a Q4_1 source lands on it again bit for bit.
- 8-bit symmetric (the embedding of q4f*_asym and q4f*_nf4, llama.cpp's Q8_0 grid):
  scale = max|w| / 127, code = round(w / scale) + 128, value = (code - 128) * scale.
- NF4 (q4f*_nf4, bitsandbytes' 4-bit QLoRA base, webslm.quantize.nf4): code = index into the
  NF4 code book, scale = the double-quantized absmax of each 64-weight block, dequantized and
  kept in float32, value = NF4_CODE[code] * scale, equal to nf4_roundtrip's bit for bit.

Scales and minimums are stored in the activation dtype, and codes are computed against them
*as stored*, so dequantize() reproduces exactly what the kernels compute (in float32).
"""

import dataclasses

import numpy as np

from webslm.errors import WebslmError
from webslm.quantize.grids import Q4_SYM, Grid
from webslm.quantize.nf4 import NF4_CODE, nf4_quantize

MAX_INT = Q4_SYM.center
_BLOCK_ELEMS = 1 << 22  # rows per block chosen so temporaries stay around 16-64 MiB


def _check_shape(shape: tuple[int, ...], grid: Grid) -> None:
    if grid.group_size <= 0 or grid.group_size % grid.codes_per_word:
        raise WebslmError(
            f"group size {grid.group_size} is not a positive multiple of {grid.codes_per_word}",
            "use group_size=32 (every webslm scheme does)",
        )
    if len(shape) != 2:
        raise WebslmError(
            f"cannot group-quantize a tensor of shape {tuple(shape)}: expected [out, in]",
            "only 2-D weights (linear layers, embeddings) are quantized; keep others unquantized",
        )
    if shape[1] % grid.group_size:
        raise WebslmError(
            f"input dimension {shape[1]} of a weight of shape {tuple(shape)} is not a multiple "
            f"of the group size {grid.group_size}",
            "use an unquantized scheme (q0f16 / q0f32) for this model",
        )


def _row_blocks(n_out: int, n_in: int):
    step = max(1, _BLOCK_ELEMS // max(n_in, 1))
    for start in range(0, n_out, step):
        yield start, min(start + step, n_out)


def _groups(w: np.ndarray, start: int, stop: int, group_size: int) -> np.ndarray:
    block = np.asarray(w[start:stop], dtype=np.float32).reshape(stop - start, -1, group_size)
    if not np.isfinite(block).all():
        raise WebslmError(
            f"weight rows {start}..{stop - 1} contain NaN or infinity",
            "the source checkpoint is damaged; re-download or re-export it",
        )
    return block


def _stored(values: np.ndarray, dtype: np.dtype, what: str, start: int, stop: int) -> np.ndarray:
    with np.errstate(over="ignore"):  # overflow is reported just below, with a fix
        stored = values.astype(dtype)
    if not np.isfinite(stored).all():
        raise WebslmError(
            f"a group {what} overflows {dtype.name} (weights too large near rows {start}..{stop - 1})",
            "use the float32 variant of the scheme (q4f32_1 / q4f32_asym)",
        )
    return stored


def pack(codes: np.ndarray, grid: Grid) -> np.ndarray:
    """Codes [rows, in] -> uint32 words [rows, in/codes_per_word], the first in the lowest bits."""
    shifts = np.arange(grid.codes_per_word, dtype=np.uint32) * np.uint32(grid.bits)
    words = codes.astype(np.uint32).reshape(codes.shape[0], -1, grid.codes_per_word)
    return np.bitwise_or.reduce(words << shifts, axis=-1)


def _unpack(words: np.ndarray, grid: Grid) -> np.ndarray:
    """uint32 [rows, in/codes_per_word] -> uint32 codes [rows, in/group, group]."""
    shifts = np.arange(grid.codes_per_word, dtype=np.uint32) * np.uint32(grid.bits)
    codes = (words.astype(np.uint32)[..., None] >> shifts) & np.uint32((1 << grid.bits) - 1)
    return codes.reshape(words.shape[0], -1, grid.group_size)


def _quantize_nf4(w: np.ndarray, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """bitsandbytes' NF4 of w as ONE tensor: its double quantization takes statistics over the
    whole tensor, so pass each HF tensor on its own (q, k and v apart) and concatenate. Rows
    hold whole blocks (_check_shape), so block j of a row is its columns [64 j, 64 j + 64)."""
    codes, absmax = nf4_quantize(w, grid.group_size)
    return pack(codes, grid), absmax.reshape(w.shape[0], -1)


def quantize(w: np.ndarray, grid: Grid, scale_dtype: str | np.dtype = "float16"
             ) -> tuple[np.ndarray, ...]:
    """w[out, in] -> (q_weight uint32 [out, in/codes_per_word], q_scale [out, in/group]
    [, q_min [out, in/group]]), the arrays named by grid.suffixes. NF4 scales are float32
    whatever scale_dtype says (Grid.scale_dtype)."""
    _check_shape(w.shape, grid)
    if grid.nf4:
        return _quantize_nf4(w, grid)
    scale_dtype = np.dtype(scale_dtype)
    n_out, n_in = w.shape
    q_weight = np.empty((n_out, n_in // grid.codes_per_word), dtype=np.uint32)
    q_scale = np.empty((n_out, n_in // grid.group_size), dtype=scale_dtype)
    q_min = None if grid.symmetric else np.empty_like(q_scale)
    for start, stop in _row_blocks(n_out, n_in):
        block = _groups(w, start, stop, grid.group_size)
        if grid.symmetric:
            steps = grid.max_code - grid.center
            scale = _stored(np.abs(block).max(axis=-1) / np.float32(steps), scale_dtype, "scale",
                            start, stop)
            offset, zero = block, np.float32(grid.center)  # zero groups: every code is the center
        else:
            minimum = _stored(block.min(axis=-1), scale_dtype, "minimum", start, stop)
            # The range starts at the stored minimum, so the largest element still fits after
            # the minimum's rounding.
            spread = block.max(axis=-1) - minimum.astype(np.float32)
            scale = _stored(spread / np.float32(grid.max_code), scale_dtype, "scale", start, stop)
            q_min[start:stop] = minimum
            offset, zero = block - minimum.astype(np.float32)[..., None], np.float32(0)
        q_scale[start:stop] = scale
        scale32 = scale.astype(np.float32)[..., None]
        safe = np.where(scale32 == 0, np.float32(1), scale32)
        codes = np.clip(np.rint(offset / safe) + zero, 0, grid.max_code)
        q_weight[start:stop] = pack(codes.reshape(stop - start, n_in), grid)
    return (q_weight, q_scale) if grid.symmetric else (q_weight, q_scale, q_min)


def grid_of(arrays: tuple[np.ndarray, ...], group_size: int = 32) -> Grid:
    """The grid stored arrays are on, read from their shapes (codes per word, a minimum or not)."""
    q_weight, q_scale = arrays[0], arrays[1]
    n_in = q_scale.shape[-1] * group_size
    fits = q_weight.ndim == q_scale.ndim == 2 and q_scale.shape[0] == q_weight.shape[0] \
        and q_weight.shape[1] and n_in % q_weight.shape[1] == 0 \
        and n_in // q_weight.shape[1] in (4, 8) and all(a.shape == q_scale.shape for a in arrays[2:])
    if not fits:
        raise WebslmError(
            f"scale shape {q_scale.shape} does not match packed weight shape {q_weight.shape} "
            f"with group size {group_size}",
            "pass the arrays produced together by quantize()",
        )
    return Grid(32 // (n_in // q_weight.shape[1]), len(arrays) == 2, group_size)


def dequantize(arrays: tuple[np.ndarray, ...], group_size: int = 32, grid: Grid | None = None
               ) -> np.ndarray:
    """The float32 weight the kernels compute with: (code - center) * scale, code * scale + min
    or NF4_CODE[code] * scale, in float32, from quantize()'s arrays. The grid is read from the
    arrays' shapes unless given; NF4 must be given (its shapes are a 4-bit grid's)."""
    read = grid_of(arrays, grid.group_size if grid else group_size)
    if grid is not None and dataclasses.replace(grid, nf4=False) != read:
        raise WebslmError(f"arrays of shapes {[a.shape for a in arrays]} are not on {grid}",
                          "pass the grid the arrays were quantized on")
    grid = grid or read
    q_weight, q_scale, *q_min = arrays
    n_out = q_weight.shape[0]
    out = np.empty((n_out, q_scale.shape[1] * grid.group_size), dtype=np.float32)
    for start, stop in _row_blocks(n_out, out.shape[1]):
        codes = _unpack(q_weight[start:stop], grid)
        scale = q_scale[start:stop].astype(np.float32)[..., None]
        if grid.nf4:
            values = NF4_CODE[codes] * scale
        elif grid.symmetric:
            values = (codes.astype(np.float32) - np.float32(grid.center)) * scale
        else:
            values = codes.astype(np.float32) * scale \
                + q_min[0][start:stop].astype(np.float32)[..., None]
        out[start:stop] = values.reshape(stop - start, -1)
    return out


def quantize_q4(w: np.ndarray, group_size: int = 32, scale_dtype: str | np.dtype = "float16"
                ) -> tuple[np.ndarray, np.ndarray]:
    """MLC-LLM's symmetric 4-bit grid (q4f*_1)."""
    return quantize(w, Grid(4, True, group_size), scale_dtype)


def dequantize_q4(q_weight: np.ndarray, q_scale: np.ndarray, group_size: int = 32) -> np.ndarray:
    """(code - 7) * scale, rounded to the scale's dtype: what an f16 multiply would give."""
    if grid_of((q_weight, q_scale), group_size).bits != 4:
        raise WebslmError(f"packed weight shape {q_weight.shape} holds 8-bit codes, not 4-bit",
                          "use dequantize(), which reads the grid from the shapes")
    values = dequantize((q_weight, q_scale), group_size)
    return values if q_scale.dtype == np.float32 else values.astype(q_scale.dtype).astype(np.float32)
