"""The NF4 round trip (QLoRA bases): properties that need nothing, then the real bitsandbytes.

bitsandbytes 0.50 runs on the CPU: quantize_4bit in pure torch, the rest in its native CPU
library. Two of its CPU quirks are not what CUDA (where QLoRA adapters are trained) does, so
the reference steps around them: tensors are passed flattened (its AVX-512 dequantize_4bit
indexes absmax per row, wrong when a row is not a whole number of blocks), and the 8-bit
absmax step runs on its pure-torch backend (exact nearest value, as CUDA; the native CPU kernel
uses a 65536-bin lookup table). What is left is mean(absmax): torch sums float32 in its own
order, so the offset can differ by an ulp, which moves results by a few float32 ulps.
"""

import numpy as np
import pytest

from webslm.errors import WebslmError
from webslm.quantize import nf4
from webslm.quantize.nf4 import NF4_CODE, dynamic_map, nf4_roundtrip, quantized_by_qlora

HALF_GAP = float(np.max(np.diff(NF4_CODE))) / 2  # 0.1385: the largest code gap is 0.7230..1
MAP_HALF_GAP = float(np.max(np.diff(dynamic_map()))) / 2  # worst 8-bit error on absmax


def weights(shape, seed=0, scale=0.02):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


def awkward():
    """Matrices that stress the block rules: zeros, one outlier, partial blocks."""
    outlier = weights((64, 256), 1)
    outlier[5, 70] = 3.0  # one block with a single large value (also drags the mean)
    zero_block = weights((32, 128), 2)
    zero_block[3, :64] = 0  # one all-zero block among normal ones
    return {
        "zeros": np.zeros((8, 128), np.float32),
        "outlier": outlier,
        "zero_block": zero_block,
        "blocks_not_x256": weights((300, 192), 3),  # 900 blocks: 3 x 256 + 132
        "rows_not_x64": weights((7, 96), 4),  # blocks straddle rows; last block short
        "odd": weights((5, 77), 5),  # odd element count
        "wide": weights((16, 64 * 300), 6),
        "torch_mean_differs": weights((256, 512), 0),  # torch's float32 mean is 1 ulp off here
    }


def test_code_book():
    assert NF4_CODE.dtype == np.float32 and NF4_CODE.shape == (16,)
    assert (np.diff(NF4_CODE) > 0).all() and NF4_CODE[0] == -1 and NF4_CODE[15] == 1
    assert NF4_CODE[7] == 0 and NF4_CODE[8] == np.float32(0.07958029955625534)
    assert NF4_CODE[14] == np.float32(0.7229568362236023)
    m = dynamic_map()
    assert m.shape == (256,) and (np.diff(m) > 0).all() and m[127] == 0 and m[255] == 1
    assert m[0] == np.float32(-0.99296875) and m[128] == pytest.approx(5.5e-07, rel=1e-6)


@pytest.mark.parametrize("case", sorted(awkward()))
@pytest.mark.parametrize("double_quant", [False, True])
def test_error_bound_and_idempotence(case, double_quant):
    w = awkward()[case]
    r = nf4_roundtrip(w, double_quant=double_quant)
    assert r.shape == w.shape and r.dtype == np.float32
    flat, n = w.reshape(-1), w.size
    absmax = np.abs(np.pad(flat, (0, -n % 64))).reshape(-1, 64).max(axis=1)
    bound = np.repeat(absmax, 64)[:n] * HALF_GAP * (1 + 1e-6)
    if double_quant:  # plus the absmax' error: half an 8-bit step of the largest |absmax - mean|
        bound += MAP_HALF_GAP * np.abs(absmax - absmax.mean()).max() * 1.001 \
            + 4 * np.spacing(absmax.max())
    assert (np.abs(r.reshape(-1) - flat) <= bound).all()
    rr = nf4_roundtrip(r, double_quant=double_quant)
    if double_quant:  # codes repeat; the new mean re-rounds absmax' by at most half an 8-bit step
        assert np.abs(rr - r).max() <= MAP_HALF_GAP * np.abs(r).max() * 1.001
    else:
        np.testing.assert_array_equal(rr, r)
    if case == "zeros":
        assert not r.any()


