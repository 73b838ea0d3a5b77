"""Gemma 3's norm chain in the prologue of the GEMV that reads it (arch/gemma3/kernels.py
norm_chain_gemv_te, compile/prologue_gemv.py): one kernel for one token on every scheme, and
on WebGPU (headless Chromium, SwiftShader) it computes what NumPy does on random inputs, for
the f32 schemes (SwiftShader has no shader-f16; the f16 kernels run in the real-weight test on
the dawn rig, tests/pipeline/test_build_gemma3.py)."""

from __future__ import annotations

import numpy as np
import pytest
import tvm
from tvm.relax.frontend import nn

from webslm.arch.gemma3.model import GemmaNorm, norm_chain_linear
from webslm.compile.layers import make_linear
from webslm.compile.lowering import kernel_calls, launches, webgpu_target
from webslm.compile.schedules import gpu_legalize_passes
from webslm.quantize.schemes import get_scheme

HIDDEN, EPS = 640, 1e-6  # gemma-3-270m's
QKV, GATE_UP = 1536, 4096  # its GEMVs after a chain: 192 workgroups (uneven slices), 512
SCHEMES = ("q4f16_1", "q4f32_1", "q8f16_1", "q8f32_1", "q4f32_asym", "q0f32", "q0f16")
# the f32 schemes run on SwiftShader, each at a row count of its own
ON_WEBGPU = {"q4f32_1": QKV, "q8f32_1": GATE_UP, "q4f32_asym": QKV, "q0f32": 512}


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


def _random_weight(rng, scheme, rows: int) -> tuple[list[np.ndarray], np.ndarray]:
    """The stored arrays of a [rows, HIDDEN] weight on the scheme's grid, and its values."""
    if not scheme.quantized:
        w = rng.standard_normal((rows, HIDDEN)).astype(np.float32) * 0.05
        return [w], w
    grid = scheme.weight_grid
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


class _Schemes(nn.Module):
    """A chain per f32 scheme, each behind a function of the scheme's name (x, h, then every
    parameter of the module, as param_mode plain passes them)."""

    def __init__(self):
        for name, rows in ON_WEBGPU.items():
            setattr(self, _attr(name), _Chain(get_scheme(name), rows))


def _attr(name: str) -> str:
    return "chain_" + name


for _name in ON_WEBGPU:
    setattr(_Schemes, _name, lambda self, x, h, _n=_name: getattr(self, _attr(_n))(x, h))


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
        name: _spec(get_scheme(name), 1) for name in ON_WEBGPU})
    target = webgpu_target()
    ex = relax.build(mod, target, relax_pipeline=make_pipeline(target, {}))
    lib = link_model_library(ex, tmp_path_factory.mktemp("chain") / "chain-webgpu.wasm")
    return lib, [name for name, _ in params]


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
    params = [arrays[n] for n in names]
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
