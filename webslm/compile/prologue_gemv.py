"""A decode GEMV whose input is a row chain's output (compile/row_kernels.py), in one kernel.

Gemma 3's "post-norm, residual add, next norm" feeds a GEMV (arch/gemma3/kernels.py,
norm_chain_gemv_te): as two kernels that is a dispatch more per chain, and in decode the
dispatches, not the bytes, are most of a token's time. Here every GEMV workgroup computes the
chain's row reductions itself (blocks row_sumsq_*, into shared memory), reads the normed input
through them, and writes one slice of the chain's second output (block row_residual), so the
new residual stream is written once. The GEMV gets the multi-row tiling of schedules.py.

With the blocks `head_sumsq` and `qk_norm_rope` after the GEMV (Gemma 3's fused qkv with its
q/k norms and RoPE) a workgroup computes one head's rows, in tiles, into shared memory, then
the head's sum of squares and its normed, rotated outputs (RoPE pairs element d with d +/-
head_dim / 2, so a head's outputs need all its rows): a kernel fewer per layer, on as many
workgroups as heads.

TVM 0.27 makes this one kernel only in this order: split and rfactor the GEMV, move its final
sum (and epilogue) into the workgroup loop, split the second output into one slice per
workgroup and `merge` its loop with the GEMV's (merge refuses bound loops), then compute the
reductions at that loop, then bind. The slice is spread over all the workgroup's threads, or
TVM drops the bounds check of its uneven split.
"""

from __future__ import annotations

import tvm
from tvm.s_tir.dlight.analysis import get_root_block
from tvm.target import Target

from webslm.compile.row_kernels import PREFIX
from webslm.compile.tiled_rule import TiledWebGPURule, partial_sums_in_registers

GEMV, OUTPUT, DEQUANTIZE, EPILOGUE = "matmul", PREFIX + "residual", "dequantize", "cast"
HEAD_SUMS, HEAD_OUTPUT = "head_sumsq", "qk_norm_rope"  # the per-head epilogue's blocks