def test_streamed_chunks_match_one_pass(monkeypatch):
    w = awkward()["rows_not_x64"]
    whole = nf4_roundtrip(w)
    monkeypatch.setattr(nf4, "_BLOCK_ELEMS", 64 * 3)  # chunks of 2 rows (2 x 96 = 3 blocks)
    np.testing.assert_array_equal(nf4_roundtrip(w), whole)


def test_dtype_rounds_input_and_output():
    for dtype, cast, unit in [("float16", np.float16, 2.0 ** -11), ("bfloat16", None, 2.0 ** -8)]:
        w = nf4._to_dtype(weights((16, 128)), dtype)  # a checkpoint stored in that dtype
        r = nf4_roundtrip(w, dtype=dtype)
        if cast is not None:
            np.testing.assert_array_equal(r, r.astype(cast).astype(np.float32))
        else:
            assert not (r.view(np.uint32) & 0xFFFF).any()
        exact = nf4_roundtrip(w)  # same codes and absmax; only the output rounding differs
        assert (np.abs(r - exact) <= np.abs(exact) * unit).all()  # half an ulp, at most


def test_rejects_what_bitsandbytes_cannot_quantize():
    w = weights((4, 64))
    bad = w.copy()
    bad[1, 3] = np.nan
    for call in (lambda: nf4_roundtrip(bad), lambda: nf4_roundtrip(w, block_size=48),
                 lambda: nf4_roundtrip(w, dtype="int8"), lambda: nf4_roundtrip(np.ones(3, int)),
                 lambda: nf4_roundtrip(np.float32(1)),
                 lambda: nf4_roundtrip(np.full((1, 64), 1e5, np.float32), dtype="float16")):
        with pytest.raises(WebslmError):
            call()


@pytest.mark.parametrize("name, quantized", [
    ("model.layers.0.self_attn.q_proj.weight", True),
    ("model.layers.11.self_attn.o_proj.weight", True),
    ("model.layers.3.mlp.down_proj.weight", True),
    ("model.layers.3.self_attn.qkv_proj.weight", True),  # Phi-3
    ("model.layers.3.mlp.gate_up_proj.weight", True),  # Phi-3
    ("model.language_model.layers.2.mlp.up_proj.weight", True),
    ("model.layers.0.self_attn.q_proj.bias", False),  # Qwen2: Linear4bit keeps the bias
    ("model.layers.0.input_layernorm.weight", False),
    ("model.layers.0.post_attention_layernorm.weight", False),
    ("model.layers.0.self_attn.q_norm.weight", False),
    ("model.layers.0.self_attn.rotary_emb.inv_freq", False),
    ("model.embed_tokens.weight", False),
    ("model.norm.weight", False),
    ("lm_head.weight", False),
])
def test_quantized_by_qlora(name, quantized):
    assert quantized_by_qlora(name) is quantized


# --- against the real bitsandbytes -------------------------------------------------------


@pytest.fixture
def bnb(monkeypatch):
    """bitsandbytes.functional, with the 8-bit step on its pure-torch (exact nearest) backend."""
    pytest.importorskip("bitsandbytes")
    import bitsandbytes.functional as F
    import torch

    packet = torch.ops.bitsandbytes.quantize_blockwise
    native = packet.default
    torch_only = torch._C.DispatchKeySet(torch._C.DispatchKey.PrivateUse2)  # no kernel of its own
    monkeypatch.setattr(packet, "default", lambda a, code, bs: native.redispatch(torch_only, a,
                                                                                    code, bs))
    return F


def bnb_roundtrip(F, w, double_quant, dtype="float32"):
    import torch

    t = torch.from_numpy(w.reshape(-1)).to(getattr(torch, dtype))
    q, state = F.quantize_4bit(t, blocksize=64, compress_statistics=double_quant,
                               quant_type="nf4")
    return F.dequantize_4bit(q, state).float().numpy().reshape(w.shape), state


