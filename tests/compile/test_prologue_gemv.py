"""Gemma 3's norm chain in the prologue of the GEMV that reads it (arch/gemma3/kernels.py
norm_chain_gemv_te, compile/prologue_gemv.py), and the fused qkv with the q/k norms and RoPE
in the same kernel's epilogue (norm_chain_qkv_te): one kernel for one token on every scheme,
and on WebGPU (headless Chromium, SwiftShader) they compute what NumPy does on random inputs,
for the f32 schemes (SwiftShader has no shader-f16; the f16 kernels run in the real-weight
test on the dawn rig, tests/pipeline/test_build_gemma3.py)."""

from __future__ import annotations

import numpy as np
import pytest
import tvm
from tvm.relax.frontend import nn

from webslm.arch import find_architecture, published_config
from webslm.arch.gemma3.model import Gemma3Attention, GemmaNorm, norm_chain_linear
from webslm.compile.layers import BlockedEmbedding, make_linear
from webslm.compile.lowering import kernel_calls, launches, webgpu_target
from webslm.compile.schedules import gpu_legalize_passes
from webslm.compile.spec import WEBGPU_STORAGE_BUFFERS
from webslm.quantize.schemes import get_scheme

HIDDEN, EPS = 640, 1e-6  # gemma-3-270m's
QKV, GATE_UP = 1536, 4096  # its GEMVs after a chain: 192 workgroups (uneven slices), 512
SCHEMES = ("q4f16_1", "q4f32_1", "q8f16_1", "q8f32_1", "q4f32_asym", "q0f32", "q0f16")
# the f32 schemes run on SwiftShader, each at a row count of its own
ON_WEBGPU = {"q4f32_1": QKV, "q8f32_1": GATE_UP, "q4f32_asym": QKV, "q0f32": 512}
QKV_ON_WEBGPU = ("q4f32_1", "q8f32_1", "q0f32")
LM_HEAD_ON_WEBGPU, ROW_BLOCKS = ("q8f32_1", "q4f32_1"), (40, 24)  # tile rows: 8
GLOBAL_LAYER, POSITION = 5, 37  # a layer with RoPE base 1e6, a position past one page


class _Chain(nn.Module):
    """x + post(h), and proj(following(that)): one chain and its consumer."""

    def __init__(self, scheme, rows: int):
        d = scheme.act_dtype
        self.post, self.following = GemmaNorm(HIDDEN, EPS, d), GemmaNorm(HIDDEN, EPS, d)
        self.proj = make_linear(HIDDEN, rows, scheme)
        self.dtype = d

    def forward(self, x: nn.Tensor, h: nn.Tensor):
        return norm_chain_linear(self.proj, x, h, self.post, self.following, self.dtype)

    decode = prefill = forward


def _gemma_270m():
    hf = published_config("gemma-3-270m-it")
    return find_architecture(hf).config_from_hf(hf)


class _Qkv(nn.Module):
    """The fused qkv of gemma-3-270m's layer GLOBAL_LAYER after a chain (first: after the
    embedding alone, as in layer 0): (qkv normed and rotated, the residual stream)."""

    def __init__(self, scheme, first: bool):
        d = scheme.act_dtype
        self.attn = Gemma3Attention(_gemma_270m(), scheme, GLOBAL_LAYER)
        self.before, self.norm = GemmaNorm(HIDDEN, EPS, d), GemmaNorm(HIDDEN, EPS, d)
        self.first = first

    def forward(self, x: nn.Tensor, h: nn.Tensor, pos: nn.Tensor):
        if self.first:
            return self.attn.qkv(x, None, None, self.norm, pos)
        return self.attn.qkv(x, h, self.before, self.norm, pos)

    decode = prefill = forward


def _qkv_spec(scheme, tokens, first: bool) -> dict:
    return _spec(scheme, tokens) | {
        "x": nn.spec.Tensor([1, tokens, HIDDEN], scheme.act_dtype if first else "float32"),
        "pos": nn.spec.Tensor([1 if tokens == 1 else tokens], "int32")}


def _spec(scheme, tokens) -> dict:
    return {"x": nn.spec.Tensor([1, tokens, HIDDEN], "float32"),
            "h": nn.spec.Tensor([1, tokens, HIDDEN], scheme.act_dtype),
            "$": {"param_mode": "plain", "effect_mode": "none"}}


