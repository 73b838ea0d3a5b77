"""Kernel schedules: TVM's generic GPU rules, with our own tiling for WebGPU's decode matmuls.

Decode is one token times every weight matrix: GEMVs, scheduled by dlight's GEMV rule. That
rule keeps a tiling per native GPU API it was tuned on (CUDA, Metal, ROCm, Vulkan); WebGPU
has no row and falls to an untuned default of one output row per 64-thread workgroup, so a
SmolLM2 token launches about 205,000 workgroups, each ending in a six-step shared-memory
reduction. Every tuned row puts several output rows in a workgroup instead. For WebGPU we
schedule static-shape GEMVs ourselves as `GemvTiling.rows` rows x `threads` threads: each
thread walks its row a packed 32-bit word at a time (adjacent threads read adjacent words,
so 8 lanes read one 32-byte memory sector), keeps its partial sum in a register, and the
row's threads then reduce together. 8 x 8 divides every supported model's matrices (hidden
sizes are multiples of 64) and cuts SmolLM2's workgroups per token eightfold. A decode GEMV
that carries a kept adapter's branch (compile/lora.py) gets the same tiling, with A x computed
first by each workgroup into shared memory, over the same 8 x 8 threads (`WebGPULoraGEMV`).
A decode GEMV that reads a row chain's output (Gemma 3's norms) computes the chain in its
prologue, same tiling (compile/prologue_gemv.py). Everything else, including GEMVs with a
dynamic row count, stays with dlight.
docs/BENCHMARKS.md ("Decode matmuls on WebGPU") has what this does to speed.
"""

from __future__ import annotations

import dataclasses

import tvm
from tvm.relax.backend import gpu_generic
from tvm.s_tir import dlight as dl
from tvm.s_tir.dlight.analysis import is_gemv, normalize, normalize_prim_func
from tvm.s_tir.dlight.base import try_inline_contiguous_spatial
from tvm.s_tir.dlight.gpu.gemv import get_extent, is_broadcast_epilogue
from tvm.target import Target

from webslm.compile.prologue_gemv import PrologueGEMV
from webslm.compile.spec import ROW_BLOCKS_DEQUANTIZE
from webslm.compile.row_kernels import RowChain
from webslm.compile.tiled_rule import TiledWebGPURule, partial_sums_in_registers



@dataclasses.dataclass(frozen=True)
class GemvTiling:
    rows: int = 8      # output rows per workgroup (threadIdx.y)
    threads: int = 8   # threads sharing one row's reduction (threadIdx.x)
    unroll: int = 64   # auto-unroll limit of each thread's loop over its words


# What WebGPU builds use; None leaves every GEMV to dlight (bench/gemv_experiment.py sets it).
WEBGPU_GEMV: GemvTiling | None = GemvTiling()


class WebGPUGEMV(dl.gpu.GEMV):
    """dlight's GEMV rule; on WebGPU, static inner-reduction GEMVs get `tiling`."""

    def __init__(self, tiling: GemvTiling | None):
        self.tiling = tiling

    def sch_inner_reduction(self, sch, target: Target, block, vector_input_buffers,
                            epilogue_info):
        if (self.tiling and target.kind.name == "webgpu"
                and _fits(sch, block, epilogue_info, self.tiling)):
            return _multi_row_gemv(sch, block, epilogue_info, self.tiling)
        return super().sch_inner_reduction(sch, target, block, vector_input_buffers,
                                           epilogue_info)


