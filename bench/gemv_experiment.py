"""Build with another WebGPU GEMV tiling, to compare schedules on one machine
(docs/BENCHMARKS.md, "Decode matmuls on WebGPU"). Runs `webslm` with the given arguments
after setting webslm.compile.schedules.WEBGPU_GEMV; the shipped tiling is 8 rows x 8 threads.

    ROWS=4 THREADS=16 .venv/bin/python bench/gemv_experiment.py build smollm2-135m \\
        --quantization q4f32_asym --backend webgpu --out /tmp/gemv-4x16
    DLIGHT=1 .venv/bin/python bench/gemv_experiment.py build ...   # dlight's 1 row x 64
    .venv/bin/webslm bench /tmp/gemv-4x16/smollm2-135m-q4f32_asym --engines webllm \\
        --contexts 16 --new-tokens 4 --runs 2

GEMVs whose sizes a tiling does not divide keep dlight's schedule either way.
"""

import os
import sys

from webslm.compile import schedules

if __name__ == "__main__":
    if os.environ.get("DLIGHT"):
        schedules.WEBGPU_GEMV = None
    else:
        schedules.WEBGPU_GEMV = schedules.GemvTiling(rows=int(os.environ.get("ROWS", 8)),
                                                     threads=int(os.environ.get("THREADS", 8)))
    from webslm.cli import main

    sys.exit(main(sys.argv[1:]))
