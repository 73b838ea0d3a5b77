"""Our WebGPU GEMV tiling (webslm/compile/schedules.py): which decode matmuls get it, and that
they lower to WGSL. The numbers these kernels compute are checked end to end in Chromium: the
WebLLM tests in tests/pipeline compare their greedy token ids with the CPU build's."""

from __future__ import annotations

import re

import pytest
import tvm
from tvm.relax.frontend import nn

from webslm.compile.activations import activation
from webslm.compile.layers import gated_linear, make_linear
from webslm.compile.lora import attach_lora
from webslm.compile.lowering import webgpu_target
from webslm.compile.schedules import WEBGPU_GEMV, gpu_legalize_passes
from webslm.compile.spec import LoraLinear, LoraPlan
from webslm.quantize.schemes import get_scheme


class _Linear(nn.Module):
    def __init__(self, rows: int, cols: int, scheme):
        self.proj = make_linear(cols, rows, scheme)

    def forward(self, x: nn.Tensor) -> nn.Tensor:
        return self.proj(x)


class _GatedDown(nn.Module):
    """The MLP's down projection over [gate | up], plus the residual add decode fuses in."""

    def __init__(self, rows: int, cols: int, scheme):
        self.proj = make_linear(cols, rows, scheme)

    def forward(self, x: nn.Tensor, residual: nn.Tensor) -> nn.Tensor:
        return gated_linear(self.proj, x, activation("silu", "test")) + residual


def scheduled_kernels(rows: int, cols: int, scheme_name: str, tokens: int | str = 1,
                      gated: bool = False, lora: LoraLinear | None = None):
    """The PrimFuncs of one quantized linear on `tokens` tokens (1: decode; a name: prefill's
    dynamic length), after our GPU legalization; gated: the MLP's down projection; lora: a
    kept adapter's branch on it."""
    scheme = get_scheme(scheme_name)
    x = nn.spec.Tensor([1, tokens, 2 * cols if gated else cols], scheme.act_dtype)
    if gated:
        model = _GatedDown(rows, cols, scheme)
        spec = {"x": x, "residual": nn.spec.Tensor([1, tokens, rows], scheme.act_dtype)}
    else:
        model, spec = _Linear(rows, cols, scheme), {"x": x}
    if lora is not None:
        attach_lora(model, LoraPlan({"proj": lora}))
    mod, _ = model.export_tvm(spec={"forward": spec})
    target = webgpu_target()
    with target:
        mod = tvm.transform.Sequential(gpu_legalize_passes(target))(mod)
    return {gv.name_hint: f for gv, f in mod.functions_items()
            if isinstance(f, tvm.tirx.PrimFunc)}, target


def wgsl(func, target) -> str:
    mod = tvm.IRModule({"gemv": func.with_attr("global_symbol", "gemv").with_attr("target", target)})
    return tvm.tirx.build(mod, target=target).imports[0].inspect_source()


def workgroup_size(source: str) -> tuple[int, ...]:
    [size] = re.findall(r"@workgroup_size\(([0-9, ]+)\)", source)
    return tuple(int(n) for n in size.split(","))


@pytest.mark.parametrize("scheme", ["q4f16_1", "q4f32_1", "q4f16_asym", "q4f32_asym",
                                    "q4f16_nf4", "q4f32_nf4"])
def test_decode_gemvs_get_rows_by_threads_workgroups(scheme):
    tiling = WEBGPU_GEMV
    kernels, target = scheduled_kernels(rows=64, cols=256, scheme_name=scheme)
    [gemv] = kernels.values()
    source = wgsl(gemv, target)
    assert workgroup_size(source) == (tiling.threads, tiling.rows, 1)
    # each lane loads a packed word once, then unpacks all of its codes from the register
    loads = re.findall(r"q_weight_local\[0i\] = proj_q_weight_ptr\[", source)
    assert len(loads) == source.count("q_weight_ptr[") == 256 // 8 // tiling.threads


