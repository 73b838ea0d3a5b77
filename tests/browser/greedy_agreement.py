"""Judge a WebGPU run's greedy ids against the CPU twin (f32 arithmetic, the same stored weights).

f16 arithmetic rounds every activation to 11 significant bits, so where the twin's two best
logits nearly tie, the f16 run may take the other one and its path leaves the twin's. That is
allowed only at a near-tie: at the first step where the ids differ, the token the run chose
must be within `F16_TIE` of the twin's best logit. The report says where and by how much.
"""

from __future__ import annotations

import dataclasses

import numpy as np

# The largest logit gap an f16 run may cross. An f16 matmul rounds its inputs to a relative
# 2**-11 (4.9e-4); over a model's layers that is a few parts in 10**3 of the logits, whose
# scale here is 10-40: a gap of a few hundredths. 0.1 leaves room for the reduction order
# WGSL and LLVM choose, and is still far below what a broken kernel gives (whole units).
F16_TIE = 0.1


@dataclasses.dataclass
class Agreement:
    steps: int               # ids compared
    same: int                # leading ids equal to the twin's greedy ids
    gap: float | None        # at the first difference: twin's best logit - the chosen one's

    def __str__(self) -> str:
        if self.gap is None:
            return f"all {self.steps} greedy ids equal the CPU twin's"
        return (f"equal for {self.same} of {self.steps} ids, then a tie within {self.gap:.4f} "
                f"(the twin's best logit over the one the run chose)")


def agreement(twin, prompt_ids: list[int], ids: list[int]) -> Agreement:
    """Compare `ids` (greedy, after `prompt_ids`) with `twin` (a CpuModel) step by step."""
    twin.reset()
    for step, logits in enumerate(twin.forced(prompt_ids, ids)):
        best = int(np.argmax(logits))
        if best != ids[step]:
            return Agreement(len(ids), step, float(logits[best] - logits[ids[step]]))
    return Agreement(len(ids), len(ids), None)