@pytest.mark.parametrize("rows", [QKV, GATE_UP])
@pytest.mark.parametrize("name", SCHEMES)
def test_decode_is_one_kernel_and_prefill_keeps_two(name, rows):
    scheme = get_scheme(name)
    model = _Chain(scheme, rows)
    mod, _ = model.export_tvm(spec={"decode": _spec(scheme, 1),
                                    "prefill": _spec(scheme, "seq_len")})
    target = webgpu_target()
    with target:
        mod = tvm.transform.Sequential(gpu_legalize_passes(target))(mod)
    decode = kernel_calls(mod, mod["decode"])
    assert decode == ["norm_chain_gemv"]
    func = mod["norm_chain_gemv"]
    assert launches(func) == 1
    lib = tvm.tirx.build(tvm.IRModule({"k": func.with_attr("global_symbol", "k")
                                       .with_attr("target", target)}), target=target)
    source = lib.imports[0].inspect_source()
    assert source.count("@compute") == 1 and "@workgroup_size(8, 8, 1)" in source
    assert len(kernel_calls(mod, mod["prefill"])) == 2  # the chain's kernel, the GEMV's


@pytest.mark.parametrize("first", [False, True], ids=["chain", "first-layer"])
@pytest.mark.parametrize("name", SCHEMES + ("q4f16_k",))
def test_qkv_with_its_norms_and_rope_is_one_kernel(name, first):
    """Decode: the chain (or the first layer's cast), the input norm, the qkv GEMV, the q/k
    norms and RoPE are one kernel, a workgroup a head, binding at most WebGPU's 10 storage
    buffers; prefill keeps them apart. An asymmetric grid after a chain would bind 11: it
    keeps the q/k norms' kernel."""
    scheme = get_scheme(name)
    mod, _ = _Qkv(scheme, first).export_tvm(spec={"decode": _qkv_spec(scheme, 1, first),
                                                  "prefill": _qkv_spec(scheme, "n", first)})
    target = webgpu_target()
    with target:
        mod = tvm.transform.Sequential(gpu_legalize_passes(target))(mod)
    decode = kernel_calls(mod, mod["decode"])
    assert kernel_calls(mod, mod["prefill"])[-1].startswith("qk_norm_rope")
    if not scheme.weight_grid.symmetric and not first:
        assert decode[0] == "norm_chain_gemv" and decode[-1].startswith("qk_norm_rope")
        return
    assert decode == ["norm_chain_qkv"]
    func = mod["norm_chain_qkv"]
    assert launches(func) == 1
    lib = tvm.tirx.build(tvm.IRModule({"k": func.with_attr("global_symbol", "k")
                                       .with_attr("target", target)}), target=target)
    assert lib.imports[0].inspect_source().count("var<storage") <= WEBGPU_STORAGE_BUFFERS


def test_a_size_the_tiling_does_not_divide_keeps_the_chains_kernel():
    scheme = get_scheme("q4f32_1")
    mod, _ = _Chain(scheme, 100).export_tvm(spec={"decode": _spec(scheme, 1)})
    target = webgpu_target()
    with target:
        mod = tvm.transform.Sequential(gpu_legalize_passes(target))(mod)
    assert kernel_calls(mod, mod["decode"]) == ["post_norm_add_norm", "fused_dequantize_matmul"]


# --- on WebGPU, against NumPy ---------------------------------------------------------------

def _reference(x, h, wp, wn, weight):
    """float64: r = x + norm_post(h); y = W norm_next(r)."""
    x, h, wp, wn, weight = (a.astype(np.float64) for a in (x, h, wp, wn, weight))
    norm = lambda v, w: v / np.sqrt(np.mean(v * v) + EPS) * (1 + w)  # noqa: E731
    r = x + norm(h, wp)
    return weight @ norm(r, wn), r


