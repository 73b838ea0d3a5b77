"""Gemma 3's fused norm kernels (webslm/arch/gemma3/kernels.py) on WebGPU: each is one
kernel, for one token (decode) and for a prefill's dynamic length, and lowers to WGSL. What
they compute is held by the parity tests (CPU) and the WebLLM id tests (WebGPU)."""

from __future__ import annotations

import pytest
import tvm
from tvm.relax.frontend import nn

from webslm.arch.gemma3.model import GemmaNorm, post_norm_add_norm
from webslm.compile.lowering import kernel_calls, launches, webgpu_target
from webslm.compile.schedules import gpu_legalize_passes

HIDDEN = 640  # gemma-3-270m's: not a multiple of the 64 threads' 128 or 256


class _Chain(nn.Module):
    def __init__(self, dtype: str):
        self.post, self.following = GemmaNorm(HIDDEN, 1e-6, dtype), GemmaNorm(HIDDEN, 1e-6, dtype)
        self.dtype = dtype

    def forward(self, x: nn.Tensor, h: nn.Tensor):
        return post_norm_add_norm(x, h, self.post, self.following, self.dtype)


class _Split(nn.Module):
    def forward(self, qkv: nn.Tensor):
        q, k, v = nn.op.split(qkv, [4, 5], axis=2)
        return q * q, k * k, v * v


def _legalized(model: nn.Module, spec: dict):
    mod, _ = model.export_tvm(spec={"forward": spec})
    target = webgpu_target()
    with target:
        mod = tvm.transform.Sequential(gpu_legalize_passes(target))(mod)
    return mod, target


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("tokens", [1, "seq_len"], ids=["decode", "prefill"])
def test_post_norm_add_norm_is_one_kernel_a_token(dtype, tokens):
    """Two reductions and two outputs (the float32 residual, the normed input in the build's
    dtype) in one workgroup per token."""
    mod, target = _legalized(_Chain(dtype), {
        "x": nn.spec.Tensor([1, tokens, HIDDEN], "float32"),
        "h": nn.spec.Tensor([1, tokens, HIDDEN], dtype)})
    [(gv, func)] = [(gv, f) for gv, f in mod.functions_items()
                    if isinstance(f, tvm.tirx.PrimFunc)]
    assert launches(func) == 1
    lib = tvm.tirx.build(tvm.IRModule({"chain": func.with_attr("global_symbol", "chain")
                                       .with_attr("target", target)}), target=target)
    source = lib.imports[0].inspect_source()
    assert source.count("@compute") == 1 and "@workgroup_size(64, 1, 1)" in source
    assert kernel_calls(mod, mod["forward"]) == [gv.name_hint]


def test_a_primfunc_that_launches_several_kernels_is_listed_once_a_kernel():
    """A split into three outputs is one PrimFunc and three kernels (three dispatches, as the
    profile counts them): `kernel_calls` lists it three times."""
    mod, _ = _legalized(_Split(), {"qkv": nn.spec.Tensor([1, 1, 6, 256], "float32")})
    assert launches(mod["split"]) == 3
    assert kernel_calls(mod, mod["forward"]).count("split") == 3
