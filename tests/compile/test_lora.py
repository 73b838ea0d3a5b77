"""A kept adapter's branch (webslm/compile/lora.py) computed on the CPU against numpy: decode
(the branch inside the base linear's kernel) and prefill (its own kernels) both give
W x + B (A x) on a fused linear of two adapted parts, with A and B^T read from their packed
float16 (normal, subnormal, negative and zero values among them). The WebGPU schedule of the
same expression is checked in test_schedules.py and end to end in Chromium
(tests/serve/test_kept_adapters.py)."""

from __future__ import annotations

import numpy as np
import tvm
from tvm import relax
from tvm.relax.frontend import nn

from webslm.compile.layers import make_linear
from webslm.compile.lora import attach_lora
from webslm.compile.lowering import cpu_target, make_pipeline
from webslm.compile.spec import LoraLinear, LoraPlan
from webslm.convert.kept_adapter import pack_halves, unpack_halves
from webslm.quantize.schemes import get_scheme

ROWS, COLS = 64, 256
PLAN = LoraLinear(rank=4, parts=((16, 0), (40, 4)))  # rows 0-15 unadapted, like q of a qkv


class _Linear(nn.Module):
    def __init__(self):
        self.proj = make_linear(COLS, ROWS, get_scheme("q0f32"))

    def decode(self, x: nn.Tensor) -> nn.Tensor:
        return self.proj(x)

    def prefill(self, x: nn.Tensor) -> nn.Tensor:
        return self.proj(x)


def test_the_branch_adds_b_times_a_x_at_decode_and_prefill():
    rng = np.random.default_rng(0)
    model = _Linear()
    attach_lora(model, LoraPlan({"proj": PLAN}))
    spec = {"decode": {"x": nn.spec.Tensor([1, 1, COLS], "float32")},
            "prefill": {"x": nn.spec.Tensor([1, "n", COLS], "float32")}}
    mod, _params = model.export_tvm(spec={name: {**s, "$": {"param_mode": "plain"}}
                                          for name, s in spec.items()})
    ex = relax.build(mod, cpu_target(), relax_pipeline=make_pipeline(cpu_target(), {}))
    vm = relax.VirtualMachine(ex, tvm.cpu())

    w = rng.standard_normal((ROWS, COLS)).astype(np.float32)
    a = rng.standard_normal((PLAN.slots, COLS)).astype(np.float32)
    a[:, :8] = [0.0, -0.0, 3e-6, -5e-7, 6e-5, -65000.0, 1e-8, 0.5]  # zero, subnormals, extremes
    a /= 64
    b = np.zeros((ROWS, PLAN.rank), np.float32)
    b[16:] = rng.standard_normal((ROWS - 16, PLAN.rank))
    stored_a, stored_b = pack_halves(a, "A"), pack_halves(b.T, "B")
    a16, b16 = unpack_halves(stored_a).astype(np.float64), unpack_halves(stored_b).T.astype(np.float64)

    def reference(x):
        t = x @ a16.T  # [..., slots]
        part = (np.arange(ROWS) >= 40).astype(int)
        up = np.stack([t[..., part[j] * 4:part[j] * 4 + 4] @ b16[j] for j in range(ROWS)], -1)
        return x @ w.T.astype(np.float64) + up

    args = [tvm.runtime.tensor(v) for v in (w, stored_a, stored_b)]
    for name, tokens in (("decode", 1), ("prefill", 5)):
        x = rng.standard_normal((1, tokens, COLS)).astype(np.float32)
        got = vm[name](tvm.runtime.tensor(x), *args).numpy()
        want = reference(x.astype(np.float64))
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
        assert np.abs(want - x @ w.T).max() > 0.1  # the branch is there


def test_every_finite_float16_widens_exactly():
    """half_at, the kernels' float16 -> float32, on every bit pattern but inf and NaN."""
    from tvm import te

    from webslm.compile.lora import half_at

    halves = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    words = te.placeholder((1, 1 << 15), "uint32", name="words")
    out = te.compute((1 << 16,), lambda i: half_at(words, 0, i), name="out")
    func = tvm.tirx.build(te.create_prim_func([words, out]), target=cpu_target())
    got = tvm.runtime.tensor(np.zeros(1 << 16, np.float32))
    func(tvm.runtime.tensor(halves.view(np.uint32).reshape(1, -1)), got)
    finite = np.isfinite(halves)
    np.testing.assert_array_equal(got.numpy()[finite].view(np.uint32),
                                  halves[finite].astype(np.float32).view(np.uint32))


def test_a_kept_adapter_adds_no_dispatch_per_decoded_token(tiny_llama_factory):
    """The tiny Llama lowered for WebGPU with and without a rank-8 adapter on all seven
    linears: dispatches per decoded token counted from the compiled functions' kernel calls,
    within 1.1x of the base's (the branch runs inside each base GEMV)."""
    import sys
    from pathlib import Path

    from webslm.arch import find_architecture
    from webslm.bench.profile import dispatches_per_token
    from webslm.compile.compiler import kernel_calls
    from webslm.compile.lowering import webgpu_target
    from webslm.compile.spec import BuildShape

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    from decode_cost_static import all_linear_plan

    hf = tiny_llama_factory().config.to_dict()
    arch, scheme, shape = find_architecture(hf), get_scheme("q4f32_1"), BuildShape(256, 64)
    base, _ = kernel_calls(arch, hf, scheme, webgpu_target(), shape)
    kept, params = kernel_calls(arch, hf, scheme, webgpu_target(), shape,
                                all_linear_plan(hf, 8))
    assert sum(p.name.endswith(".lora_a") for p in params) == 4 * hf["num_hidden_layers"]
    assert dispatches_per_token(kept) <= 1.1 * dispatches_per_token(base), (kept, base)
