"""The NF4 round trip a QLoRA adapter was trained against (bitsandbytes' quantize_4bit with
quant_type="nf4", blocksize=64, compress_statistics=True, then dequantize_4bit).

A QLoRA adapter learned a correction to the *dequantized* NF4 base, not to the float base, so
`--qlora-base nf4` merges it into nf4_roundtrip(w). The rules, as bitsandbytes has them:

- The tensor is flattened row-major and cut into blocks of 64 (the last may be short);
  absmax = max|w| per block, codes = the NF4 value nearest to w * (1 / absmax) (float32
  reciprocal, then a multiply; ties go to the lower code), clipped to [-1, 1].
- Double quantization: offset = mean(absmax); absmax - offset is quantized in blocks of 256
  onto bitsandbytes' signed 8-bit dynamic map the same way (nearest value, 1/absmax2 scaling),
  and dequantized as map[q] * absmax2 + offset, in float32.
- Value = NF4[code] * absmax', computed in float32.

Where bitsandbytes' own backends disagree, this follows CUDA (where QLoRA adapters are
trained), which is also bitsandbytes' pure-torch default backend: the 8-bit step picks the
nearest map value exactly (0.50's native CPU kernel uses a 65536-bin lookup table that
sometimes picks a neighbour), and a short last block is scaled by the reciprocal too (the CPU
path divides). An all-zero block stays zero (as on CPU; CUDA's 0 * (1/0) is NaN there and gives
-absmax'). mean() may differ from torch's by an ulp (its float32 summation order).
"""

import math

import numpy as np

from webslm.errors import WebslmError

# bitsandbytes' NF4 code book (QLoRA paper, create_normal_map(offset=0.9677083)), as float32.
NF4_CODE = np.array([
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
    0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
], dtype=np.float32)
ABSMAX_BLOCK = 256  # bitsandbytes' block size for the double-quantized absmax
DTYPES = ("float32", "bfloat16", "float16")
_BLOCK_ELEMS = 1 << 22  # elements per streamed chunk: temporaries stay around 16-64 MiB
_TINY = np.float32(1e-38)  # bitsandbytes clamps a zero absmax to this before 1 / absmax


def dynamic_map() -> np.ndarray:
    """bitsandbytes' create_dynamic_map(signed=True): 256 sorted float32 values in
    [-0.99297, 1], dense near zero. Built as torch builds it (linspace(0.1, 1, 2**i + 1) in
    float32 with a fused multiply-add, midpoints, times 10**(i - 6)) so it matches bit for bit."""
    positive = []
    for i in range(7):
        k = 2 ** i + 1
        step = (np.float32(1.0) - np.float32(0.1)) / np.float32(k - 1)
        j = np.arange(k, dtype=np.float64)  # float64 holds step * j + start exactly: one rounding
        edges = np.where(j < k // 2, np.float64(np.float32(0.1)) + float(step) * j,
                         1.0 - float(step) * (k - 1 - j)).astype(np.float32)
        positive.append(np.float32(10.0 ** (i - 6)) * ((edges[:-1] + edges[1:]) / np.float32(2)))
    values = np.concatenate(positive)
    return np.sort(np.concatenate([values, -values, np.float32([0.0, 1.0])]))


def _bounds(code: np.ndarray) -> np.ndarray:
    return (code[:-1] + code[1:]) / np.float32(2)


_NF4_BOUNDS = _bounds(NF4_CODE)
_MAP = dynamic_map()
_MAP_BOUNDS = _bounds(_MAP)


