"""The common start of webslm's tiled WebGPU schedule rules (schedules.WebGPULoraGEMV,
prologue_gemv.PrologueGEMV): each holds a GemvTiling (None where the target's limits give
none) and schedules only PrimFuncs compiled for WebGPU; anything else goes on to the next
rule in dlight's list."""

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