class PrologueGEMV(TiledWebGPURule):
    """Functions of blocks row_* (the chain), `matmul` (a GEMV over [1, 1, in], or [1, 1,
    heads, head_dim] with the per-head epilogue), and optionally `dequantize` (inlined) and
    `cast` (its epilogue) or `head_sumsq` and `qk_norm_rope` (the per-head epilogue);
    `tiling` is schedules.GemvTiling."""

    def apply(self, func, target: Target, _tunable):
        sch = self.schedule_of(func, target)
        if sch is None:
            return None
        names = [sch.get(b).name_hint for b in sch.get_child_blocks(get_root_block(sch))]
        chain = [n for n in names if n.startswith(PREFIX)]
        heads = HEAD_SUMS in names and HEAD_OUTPUT in names
        if GEMV not in names or OUTPUT not in chain or not set(names) <= {
                *chain, GEMV, DEQUANTIZE, EPILOGUE, HEAD_SUMS, HEAD_OUTPUT} or (
                HEAD_SUMS in names) != heads or (heads and EPILOGUE in names):
            return None
        if DEQUANTIZE in names:
            sch.compute_inline(sch.get_sblock(DEQUANTIZE))
        gemv = sch.get_sblock(GEMV)
        *lead, _row, k = sch.get_loops(gemv)
        rows = _extent(sch, _row) * _product(sch, lead)
        inputs = _extent(sch, k)
        codes = _codes_per_word(sch, gemv, inputs)
        if not isinstance(rows, int) or not fits(self.tiling, rows, inputs, codes):
            return None
        if heads:
            head_rows = _extent(sch, sch.get_loops(sch.get_sblock(HEAD_OUTPUT))[-1])
            if not fits_heads(self.tiling, rows, inputs, codes, head_rows):
                return None
            _schedule_heads(sch, gemv, [n for n in chain if n != OUTPUT], codes, head_rows,
                            self.tiling)
            return sch
        _schedule(sch, gemv, [n for n in chain if n != OUTPUT],
                  EPILOGUE in names and sch.get_sblock(EPILOGUE), codes,
                  rows // self.tiling.rows, self.tiling)
        return sch


def fits(tiling, rows: int, inputs: int, codes: int) -> bool:
    """Whether a chain's GEMV of `rows` outputs over `inputs` (`codes` per stored word) gets
    this schedule: the tiling divides it. Nothing else schedules such a function, so a model
    asks first and otherwise keeps the chain's own kernel."""
    return (tiling is not None and rows % tiling.rows == 0
            and inputs % (codes * tiling.threads) == 0)


def fits_heads(tiling, rows: int, inputs: int, codes: int, head_rows: int) -> bool:
    """fits, for the per-head epilogue: whole heads, each a whole number of row tiles."""
    return (fits(tiling, rows, inputs, codes) and rows % head_rows == 0
            and head_rows % tiling.rows == 0)


def _extent(sch, loop):
    extent = sch.get(loop).extent
    return int(extent) if isinstance(extent, tvm.tirx.IntImm) else extent


def _product(sch, loops) -> int:
    out = 1
    for loop in loops:
        out *= _extent(sch, loop)
    return out


def _codes_per_word(sch, block, inputs: int) -> int:
    """Codes per packed uint32 word of the weight (1 for a dense weight)."""
    for region in sch.get(block).reads:
        if region.source.dtype == "uint32":
            return inputs // int(region.source.shape[-1])
    return 1


def _schedule(sch, gemv, reductions: list[str], epilogue, codes: int, groups: int, t) -> None:
    *lead, row, k = sch.get_loops(gemv)
    word, code = sch.split(k, factors=[None, codes])
    workgroup, row_in_group = sch.split(sch.fuse(*lead, row), factors=[None, t.rows])
    step, lane = sch.split(word, factors=[None, t.threads])
    sch.reorder(workgroup, row_in_group, lane, step, code)
    partial = sch.rfactor(lane, factor_axis=0)  # each lane's sum over its own words
    workgroup = sch.get_loops(partial)[0]
    sch.reverse_compute_at(gemv, workgroup, preserve_unit_loops=True)
    if epilogue:
        sch.reverse_compute_at(epilogue, workgroup, preserve_unit_loops=True)

    _chain_at_workgroups(sch, workgroup, groups, reductions, t)

    _wg, row_in_group, lane, step, _code = sch.get_loops(partial)
    sch.bind(row_in_group, "threadIdx.y")
    sch.bind(lane, "threadIdx.x")
    partial_sums_in_registers(sch, partial, step, t.unroll)

    # the reduction comes out outermost, then the output's unit loops, then its row
    _wg, lane, *_unit, row_in_group = sch.get_loops(gemv)
    sch.reorder(row_in_group, lane)
    sch.bind(row_in_group, "threadIdx.y")
    sch.bind(lane, "threadIdx.x")
    if epilogue:
        sch.bind(sch.fuse(*sch.get_loops(epilogue)[1:]), "threadIdx.y")
        sch.set_scope(gemv, buffer_index=0, storage_scope="local")


def _schedule_heads(sch, gemv, reductions: list[str], codes: int, head_rows: int, t) -> None:
    """_schedule with a workgroup per head, placed from the consumer's side (TVM cannot place
    RoPE's reader, which reads rows d and d +/- head_dim / 2, after the GEMV): the head's
    output loop is the workgroup, the GEMV's rows are computed at it in tiles of t.rows
    into shared memory, then the head's sum of squares (a reduction over all threads)."""
    *_lead, _row, k = sch.get_loops(gemv)
    word, code = sch.split(k, factors=[None, codes])
    step, lane = sch.split(word, factors=[None, t.threads])
    sch.reorder(lane, step, code)
    partial = sch.rfactor(lane, factor_axis=0)

    sums, out = sch.get_sblock(HEAD_SUMS), sch.get_sblock(HEAD_OUTPUT)
    *lead, _d = sch.get_loops(out)
    workgroup = sch.fuse(*lead)
    sch.compute_at(sums, workgroup, preserve_unit_loops=True)
    sch.set_scope(sums, buffer_index=0, storage_scope="shared")
    sch.compute_at(gemv, workgroup, preserve_unit_loops=True)
    sch.set_scope(gemv, buffer_index=0, storage_scope="shared")
    lane, *_units, row = sch.get_loops(gemv)[1:]
    tile, row_in_group = sch.split(row, factors=[None, t.rows])
    sch.reorder(tile, row_in_group, lane)
    sch.compute_at(partial, tile, preserve_unit_loops=True)

    _chain_at_workgroups(sch, workgroup, _extent(sch, workgroup), reductions, t)

    sch.bind(row_in_group, "threadIdx.y")
    sch.bind(lane, "threadIdx.x")
    lane, *_units, row, step, _code = sch.get_loops(partial)[2:]
    sch.bind(row, "threadIdx.y")
    sch.bind(lane, "threadIdx.x")
    partial_sums_in_registers(sch, partial, step, t.unroll)
    _over_threads(sch, sch.get_loops(sums)[-1], t)
    _over_threads(sch, sch.get_loops(out)[-1], t)


def _chain_at_workgroups(sch, workgroup, groups: int, reductions: list[str], t) -> None:
    """The chain's part of every workgroup: a slice of its output (merged into the GEMV's
    workgroup loop, then bound), and its row reductions computed at that loop."""
    output = sch.get_sblock(OUTPUT)
    slice_group, in_slice = sch.split(sch.fuse(*sch.get_loops(output)), factors=[groups, None])
    workgroup = sch.merge(workgroup, slice_group)
    for name in reversed(reductions):  # each computed before its first reader
        block = sch.get_sblock(name)
        sch.set_scope(block, buffer_index=0, storage_scope="shared")
        sch.compute_at(block, workgroup, preserve_unit_loops=True)
        _over_threads(sch, sch.get_loops(block)[-1], t)
    sch.bind(workgroup, "blockIdx.x")
    _over_threads(sch, in_slice, t)


def _over_threads(sch, loop, t) -> None:
    """A loop over all rows x threads of the workgroup, each thread a strided serial walk."""
    step, lanes = sch.split(loop, factors=[None, t.rows * t.threads])
    sch.reorder(lanes, step)
    y, x = sch.split(lanes, factors=[t.rows, t.threads])
    sch.bind(y, "threadIdx.y")
    sch.bind(x, "threadIdx.x")