def _block_codes(x: np.ndarray, block: int, bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat float32 x -> (code index per element, absmax per block, the last block short)."""
    n_full = x.size // block * block
    absmax = np.abs(x[:n_full]).reshape(-1, block).max(axis=1)
    if n_full < x.size:
        absmax = np.append(absmax, np.abs(x[n_full:]).max())
    inv = np.float32(1) / np.maximum(absmax, _TINY)
    scaled = x * np.repeat(inv, block)[:x.size]
    np.clip(scaled, -1, 1, out=scaled)
    return np.searchsorted(bounds, scaled, side="left"), absmax


def _double_quant(absmax: np.ndarray) -> np.ndarray:
    """absmax -> map[q] * absmax2 + offset: the absmax values bitsandbytes dequantizes with."""
    total = np.float32(absmax.sum(dtype=np.float64))  # torch: float32 sum, then / n in float32
    offset = total / np.float32(absmax.size)
    centred = absmax - offset
    q, absmax2 = _block_codes(centred, ABSMAX_BLOCK, _MAP_BOUNDS)
    return _MAP[q] * np.repeat(absmax2, ABSMAX_BLOCK)[:q.size] + offset


def _to_dtype(x: np.ndarray, dtype: str) -> np.ndarray:
    """Round float32 values to bfloat16 / float16 (nearest even), kept as float32."""
    if dtype == "float16":
        with np.errstate(over="ignore"):  # reported by the finite check that follows
            return x.astype(np.float16).astype(np.float32)
    if dtype == "bfloat16":
        bits = x.view(np.uint32)
        bits = (bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))) \
            & np.uint32(0xFFFF0000)
        return bits.view(np.float32)
    return x


def _chunks(rows: int, cols: int, block_size: int):
    """Row ranges [r0, r1) holding a multiple of block_size elements (but the last), so no
    block straddles two chunks."""
    unit = block_size // math.gcd(cols, block_size)
    step = max(unit, _BLOCK_ELEMS // max(cols, 1) // unit * unit)
    for r in range(0, rows, step):
        yield r, min(r + step, rows)


def _check(w: np.ndarray, block_size: int, dtype: str) -> None:
    if block_size not in (32, 64, 128, 256, 512, 1024, 2048, 4096):
        raise WebslmError(f"NF4 block size {block_size} is not one bitsandbytes supports",
                          "use block_size=64, the bitsandbytes and QLoRA default")
    if dtype not in DTYPES:
        raise WebslmError(f"cannot round-trip NF4 in {dtype!r}",
                          f"pass dtype as one of {', '.join(DTYPES)}")
    floating = np.issubdtype(w.dtype, np.floating) or w.dtype.name == "bfloat16"  # ml_dtypes
    if w.ndim == 0 or w.size == 0 or not floating:
        raise WebslmError(f"cannot NF4-quantize a {w.dtype} tensor of shape {w.shape}",
                          "pass a non-empty floating-point weight (QLoRA quantizes only the "
                          "linear layers' weights: see quantized_by_qlora)")


def nf4_quantize(w: np.ndarray, block_size: int = 64, double_quant: bool = True,
                 dtype: str = "float32") -> tuple[np.ndarray, np.ndarray]:
    """What bitsandbytes' quantize_4bit stores for w, with the double quantization undone:
    (code index into NF4_CODE per element, uint8 in w's shape; absmax' per block of the
    row-major flattening, float32). NF4_CODE[code] * absmax' in float32 is the round trip
    (nf4_roundtrip); the q4f*_nf4 schemes store exactly these. Arguments as nf4_roundtrip's.
    Streams over row chunks."""
    w = np.asarray(w)
    _check(w, block_size, dtype)
    rows = w.shape[0]
    cols = w.size // rows
    w2 = w.reshape(rows, cols)
    codes = np.empty(w.shape, dtype=np.uint8)
    flat = codes.reshape(-1)
    absmax = np.empty(-(-w.size // block_size), dtype=np.float32)
    for r0, r1 in _chunks(rows, cols, block_size):
        x = _to_dtype(np.asarray(w2[r0:r1], dtype=np.float32).reshape(-1), dtype)
        if not np.isfinite(x).all():
            if dtype == "float16" and np.isfinite(w2[r0:r1]).all():
                raise WebslmError(f"weight rows {r0}..{r1 - 1} overflow float16",
                                  "the base cannot have been trained in float16: pass bfloat16")
            raise WebslmError(f"weight rows {r0}..{r1 - 1} contain NaN or infinity",
                              "the source checkpoint is damaged; re-download or re-export it")
        block_codes, block_absmax = _block_codes(x, block_size, _NF4_BOUNDS)
        flat[r0 * cols:r1 * cols] = block_codes
        absmax[r0 * cols // block_size:r0 * cols // block_size + block_absmax.size] = block_absmax
    return codes, _double_quant(absmax) if double_quant else absmax


def nf4_roundtrip(w: np.ndarray, block_size: int = 64, double_quant: bool = True,
                  dtype: str = "float32") -> np.ndarray:
    """The float32 weights bitsandbytes' dequantize_4bit(quantize_4bit(w, quant_type="nf4",
    blocksize=block_size, compress_statistics=double_quant)) gives, for w in HF layout
    ([out, in], as the nn.Linear holds it: blocks run over the row-major flattening, and the
    mean is per tensor, so round-trip each HF tensor on its own, before any fusing).

    dtype is the dtype the trainer held the base in when bitsandbytes quantized it (the
    from_pretrained dtype: bfloat16 for most QLoRA runs, float16 on GPUs without bf16). The
    input is rounded to it first (a no-op for a checkpoint stored in it, as webslm's float32
    arrays of a bf16 checkpoint are) and the dequantized weight is rounded to it at the end, as
    bitsandbytes dequantizes into the quantized tensor's dtype. The default, float32, is the
    exact float32 round trip; bfloat16 moves each value by at most 2**-8 of itself, far less
    than an NF4 step. Streams over row chunks; holds the output, the codes and the absmax."""
    codes, absmax = nf4_quantize(w, block_size, double_quant, dtype)
    rows = codes.shape[0]
    cols = codes.size // rows
    out = np.empty(codes.shape, dtype=np.float32)
    flat, flat_codes = out.reshape(-1), codes.reshape(-1)
    for r0, r1 in _chunks(rows, cols, block_size):
        start, stop = r0 * cols, r1 * cols
        scale = np.repeat(absmax[start // block_size:-(-stop // block_size)], block_size)
        flat[start:stop] = _to_dtype(NF4_CODE[flat_codes[start:stop]] * scale[:stop - start],
                                     dtype)
    return out


def quantized_by_qlora(name: str) -> bool:
    """Whether a QLoRA base holds this HF tensor in NF4: the weight of an nn.Linear inside a
    decoder layer (q/k/v/o_proj, Phi-3's qkv_proj, gate/up/down_proj, gate_up_proj).
    transformers swaps every nn.Linear for bitsandbytes' Linear4bit except the output
    embedding (lm_head), tied weights and the last module (get_keys_to_not_convert), so
    embed_tokens (an nn.Embedding), lm_head, the norms and the biases stay in float."""
    parts = name.split(".")
    if len(parts) < 4 or parts[-1] != "weight" or "norm" in parts[-2]:
        return False
    return any(p == "layers" and q.isdigit() for p, q in zip(parts[:-3], parts[1:-2]))
