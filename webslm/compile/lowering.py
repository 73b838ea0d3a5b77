"""Our Relax lowering pipeline: TVM's generic GPU/CPU phases with three additions.

- WebGPU's decode matmuls (GEMVs) get our own tiling, 8 rows x 8 threads (schedules.py).
- WebGPU has no 64-bit integers in WGSL, so every index is narrowed to int32.
- After static memory planning we know each function's peak buffer bytes; they go
  into the `_metadata` function WebLLM reads (memory_usage), so the numbers are
  measured on the program that actually runs, not estimated separately.
"""

from __future__ import annotations

import json
from typing import Any

import tvm
from tvm import relax
from tvm.relax.backend import gpu_generic
from tvm.relax.backend.cpu_generic import pipeline as cpu_generic
from tvm.target import Target

from webslm.compile.schedules import gpu_legalize_passes


def webgpu_target() -> Target:
    return Target({"kind": "webgpu"}, host={"kind": "llvm", "mtriple": "wasm32-unknown-unknown-wasm"})


def cpu_target() -> Target:
    return Target({"kind": "llvm"})


def planned_storage_bytes(func: relax.Function) -> int:
    """Sum of the statically sized storage allocations StaticPlanBlockMemory left in func."""
    total = 0

    def visit(expr):
        nonlocal total
        if isinstance(expr, relax.Call) and getattr(expr.op, "name", "") == "relax.memory.alloc_storage":
            size = expr.args[0]
            if isinstance(size, relax.ShapeExpr) and all(
                    isinstance(v, tvm.tirx.IntImm) for v in size.values):
                total += int(size.values[0])

    relax.analysis.post_order_visit(func, visit)
    return total


def _name(gv) -> str:
    return gv.name_hint if hasattr(gv, "name_hint") else gv.name


def launches(func: tvm.tirx.PrimFunc) -> int:
    """GPU kernels a scheduled PrimFunc becomes: its outermost blockIdx-bound loops (each
    splits off as a kernel of its own); 1 when it binds none (a CPU function)."""

    def count(stmt) -> int:
        if stmt is None:
            return 0
        if isinstance(stmt, tvm.tirx.For) and stmt.thread_binding is not None \
                and stmt.thread_binding.thread_tag.startswith("blockIdx"):
            return 1  # loops inside it are the same kernel's
        if isinstance(stmt, tvm.tirx.SeqStmt):
            return sum(count(s) for s in stmt.seq)
        if isinstance(stmt, tvm.tirx.IfThenElse):
            return count(stmt.then_case) + count(stmt.else_case)
        inner = [getattr(stmt, f, None) for f in ("block", "body", "init")]
        return sum(count(s) for s in inner if isinstance(s, tvm.tirx.Stmt))

    return max(count(func.body), 1)


def kernel_calls(mod: tvm.IRModule, func: relax.Function) -> list[str]:
    """The calls func makes, in order, once fused: a kernel's name for each PrimFunc call, as
    many times as it launches kernels (a GPU dispatch each; most launch one), `packed:NAME`
    for runtime functions (the KV cache's attention runs its own kernels). This is what
    `webslm bench --profile` checks its dispatch counts against."""
    calls = []

    def visit(expr):
        if not isinstance(expr, relax.Call):
            return
        op = expr.op
        if getattr(op, "name", "") in ("relax.call_tir", "relax.call_tir_inplace"):
            op = expr.args[0]
        elif getattr(op, "name", "") in ("relax.call_dps_packed", "relax.call_packed"):
            op = expr.args[0] if expr.args else op
        if isinstance(op, tvm.ir.GlobalVar) and isinstance(mod[op], tvm.tirx.PrimFunc):
            calls.extend([_name(op)] * launches(mod[op]))
        elif isinstance(op, relax.ExternFunc):
            calls.append(f"packed:{op.global_symbol}")
        elif isinstance(op, tvm.ir.Op) and op.name == "relax.call_builtin_with_ctx":
            calls.append(f"packed:{expr.args[0].global_symbol}")

    for block in func.body.blocks:
        for binding in block.bindings:
            relax.analysis.post_order_visit(binding.value, visit)
    return calls


def attach_metadata_pass(metadata: dict[str, Any]) -> tvm.transform.Pass:
    """Adds `_metadata() -> str` (JSON) including the planned memory of each function, and
    records each function's kernel calls in `metadata["kernel_calls"]` (for the manifest)."""

    @tvm.transform.module_pass(opt_level=0, name="AttachWebslmMetadata")
    def attach(mod: tvm.IRModule, _ctx) -> tvm.IRModule:
        usage = {_name(gv): planned_storage_bytes(f)
                 for gv, f in mod.functions_items() if isinstance(f, relax.Function)}
        payload = json.dumps({**metadata, "memory_usage": usage}, sort_keys=True)
        metadata["kernel_calls"] = {_name(gv): kernel_calls(mod, f) for gv, f in mod.functions_items()
                                    if isinstance(f, relax.Function)}
        func = relax.Function([], tvm.ir.StringImm(payload), relax.ObjectType(), is_pure=True)
        mod = mod.clone()
        mod["_metadata"] = func.with_attr("global_symbol", "_metadata")
        return mod

    return attach


def make_pipeline(target: Target, metadata: dict[str, Any]) -> tvm.transform.Pass:
    on_cpu = target.kind.name == "llvm"
    backend = cpu_generic if on_cpu else gpu_generic
    finalize = backend.finalize_passes(target)
    passes = [
        *backend.library_dispatch_passes(target),
        *(backend.legalize_passes(target) if on_cpu else gpu_legalize_passes(target)),
        *([tvm.tirx.transform.ForceNarrowIndexToInt32()] if target.kind.name == "webgpu" else []),
        *backend.dataflow_lower_passes(target),
        finalize[0],  # StaticPlanBlockMemory
        attach_metadata_pass(metadata),
        *finalize[1:],
    ]

    @tvm.transform.module_pass(opt_level=0, name="WebslmPipeline")
    def pipeline(mod: tvm.IRModule, _ctx) -> tvm.IRModule:
        with target:
            return tvm.transform.Sequential(passes)(mod)

    return pipeline