class RowBlockGEMV(TiledWebGPURule):
    """A GEMV over a table stored in row blocks (layers.BlockedEmbedding's tied lm_head: block
    `dequantize_rows` picks each row's block), which dlight's GEMV rule does not recognise:
    `tiling`'s multi-row schedule, its inputs split into packed words by hand."""

    def apply(self, func, target: Target, _tunable):
        sch = self.schedule_of(func, target)
        if sch is None:
            return None
        names = {sch.get(b).name_hint for b in sch.get_child_blocks(sch.get_sblock("root"))}
        if names != {ROW_BLOCKS_DEQUANTIZE, "matmul"}:
            return None
        sch.compute_inline(sch.get_sblock(ROW_BLOCKS_DEQUANTIZE))
        gemv = sch.get_sblock("matmul")
        *lead, row, k = sch.get_loops(gemv)
        words = [r.source for r in sch.get(gemv).reads if r.source.dtype == "uint32"]
        codes = get_extent(sch, k) // int(words[0].shape[-1]) if words else 1
        rows = get_extent(sch, row)
        if rows % self.tiling.rows or get_extent(sch, k) % (codes * self.tiling.threads):
            return None
        batch = sch.fuse(*lead)
        word, code = sch.split(k, factors=[None, codes])
        _multi_row_gemv(sch, gemv, None, self.tiling, (batch, row, word, code))
        return sch


class WebGPULoraGEMV(TiledWebGPURule):
    """A decode GEMV with a kept adapter's branch in it: blocks lora_down (t = A x), the GEMV,
    and the epilogue that adds B t. The GEMV gets `tiling` as above; each workgroup computes
    all of t first, into shared memory (TVM's thread sync puts the barrier before the
    epilogue reads it)."""

    def apply(self, func, target: Target, _tunable):
        sch = self.schedule_of(func, target)
        if sch is None:
            return None
        try:
            down = sch.get_sblock("lora_down")
        except Exception:  # noqa: BLE001 - no such block: not ours
            return None
        infos = normalize_prim_func(sch)
        if infos is None:
            return None
        infos = try_inline_contiguous_spatial(
            sch, [i for i in infos if sch.get(i.block_rv).name_hint != "lora_down"])
        if infos is None or len(infos) != 2 or not infos[1].is_injective():
            return None
        main, epilogue = infos
        if is_gemv(sch, main) is None or not normalize(sch, main):
            return None
        slots = get_extent(sch, sch.get_loops(down)[-2])
        if not _fits(sch, main.block_rv, epilogue, self.tiling) or slots % self.tiling.rows:
            return None
        _lora_gemv(sch, main.block_rv, epilogue.block_rv, down, self.tiling)
        return sch


def _lora_gemv(sch, gemv, epilogue, down, tiling: GemvTiling) -> None:
    """The epilogue's rows make the workgroups; the GEMV's rows and all of t = A x are
    computed inside each. Both reductions are split as in _multi_row_gemv (rows or slots over
    threadIdx.y, each one's inputs over threadIdx.x, partial sums in registers, then a
    cross-thread sum); t goes to shared memory. rfactor wants its block alone in its loop
    nest, so both are split at the root before they move into the workgroup."""
    batch, row, word, code = sch.get_loops(gemv)
    codes = get_extent(sch, code)  # 1 for a dense weight: that loop is dropped below
    step, lane = sch.split(word, factors=[None, tiling.threads])
    sch.reorder(batch, row, lane, step, code)
    gemv_partial = sch.rfactor(lane, factor_axis=0)
    *_outer, slot, k = sch.get_loops(down)  # slots: a multiple of the rows (LORA_SLOT_ALIGN)
    step, lane = sch.split(k, factors=[None, tiling.threads])
    sch.reorder(lane, slot, step)
    down_partial = sch.rfactor(lane, factor_axis=0)

    workgroup, row_in_group = sch.split(sch.fuse(*sch.get_loops(epilogue)),
                                        factors=[None, tiling.rows])
    sch.bind(workgroup, "blockIdx.x")
    sch.bind(row_in_group, "threadIdx.y")
    for block in (gemv, gemv_partial, down, down_partial):
        sch.compute_at(block, workgroup, preserve_unit_loops=True)

    lane, row, step, *_code = sch.get_loops(gemv_partial)[-4 if codes > 1 else -3:]
    sch.reorder(row, lane, step)
    sch.bind(row, "threadIdx.y")
    sch.bind(lane, "threadIdx.x")
    partial_sums_in_registers(sch, gemv_partial, step, tiling.unroll)
    *_unit, lane, row = sch.get_loops(gemv)[1:]
    sch.reorder(row, lane)
    sch.bind(row, "threadIdx.y")
    sch.bind(lane, "threadIdx.x")
    sch.set_scope(gemv, buffer_index=0, storage_scope="local")

    *_unit, lane, slot, step = sch.get_loops(down_partial)[1:]
    slot_step, slot_in_group = sch.split(slot, factors=[None, tiling.rows])
    sch.reorder(slot_step, slot_in_group, lane, step)
    sch.bind(slot_in_group, "threadIdx.y")
    sch.bind(lane, "threadIdx.x")
    sch.set_scope(down_partial, buffer_index=0, storage_scope="local")
    sch.decompose_reduction(down_partial, step)
    sch.reverse_compute_at(down, slot_step, preserve_unit_loops=True)
    lane, slot_in_group = sch.get_loops(down)[-2:]  # the reduction comes out outermost
    sch.reorder(slot_in_group, lane)
    sch.bind(slot_in_group, "threadIdx.y")
    sch.bind(lane, "threadIdx.x")
    sch.set_scope(down, buffer_index=0, storage_scope="shared")


