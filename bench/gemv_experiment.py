"""Experiment, not shipped: build with dlight's WebGPU GEMV schedule at TS output rows x TR
threads per workgroup instead of its 1 x 64, to test why WebLLM decodes slowly on SwiftShader
(docs/BENCHMARKS.md, "Where WebLLM's time goes on SwiftShader").

dlight hard-codes TS, TR = 1, 64 for WebGPU; this rewrites that one line of TVM's gemv.py
in memory (the installed file is untouched) and then runs `webslm` with the given arguments:

    TS=8 TR=8 .venv/bin/python bench/gemv_experiment.py build smollm2-135m \
        --quantization q4f32_asym --backend webgpu --out /tmp/gemv-8x8
    .venv/bin/webslm bench /tmp/gemv-8x8/smollm2-135m-q4f32_asym --engines webllm \
        --contexts 16 --new-tokens 4 --runs 2
"""

import importlib.util
import os
import sys

from tvm.s_tir import dlight


def patched_gemv(rows: int, threads: int):
    path = os.path.join(os.path.dirname(dlight.__file__), "gpu", "gemv.py")
    source = open(path).read()
    line = "UNROLL = 64\n            TS, TR = 1, 64\n\n        while"  # the default branch
    if source.count(line) != 1:
        sys.exit(f"{path} changed: its WebGPU GEMV defaults are not where this experiment expects")
    source = source.replace(line, f"UNROLL = 64\n            TS, TR = {rows}, {threads}\n\n        while")
    module = importlib.util.module_from_spec(
        importlib.util.spec_from_loader("tvm.s_tir.dlight.gpu.gemv_experiment", loader=None))
    module.__package__ = "tvm.s_tir.dlight.gpu"
    exec(compile(source, path, "exec"), module.__dict__)
    return module.GEMV


if __name__ == "__main__":
    dlight.gpu.GEMV = patched_gemv(int(os.environ.get("TS", 8)), int(os.environ.get("TR", 8)))
    from webslm.cli import main

    sys.exit(main(sys.argv[1:]))
