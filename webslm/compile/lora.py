"""A LoRA adapter kept as its own weights: y = W x + B (A x) on the model's fused linears.

A fused linear (qkv_proj, gate_up_proj) carries ONE branch. Each adapted part (q, k, v, ...)
gets `rank` slots of A x: A stacks the parts' A matrices [slots, in]; B is [out, rank], each
output row holding its own part's B (times the part's scale), and reads its part's slots.
So no zeros are stored for the parts' cross terms, and a linear costs two extra small GEMVs:
x -> A x, and B (A x), whose sum with the base GEMV's output is fused into that GEMV's epilogue.
A and B are stored in the build's activation dtype (a float16 buffer needs shader-f16, which
an f32 build must not require); both products accumulate in float32. The base parameters
keep their names, so a base build's shards serve every adapter build of it.
"""

from __future__ import annotations

from tvm import te, tirx
from tvm.relax.frontend import nn

from webslm.compile.spec import LORA_A, LORA_B, LoraPlan

def attach_lora(model: nn.Module, plan: LoraPlan) -> None:
    """Give every planned linear of `model` its A and B parameters (before export)."""
    for base, shape in plan.linears.items():
        linear = _module_at(model, base)
        out_features, in_features = _linear_shape(linear)
        setattr(linear, LORA_A, nn.Parameter((shape.slots, in_features), plan.dtype))
        setattr(linear, LORA_B, nn.Parameter((out_features, shape.rank), plan.dtype))
        linear.lora_parts = shape.parts


def has_lora(linear: nn.Module) -> bool:
    return getattr(linear, LORA_A, None) is not None


def lora_down(x: nn.Tensor, linear: nn.Module) -> nn.Tensor:
    """A x, accumulated and kept in float32 (a few numbers per token)."""

    def te_down(x_, a):
        k = te.reduce_axis((0, x_.shape[-1]), name="k")
        return te.compute((*x_.shape[:-1], a.shape[0]),
                          lambda *i: te.sum(x_[(*i[:-1], k)].astype("float32")
                                            * a[i[-1], k].astype("float32"), axis=k),
                          name="lora_down")

    return nn.tensor_expr_op(te_down, "lora_down", [x, getattr(linear, LORA_A)])


def lora_up(down: nn.Tensor, linear: nn.Module) -> nn.Tensor:
    """B (A x): output row j sums its own part's slots of A x against its row of B. The sum
    runs over every (part, slot) with the other parts' terms selected away, so each read is
    affine in the loop variables (what TVM's GEMV schedule can analyse) and B stays compact."""
    starts = [row for row, _slot in linear.lora_parts]

    def part_of(j):
        index = str(j.ty)  # the row variable's integer type (int32 or int64)
        part = tirx.const(0, index)
        for p, row in enumerate(starts[1:], 1):
            part = tirx.Select(j >= tirx.const(row, index), tirx.const(p, index), part)
        return part

    def te_up(t, b):
        rank = b.shape[1]
        p = te.reduce_axis((0, len(starts)), name="p")
        c = te.reduce_axis((0, rank), name="c")
        return te.compute(
            (*t.shape[:-1], b.shape[0]),
            lambda *i: te.sum(tirx.Select(part_of(i[-1]) == p,
                                          t[(*i[:-1], p * rank + c)] * b[i[-1], c].astype("float32"),
                                          tirx.const(0.0, "float32")), axis=[p, c]),
            name="lora_up")

    return nn.tensor_expr_op(te_up, "lora_up", [down, getattr(linear, LORA_B)])


def apply_lora(linear: nn.Module, x: nn.Tensor, y: nn.Tensor) -> nn.Tensor:
    """The linear's output y with its low-rank branch added, when it has one."""
    if not has_lora(linear):
        return y
    return y + lora_up(lora_down(x, linear), linear).astype(y.dtype)


def _module_at(model: nn.Module, dotted: str) -> nn.Module:
    module = model
    for part in dotted.split("."):
        module = module[int(part)] if part.isdigit() else getattr(module, part)
    return module


def _linear_shape(linear: nn.Module) -> tuple[int, int]:
    """[out, in] of a plain or 4-bit linear (its codes pack several inputs per word)."""
    if getattr(linear, "weight", None) is not None:
        return tuple(int(d) for d in linear.weight.shape)
    return linear.out_features, linear.in_features