def _fits(sch, block, epilogue_info, tiling: GemvTiling) -> bool:
    """Static sizes that the tiling divides exactly (no bounds checks in the loop), and an
    epilogue that is elementwise on the output."""
    batch, s, r, _c = (get_extent(sch, loop) for loop in sch.get_loops(block))
    if not all(isinstance(n, int) for n in (batch, s, r)):
        return False
    if (batch * s) % tiling.rows or r % tiling.threads:
        return False
    return epilogue_info is None or not is_broadcast_epilogue(sch, block, epilogue_info.block_rv)


def _multi_row_gemv(sch, gemv, epilogue_info, tiling: GemvTiling, loops=None):
    """Loops after dlight's normalize (or `loops`): batch, output row, packed word, code
    within the word."""
    batch, row, word, code = loops or sch.get_loops(gemv)
    workgroup, row_in_group = sch.split(sch.fuse(batch, row), factors=[None, tiling.rows])
    step, lane = sch.split(word, factors=[None, tiling.threads])
    sch.reorder(workgroup, row_in_group, lane, step, code)
    partial = sch.rfactor(lane, factor_axis=0)  # each lane's sum over its own words
    workgroup, row_in_group, lane, step, _code = sch.get_loops(partial)
    sch.bind(workgroup, "blockIdx.x")
    sch.bind(row_in_group, "threadIdx.y")
    sch.bind(lane, "threadIdx.x")
    partial_sums_in_registers(sch, partial, step, tiling.unroll)

    # The row's lanes add their partial sums (TVM lowers this to a cross-thread reduction).
    sch.reverse_compute_at(gemv, workgroup, preserve_unit_loops=True)
    lane, *_unit, row_in_group = sch.get_loops(gemv)[1:]  # the reduction comes out outermost
    sch.reorder(row_in_group, lane)
    sch.bind(row_in_group, "threadIdx.y")
    sch.bind(lane, "threadIdx.x")

    if epilogue_info is not None:
        epilogue = epilogue_info.block_rv
        sch.reverse_compute_at(epilogue, workgroup, preserve_unit_loops=True)
        sch.bind(sch.fuse(*sch.get_loops(epilogue)[1:]), "threadIdx.y")
        sch.set_scope(gemv, buffer_index=0, storage_scope="local")
    return sch


def gpu_legalize_passes(target: Target) -> list[tvm.transform.Pass]:
    """TVM's generic GPU legalization, its dlight schedules with our GEMV rule swapped in."""
    *fuse, schedule = gpu_generic.legalize_passes(target)
    assert schedule.info.name == "ApplyDefaultSchedule", "TVM's GPU legalization changed"
    return [*fuse, dl.ApplyDefaultSchedule(
        RowChain(),
        PrologueGEMV(WEBGPU_GEMV),
        RowBlockGEMV(WEBGPU_GEMV),
        WebGPULoraGEMV(WEBGPU_GEMV),
        dl.gpu.Matmul(),
        WebGPUGEMV(WEBGPU_GEMV),
        dl.gpu.Reduction(),
        dl.gpu.GeneralReduction(),
        dl.gpu.Fallback(),
    )]
