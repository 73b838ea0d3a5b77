"""What webslm's tiled WebGPU GEMV schedules share (schedules.py's multi-row and kept-adapter
GEMVs, prologue_gemv.py's): the rules' start (each holds a GemvTiling, None where the
target's limits give none, and schedules only PrimFuncs compiled for WebGPU; anything else
goes on to the next rule in dlight's list), and the partial sums each keeps in registers."""

from __future__ import annotations

import tvm
from tvm.s_tir.dlight.gpu.base import GPUScheduleRule
from tvm.target import Target


class TiledWebGPURule(GPUScheduleRule):
    def __init__(self, tiling):
        self.tiling = tiling

    def schedule_of(self, func, target: Target):
        """A fresh schedule of func, or None where this rule cannot apply to it."""
        if (not isinstance(func, tvm.tirx.PrimFunc) or self.tiling is None
                or target.kind.name != "webgpu" or not self.is_target_available(target)):
            return None
        return tvm.s_tir.Schedule(func)


def partial_sums_in_registers(sch, partial, step, unroll: int) -> None:
    """A GEMV's per-lane partial sums (its rfactor block) kept in registers, over `step`,
    the lane's walk along the inputs: one load per packed uint32 word of a quantized weight,
    its codes then unpacked from the register (dense weights are read as they are), the
    init split off, and the walk unrolled. A table stored in row blocks has a word array per
    block: each is loaded so."""
    sch.set_scope(partial, buffer_index=0, storage_scope="local")
    buffers = [region.source for region in sch.get(partial).reads]
    for words_of in [b for b in buffers if b.dtype == "uint32"]:
        reads = [region.source for region in sch.get(partial).reads]
        words = sch.cache_read(partial, read_buffer_index=reads.index(words_of),
                               storage_scope="local")
        sch.compute_at(words, step, preserve_unit_loops=True)
    sch.decompose_reduction(partial, step)
    sch.annotate(step, "pragma_auto_unroll_max_step", unroll)
    sch.annotate(step, "pragma_unroll_explicit", 1)