def test_code_book_and_map_are_bitsandbytes(bnb):
    np.testing.assert_array_equal(NF4_CODE, bnb.get_4bit_type("nf4", device="cpu").numpy())
    np.testing.assert_array_equal(dynamic_map(), bnb.create_dynamic_map().numpy())


@pytest.mark.parametrize("case", sorted(awkward()))
@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
def test_matches_bitsandbytes(bnb, case, dtype):
    w = awkward()[case]
    ref, _ = bnb_roundtrip(bnb, w, False, dtype)
    np.testing.assert_array_equal(nf4_roundtrip(w, double_quant=False, dtype=dtype), ref)

    ref, state = bnb_roundtrip(bnb, w, True, dtype)
    mine = nf4_roundtrip(w, dtype=dtype)
    if np.float32(state.offset) == offset_of(w, dtype):
        np.testing.assert_array_equal(mine, ref)
    else:  # one ulp of offset: every absmax' moves by about an ulp, each value by a few
        assert abs(np.float32(state.offset) - offset_of(w, dtype)) <= np.spacing(
            np.float32(state.offset))
        np.testing.assert_array_max_ulp(mine, ref, maxulp=8)


def offset_of(w, dtype):
    """mean(absmax) as webslm computes it (a correctly rounded sum, then / n in float32)."""
    x = nf4._to_dtype(w.reshape(-1).astype(np.float32), dtype)
    absmax = np.abs(np.pad(x, (0, -x.size % 64))).reshape(-1, 64).max(axis=1)
    return np.float32(absmax.sum(dtype=np.float64)) / np.float32(absmax.size)


def test_close_to_bitsandbytes_native_cpu_path():
    """As users get it: the lookup-table 8-bit step picks a neighbouring map value now and then,
    so absmax' may differ by one 8-bit step (of |absmax - mean|), never more."""
    pytest.importorskip("bitsandbytes")
    import bitsandbytes.functional as F

    for w in awkward().values():
        ref, state = bnb_roundtrip(F, w, True)
        step = 2 * MAP_HALF_GAP * float(state.state2.absmax.max()) * 1.001 + 1e-7
        assert np.abs(nf4_roundtrip(w) - ref).max() <= step


# --- the q4f*_nf4 schemes: bitsandbytes' codes and absmax' as a build stores them -------