def _random_weight(rng, scheme, rows: int, grid=None) -> tuple[list[np.ndarray], np.ndarray]:
    """The stored arrays of a [rows, HIDDEN] weight on `grid` (the scheme's linear grid by
    default), and its values."""
    if not scheme.quantized:
        w = rng.standard_normal((rows, HIDDEN)).astype(np.float32) * 0.05
        return [w], w
    grid = grid or scheme.weight_grid
    per = grid.codes_per_word
    codes = rng.integers(0, 1 << grid.bits, (rows, HIDDEN), dtype=np.uint32)
    words = np.zeros((rows, HIDDEN // per), np.uint32)
    for c in range(per):
        words |= codes[:, c::per] << np.uint32(c * grid.bits)
    scale = (rng.random((rows, HIDDEN // grid.group_size)) * 0.02 + 0.001).astype(np.float32)
    group = lambda a: np.repeat(a, grid.group_size, axis=1)  # noqa: E731
    codes = codes.astype(np.float64)
    if grid.symmetric:
        return [words, scale], (codes - grid.center) * group(scale)
    low = (rng.standard_normal(scale.shape) * 0.05).astype(np.float32)
    return [words, scale, low], codes * group(scale) + group(low)


class _LmHead(nn.Module):
    """A tied lm_head over a table in row blocks (Gemma 3's 160 MiB 8-bit embedding is two):
    one kernel, scheduled by schedules.RowBlockGEMV."""

    def __init__(self, scheme):
        self.table = BlockedEmbedding(list(ROW_BLOCKS), HIDDEN, get_scheme(scheme))

    def forward(self, x: nn.Tensor):
        return self.table.lm_head(x)


class _Schemes(nn.Module):
    """A chain per f32 scheme, each behind a function of the scheme's name (x, h, then every
    parameter of the module, as param_mode plain passes them); the fused qkv's; the row-block
    lm_head's."""

    def __init__(self):
        for name in LM_HEAD_ON_WEBGPU:
            setattr(self, "module_lm_head_" + name, _LmHead(name))
        for name, rows in ON_WEBGPU.items():
            setattr(self, _attr(name), _Chain(get_scheme(name), rows))
        for name in QKV_ON_WEBGPU:
            for first in (False, True):
                setattr(self, _qkv_attr(name, first), _Qkv(get_scheme(name), first))


def _attr(name: str) -> str:
    return "chain_" + name


def _qkv_fn(name: str, first: bool) -> str:
    return ("first_" if first else "qkv_") + name


def _qkv_attr(name: str, first: bool) -> str:
    return "module_" + _qkv_fn(name, first)


for _name in ON_WEBGPU:
    setattr(_Schemes, _name, lambda self, x, h, _n=_name: getattr(self, _attr(_n))(x, h))
for _name in LM_HEAD_ON_WEBGPU:
    setattr(_Schemes, "lm_head_" + _name,
            lambda self, x, _a="module_lm_head_" + _name: getattr(self, _a)(x))
for _name in QKV_ON_WEBGPU:
    for _first in (False, True):
        setattr(_Schemes, _qkv_fn(_name, _first),
                lambda self, x, h, pos, _a=_qkv_attr(_name, _first): getattr(self, _a)(x, h, pos))


@pytest.fixture(scope="module")
def webgpu_lib(tmp_path_factory):
    """The library, built as compile_model builds (webslm's pipeline, the webgpu target) and
    linked (~1 min), and its parameters' names in argument order."""
    import os
    import shutil

    from webslm.bench.chromium import CHROMIUM
    if shutil.which("emcc") is None or not os.access(CHROMIUM, os.X_OK):
        pytest.skip("needs emcc and Chromium")
    pytest.importorskip("playwright.sync_api")
    from tvm import relax

    from webslm.compile.lowering import make_pipeline
    from webslm.compile.webruntime import link_model_library

    mod, params = _Schemes().export_tvm(spec={
        **{name: _spec(get_scheme(name), 1) for name in ON_WEBGPU},
        **{_qkv_fn(name, first): _qkv_spec(get_scheme(name), 1, first)
           for name in QKV_ON_WEBGPU for first in (False, True)},
        **{"lm_head_" + name: {"x": nn.spec.Tensor([1, 1, HIDDEN], "float32"),
                               "$": {"param_mode": "plain", "effect_mode": "none"}}
           for name in LM_HEAD_ON_WEBGPU}})
    target = webgpu_target()
    ex = relax.build(mod, target, relax_pipeline=make_pipeline(target, {}))
    lib = link_model_library(ex, tmp_path_factory.mktemp("prologue") / "prologue-webgpu.wasm")
    return lib, [(name, [int(d) for d in p.shape], p.dtype) for name, p in params]


def _in_order(arrays: dict, params) -> list[np.ndarray]:
    """Every parameter in argument order (plain mode passes all of them to every function):
    the given arrays, zeros for the other functions' parameters."""
    return [arrays[n] if n in arrays else np.zeros(shape, dtype) for n, shape, dtype in params]


@pytest.mark.slow
@pytest.mark.browser
def test_the_fused_kernel_computes_what_numpy_does(webgpu_lib):
    from sampler_webgpu import case, run_kernels

    lib, names = webgpu_lib
    rng = np.random.default_rng(29)
    arrays, weights = {}, {}
    for name, rows in ON_WEBGPU.items():
        at = _attr(name) + "."
        arrays[at + "post.weight"], arrays[at + "following.weight"] = (
            rng.standard_normal(HIDDEN).astype(np.float32) for _ in range(2))
        stored, weights[name] = _random_weight(rng, get_scheme(name), rows)
        suffixes = ("weight",) if len(stored) == 1 else ("q_weight", "q_scale", "q_min")
        arrays.update({at + "proj." + s: a for s, a in zip(suffixes, stored)})
    params = _in_order(arrays, names)
    cases, expected = [], []
    for name in ON_WEBGPU:
        # a Gemma-sized residual stream (|x| ~ 1e4) and a sublayer output of ordinary size
        x = (rng.standard_normal((1, 1, HIDDEN)) * 1e4).astype(np.float32)
        h = (rng.standard_normal((1, 1, HIDDEN)) * 3).astype(np.float32)
        at = _attr(name) + "."
        cases.append(case(name, x, h, *params, tuple_out=True))
        expected.append(_reference(x[0, 0], h[0, 0], arrays[at + "post.weight"],
                                   arrays[at + "following.weight"], weights[name]))
    outs, adapter, log = run_kernels(lib, cases)
    print(adapter, log[-1])
    for name, (y, r), (y_ref, r_ref) in zip(ON_WEBGPU, outs, expected):
        np.testing.assert_allclose(r[0, 0], r_ref, rtol=1e-6, atol=1e-6 * np.abs(r_ref).max(),
                                   err_msg=name)
        np.testing.assert_allclose(y[0, 0], y_ref, rtol=1e-4, atol=1e-4 * np.abs(y_ref).max(),
                                   err_msg=name)


def _qkv_reference(x, h, wp, wn, weight, qw, kw, first: bool):
    """float64: (the four q heads, k, v after the q/k norms and RoPE, r), as transformers'
    Gemma3Attention computes them at position POSITION of layer GLOBAL_LAYER."""
    cfg = _gemma_270m()
    x, h, wp, wn, weight, qw, kw = (a.astype(np.float64) for a in (x, h, wp, wn, weight, qw, kw))
    norm = lambda v, w: v / np.sqrt(np.mean(v * v, -1, keepdims=True) + EPS) * (1 + w)  # noqa: E731
    r = x if first else x + norm(h, wp)
    heads = (weight @ norm(r, wn)).reshape(6, cfg.head_dim)
    heads[:4], heads[4] = norm(heads[:4], qw), norm(heads[4], kw)
    theta, _factor = cfg.layer_rope(GLOBAL_LAYER)
    half = cfg.head_dim // 2
    angle = POSITION / theta ** (np.arange(half) * 2 / cfg.head_dim)
    cos, sin = np.cos(np.concatenate([angle, angle])), np.sin(np.concatenate([angle, angle]))
    rotated = heads[:5] * cos + np.concatenate([-heads[:5, half:], heads[:5, :half]], -1) * sin
    return np.concatenate([rotated, heads[5:]]), r


@pytest.mark.slow
@pytest.mark.browser
def test_the_fused_qkv_computes_what_numpy_does(webgpu_lib):
    from sampler_webgpu import case, run_kernels

    lib, names = webgpu_lib
    rng = np.random.default_rng(31)
    arrays, cases, expected, labels = {}, [], [], []
    for name in QKV_ON_WEBGPU:
        for first in (False, True):
            at = _qkv_attr(name, first) + "."
            stored, weight = _random_weight(rng, get_scheme(name), QKV)
            suffixes = ("weight",) if len(stored) == 1 else ("q_weight", "q_scale", "q_min")
            own = {at + "attn.qkv_proj." + s: a for s, a in zip(suffixes, stored)}
            for norm, size in (("before", HIDDEN), ("norm", HIDDEN), ("attn.qk_norm", 512)):
                own[at + norm + ".weight"] = rng.standard_normal(size).astype(np.float32)
            arrays.update(own)
            x = (rng.standard_normal((1, 1, HIDDEN)) * (3 if first else 1e4)).astype(np.float32)
            h = (rng.standard_normal((1, 1, HIDDEN)) * 3).astype(np.float32)
            pos = np.array([POSITION], np.int32)
            cases.append((_qkv_fn(name, first), x, h, pos))
            qk = own[at + "attn.qk_norm.weight"]
            expected.append(_qkv_reference(
                x[0, 0], h[0, 0], own[at + "before.weight"], own[at + "norm.weight"], weight,
                qk[:256], qk[256:], first))
            labels.append(_qkv_fn(name, first))
    params = _in_order(arrays, names)
    outs, adapter, log = run_kernels(
        lib, [case(fn, x, h, pos, *params, tuple_out=True) for fn, x, h, pos in cases])
    print(adapter, log[-1])
    for label, (qkv, r), (qkv_ref, r_ref) in zip(labels, outs, expected):
        np.testing.assert_allclose(r[0, 0], r_ref, rtol=1e-6, atol=1e-6 * np.abs(r_ref).max(),
                                   err_msg=label)
        np.testing.assert_allclose(qkv[0, 0], qkv_ref, rtol=1e-4,
                                   atol=1e-4 * np.abs(qkv_ref).max(), err_msg=label)


def test_a_row_block_lm_head_is_one_tiled_kernel():
    target = webgpu_target()
    mod, _ = _LmHead("q8f32_1").export_tvm(spec={"forward": {
        "x": nn.spec.Tensor([1, 1, HIDDEN], "float32"),
        "$": {"param_mode": "plain", "effect_mode": "none"}}})
    with target:
        mod = tvm.transform.Sequential(gpu_legalize_passes(target))(mod)
    assert kernel_calls(mod, mod["forward"]) == ["fused_dequantize_lm_head"]
    func = mod["fused_dequantize_lm_head"]
    lib = tvm.tirx.build(tvm.IRModule({"k": func.with_attr("global_symbol", "k")
                                       .with_attr("target", target)}), target=target)
    assert "@workgroup_size(8, 8, 1)" in lib.imports[0].inspect_source()


@pytest.mark.slow
@pytest.mark.browser
def test_the_row_block_lm_head_computes_what_numpy_does(webgpu_lib):
    """Every row of every block, against the blocks' dequantized values stacked (float64)."""
    from sampler_webgpu import case, run_kernels

    lib, names = webgpu_lib
    rng = np.random.default_rng(37)
    arrays, cases, expected = {}, [], []
    for name in LM_HEAD_ON_WEBGPU:
        scheme = get_scheme(name)
        tables = []
        for i, rows in enumerate(ROW_BLOCKS):
            stored, values = _random_weight(rng, scheme, rows, scheme.embedding_grid)
            suffixes = ("q_weight", "q_scale", "q_min")
            at = f"module_lm_head_{name}.table.rows.{i}."
            arrays.update({at + s: a for s, a in zip(suffixes, stored)})
            tables.append(values)
        x = rng.standard_normal((1, 1, HIDDEN)).astype(np.float32)
        cases.append(("lm_head_" + name, x))
        expected.append(np.concatenate(tables) @ x[0, 0].astype(np.float64))
    params = _in_order(arrays, names)
    outs, adapter, log = run_kernels(lib, [case(fn, x, *params) for fn, x in cases])
    print(adapter, log[-1])
    for (fn, _), (logits,), ref in zip(cases, outs, expected):
        np.testing.assert_allclose(logits[0, 0], ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max(),
                                   err_msg=fn)
