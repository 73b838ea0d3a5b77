"""One workgroup per token row for a chain of row reductions and row-wise outputs.

dlight's GeneralReduction schedules one reduction (or several over the same input) followed
by one elementwise output, as an RMSNorm is. A chain such as Gemma 3's "post-norm, residual
add, next norm" (arch/gemma3/kernels.py) reduces twice and writes two outputs; dlight would
split it into several kernels. Its blocks are named row_*: this rule puts every block of such
a function under one workgroup per row (the leading axes), each reduction a cross-thread sum
into shared memory, each output's last axis spread over the threads.
"""

from __future__ import annotations

import tvm
from tvm.s_tir.dlight.analysis import get_root_block
from tvm.s_tir.dlight.gpu.base import GPUScheduleRule
from tvm.target import Target

PREFIX = "row_"
THREADS = 64   # WebGPU's usual workgroup width, as dlight's GeneralReduction picks there
UNROLL = 64


class RowChain(GPUScheduleRule):
    def apply(self, func, target: Target, _tunable):
        if not isinstance(func, tvm.tirx.PrimFunc) or not self.is_target_available(target):
            return None
        sch = tvm.s_tir.Schedule(func)
        blocks = sch.get_child_blocks(get_root_block(sch))
        names = [sch.get(b).name_hint for b in blocks]
        if len(blocks) < 2 or not all(n.startswith(PREFIX) for n in names):
            return None
        reductions = [b for b in blocks if _is_reduction(sch, b)]
        outputs = [b for b in blocks if not _is_reduction(sch, b)]
        anchor = outputs[-1]
        *rows, last = sch.get_loops(anchor)
        row = sch.fuse(*rows)
        sch.bind(row, "blockIdx.x")
        _spread(sch, last)
        for block in reversed(reductions):
            sch.set_scope(block, buffer_index=0, storage_scope="shared")
            sch.compute_at(block, row, preserve_unit_loops=True)
            _spread(sch, sch.get_loops(block)[-1])
        for block in outputs[:-1]:
            if any(sch.get(loop).same_as(sch.get(row)) for loop in sch.get_loops(block)):
                continue  # one stage's outputs share the anchor's loops
            sch.reverse_compute_at(block, row, preserve_unit_loops=True)
            _spread(sch, sch.get_loops(block)[-1])
        return sch


def _is_reduction(sch, block) -> bool:
    return any(v.iter_type == tvm.tirx.IterVar.CommReduce for v in sch.get(block).iter_vars)


def _spread(sch, loop) -> None:
    """The loop's iterations over THREADS threads, each a strided serial walk."""
    step, lane = sch.split(loop, [None, THREADS])
    sch.reorder(lane, step)
    sch.bind(lane, "threadIdx.x")
    sch.annotate(step, "pragma_auto_unroll_max_step", UNROLL)
    sch.annotate(step, "pragma_unroll_explicit", 1)