@pytest.mark.parametrize("scheme", ["q4f16_1", "q4f32_asym", "q0f32"])
def test_decode_down_gemv_reads_the_gated_product_in_one_tiled_kernel(scheme):
    """act(gate) * up is read inside the down GEMV, with the residual add in its epilogue:
    one kernel, tiled like every other decode GEMV. Prefill keeps the product a kernel."""
    tiling = WEBGPU_GEMV
    decode, target = scheduled_kernels(rows=64, cols=256, scheme_name=scheme, gated=True)
    # the flat view of [gate | up] is a reshape, which the build turns into a view (no kernel)
    [name] = set(decode) - {"reshape"}
    assert "gated" in name and name.endswith("_add")
    source = wgsl(decode[name], target)
    assert workgroup_size(source) == (tiling.threads, tiling.rows, 1)
    assert "exp(" in source  # SiLU's sigmoid, computed inside the GEMV
    prefill, _ = scheduled_kernels(rows=64, cols=256, scheme_name=scheme, tokens="seq_len",
                                   gated=True)
    assert "gated_product" in prefill and len(prefill) == 2


@pytest.mark.parametrize("scheme, gated", [("q4f32_1", False), ("q4f16_asym", True),
                                           ("q4f32_nf4", False), ("q0f32", True)])
def test_a_kept_adapters_decode_branch_runs_inside_the_base_gemv(scheme, gated):
    """W x + B (A x) (plus the gated product and the residual add, for the down projection) is
    ONE tiled kernel at decode: each workgroup computes A x into shared memory first, reading
    A and B^T as packed float16. Prefill keeps A x and B (A x) as kernels of their own."""
    tiling = WEBGPU_GEMV
    two_parts = LoraLinear(rank=4, parts=((0, 0), (32, 4)))  # like q and k of a fused qkv
    decode, target = scheduled_kernels(64, 256, scheme, gated=gated, lora=two_parts)
    [name] = set(decode) - {"reshape"}
    source = wgsl(decode[name], target)
    assert workgroup_size(source) == (tiling.threads, tiling.rows, 1)
    assert "var<workgroup> lora_down_shared : array<f32, 8>" in source
    assert re.search(r"proj_lora_a_ptr : array<u32>", source)
    assert re.search(r"proj_lora_b_ptr : array<u32>", source)
    prefill, _ = scheduled_kernels(64, 256, scheme, tokens="seq_len", gated=gated,
                                   lora=two_parts)
    assert any(n.startswith("lora_down") for n in prefill)
    assert sum("lora" in n for n in prefill) == 2


@pytest.mark.parametrize("rows, cols", [
    (60, 256),   # rows: not a multiple of the tiling's 8
    (64, 288),   # 36 packed words per row: not a multiple of its 8 lanes
])
def test_gemvs_the_tiling_does_not_divide_keep_dlights_schedule(rows, cols):
    kernels, target = scheduled_kernels(rows, cols, "q4f32_1")
    [gemv] = kernels.values()
    assert workgroup_size(wgsl(gemv, target)) == (64, 1, 1)  # dlight's WebGPU GEMV


@pytest.mark.parametrize("tokens", [1, "seq_len"], ids=["decode", "prefill"])
def test_nf4_code_book_lowers_branch_free_and_exact(tokens):
    """NF4's lookup is a tree of WGSL select()s (no per-code branches) over the code book's
    exact float32 bit patterns (a printed decimal keeps 7 digits and would move them)."""
    import numpy as np

    from webslm.quantize.nf4 import NF4_CODE

    kernels, target = scheduled_kernels(rows=64, cols=256, scheme_name="q4f16_nf4",
                                        tokens=tokens)
    [kernel] = kernels.values()
    source = wgsl(kernel, target)
    code_branches = [line for line in source.splitlines()
                     if line.strip().startswith("if (") and "15u)" in line]  # on a 4-bit code
    assert not code_branches and "select(" in source
    for value in NF4_CODE[NF4_CODE != 0]:
        assert f"bitcast<f32>({int(value.view(np.uint32))}u)" in source