def _qkv_params(parts: dict[str, tuple[int, int]], scheme):
    from webslm.compile.spec import ParamSpec

    rows, cols = sum(r for r, _ in parts.values()), next(iter(parts.values()))[1]
    grid = scheme.weight_grid
    base = "model.layers.0.self_attn.qkv_proj"
    return [ParamSpec(base + ".q_weight", (rows, cols // grid.codes_per_word), "uint32"),
            ParamSpec(base + ".q_scale", (rows, cols // grid.group_size),
                      grid.scale_dtype(scheme.act_dtype))]


@pytest.mark.parametrize("scheme_name", ["q4f32_nf4", "q4f16_nf4"])
def test_stored_arrays_are_the_roundtrip_of_each_hf_tensor(scheme_name):
    """q, k and v (GQA: different sizes) are each quantized as bitsandbytes quantized them, one
    tensor at a time, and NF4_CODE[code] * absmax' of the fused arrays is their round trip."""
    from webslm.arch.llama.mapping import LLAMA_WEIGHTS
    from webslm.convert.weights import convert
    from webslm.quantize.group import dequantize
    from webslm.quantize.schemes import get_scheme

    scheme = get_scheme(scheme_name)
    shapes = {"q": (256, 192), "k": (64, 192), "v": (64, 192)}
    hf = {f"model.layers.0.self_attn.{p}_proj.weight": weights(s, seed=i, scale=0.02 * (i + 1))
          for i, (p, s) in enumerate(shapes.items())}
    hf["model.layers.0.self_attn.k_proj.weight"][3, 5] = 1.0  # moves k's statistics only
    out = {}
    convert(iter(hf.items()), _qkv_params(shapes, scheme), LLAMA_WEIGHTS, scheme,
            tied_embeddings=False, emit=out.__setitem__)
    q_weight, q_scale = (out["model.layers.0.self_attn.qkv_proj" + s] for s in (".q_weight",
                                                                                ".q_scale"))
    assert q_weight.dtype == np.uint32 and q_scale.dtype == np.float32
    expected = np.concatenate([nf4_roundtrip(w) for w in hf.values()])
    np.testing.assert_array_equal(dequantize((q_weight, q_scale), grid=scheme.weight_grid),
                                  expected)
    # the same by hand: codes first in the lowest bits, one absmax' per 64 columns of a row
    codes = (q_weight[..., None] >> (np.arange(8, dtype=np.uint32) * 4)) & 15
    by_hand = NF4_CODE[codes.reshape(len(expected), -1)] * np.repeat(q_scale, 64, axis=1)
    np.testing.assert_array_equal(by_hand, expected)
    fused_once = nf4_roundtrip(np.concatenate(list(hf.values())))
    assert not np.array_equal(fused_once, expected)  # the statistics are per HF tensor


def test_nf4_grid_quantizes_through_group_and_survival():
    from webslm.arch.llama.mapping import LLAMA_WEIGHTS
    from webslm.quantize.group import dequantize, quantize
    from webslm.quantize.schemes import get_scheme
    from webslm.quantize.survival import stored, survival

    scheme = get_scheme("q4f16_nf4")
    w = awkward()["outlier"]
    codes, absmax = nf4.nf4_quantize(w)
    q_weight, q_scale = quantize(w, scheme.weight_grid, scheme.act_dtype)
    np.testing.assert_array_equal(q_scale, absmax.reshape(64, 4))
    np.testing.assert_array_equal(NF4_CODE[codes] * np.repeat(absmax, 64).reshape(w.shape),
                                  nf4_roundtrip(w))
    np.testing.assert_array_equal(dequantize((q_weight, q_scale), grid=scheme.weight_grid),
                                  nf4_roundtrip(w))
    np.testing.assert_array_equal(stored(w, scheme), nf4_roundtrip(w))
    change = w + weights(w.shape, seed=9, scale=0.001)
    kept = [survival([(name, w, change)], scheme, LLAMA_WEIGHTS).kept
            for name in ("lm_head.weight", "model.embed_tokens.weight", "model.layers.0.o_proj")]
    assert kept[0] == kept[1] != kept[2]  # an untied lm_head is on the embedding's 8-bit grid
    with pytest.raises(WebslmError, match="not on"):  # NF4 arrays need their grid named
        dequantize((q_weight, q_scale), grid=scheme.embedding_grid)


def test_nf4_refuses_rows_that_are_not_whole_blocks():
    from webslm.quantize.group import quantize
    from webslm.quantize.schemes import get_scheme

    with pytest.raises(WebslmError, match="multiple of the group size 64"):
        quantize(weights((4, 96)), get_scheme("q4f32_nf4").weight_grid)


def test_nf4_schemes():
    from webslm.quantize.grids import Q4_NF4
    from webslm.quantize.schemes import get_scheme

    for name, family in [("q4f32_nf4", "q4f32"), ("q4f16_nf4", "q4f16")]:
        s = get_scheme(name)
        assert s.family == family and s.weight_grid == Q4_NF4
        assert s.weight_grid.scale_dtype(s.act_dtype) == "float32"  # absmax' exact in f16 too
        # what QLoRA keeps in float (embedding, untied lm_head) is 8-bit
        assert s.embedding_grid.bits == 8 and s.lm_head_grid == s.embedding_grid
    assert get_scheme("q4f32_1").lm_head_grid == get_scheme("q4f32_1").weight_grid
