"""A LoRA adapter kept as its own weights: y = W x + B (A x) on the model's fused linears.

A fused linear (qkv_proj, gate_up_proj) carries ONE branch. Each adapted part (q, k, v, ...)
gets `rank` slots of A x: A stacks the parts' A matrices [slots, in] (padded with zero rows to
a multiple of 8, the GEMV tiling's rows); B^T is [rank, out], each output row reading its own
part's slots of A x with its own B (times the part's scale), so no zeros are stored for the
parts' cross terms.

Decode (one token) runs the whole branch inside the base linear's kernel: every workgroup
first computes A x into shared memory (a few numbers; the tiny redundant work is cheaper than
a dispatch), then its rows' W x + B (A x) and the linear's epilogue (schedules.py's
WebGPULoraGEMV). So a kept adapter adds no dispatch to a decoded token. Prefill and batches
compute A x and B (A x) as two kernels of their own, added in the base GEMV's epilogue.

A and B are stored as float16 bit patterns, two per uint32 along the row (an f32 build must
not need shader-f16, and float32 would double the download); the kernels widen them to
float32 exactly and accumulate in float32. The base parameters keep their names, so a base
build's shards serve every adapter build of it.
"""

from __future__ import annotations

from typing import Any, Callable

from tvm import te, tirx
from tvm.relax.frontend import nn

from webslm.compile.spec import LORA_A, LORA_B, LoraPlan

# (lead index, reduction index) -> the linear's input element: a plain read or the gated product
InputAt = Callable[[tuple, Any], Any]


def attach_lora(model: nn.Module, plan: LoraPlan) -> None:
    """Give every planned linear of `model` its A and B^T parameters (before export)."""
    for base, shape in plan.linears.items():
        linear = module_at(model, base)
        out_features, in_features = _linear_shape(linear)
        setattr(linear, LORA_A, nn.Parameter((shape.slots, in_features // 2), "uint32"))
        setattr(linear, LORA_B, nn.Parameter((shape.rank, out_features // 2), "uint32"))
        linear.lora_parts = shape.parts


def has_lora(linear: nn.Module) -> bool:
    return getattr(linear, LORA_A, None) is not None


def lora_params(linear: nn.Module) -> list[nn.Parameter]:
    return [getattr(linear, LORA_A), getattr(linear, LORA_B)]


def half_at(words: te.Tensor, row, col) -> Any:
    """The float32 value of element [row, col] of a float16 matrix stored two per uint32
    (the lower half first). Exact: normal numbers by moving their bits, subnormals (and zero)
    as mantissa * 2^-24, a power of two written as its bit pattern."""
    u32 = lambda v: tirx.const(v, "uint32")  # noqa: E731
    word = words[row, col // 2]
    half = tirx.bitwise_and(tirx.shift_right(word, ((col % 2) * 16).astype("uint32")), u32(0xFFFF))
    sign = tirx.bitwise_and(half, u32(0x8000))
    exponent = tirx.bitwise_and(tirx.shift_right(half, u32(10)), u32(0x1F))
    mantissa = tirx.bitwise_and(half, u32(0x3FF))
    normal = tirx.reinterpret("float32", tirx.bitwise_or(
        tirx.shift_left(sign, u32(16)),
        tirx.bitwise_or(tirx.shift_left(exponent + u32(112), u32(23)),
                        tirx.shift_left(mantissa, u32(13)))))
    tiny = mantissa.astype("float32") * tirx.reinterpret("float32", u32(103 << 23))
    tiny = tirx.Select(sign == u32(0), tiny, -tiny)
    return tirx.Select(exponent == u32(0), tiny, normal)


def down_te(lead, in_features: int, x_at: InputAt, a: te.Tensor) -> te.Tensor:
    """t = A x [*lead, slots], accumulated and kept in float32 (a few numbers per token)."""
    k = te.reduce_axis((0, in_features), name="k")
    return te.compute((*lead, a.shape[0]),
                      lambda *i: te.sum(x_at(i[:-1], k).astype("float32") * half_at(a, i[-1], k),
                                        axis=k),
                      name="lora_down")


def up_at(t_at: Callable[[Any], Any], b: te.Tensor, j,
          starts: list[int]) -> Any:
    """(B (A x))[j], written out over the rank: output row j reads its own part's slots of
    t = A x through t_at(slot). A plain sum (no reduction), so it sits in the epilogue of the
    kernel that writes row j."""
    index = str(j.ty)  # the row variable's integer type (int32 or int64)
    part = tirx.const(0, index)
    for p, row in enumerate(starts[1:], 1):
        part = tirx.Select(j >= tirx.const(row, index), tirx.const(p, index), part)
    rank = int(b.shape[0])
    total = tirx.const(0.0, "float32")
    for c in range(rank):
        total = total + t_at(part * rank + c) * half_at(b, c, j)
    return total


def branch_te(linear: nn.Module, lead, in_features: int, x_at: InputAt, a: te.Tensor,
              b: te.Tensor) -> Callable[[tuple], Any]:
    """The whole branch in the caller's kernel (decode): A x as a stage of its own, then
    idx -> (B (A x))[idx] for the epilogue."""
    t = down_te(lead, in_features, x_at, a)
    starts = [row for row, _slot in linear.lora_parts]
    return lambda idx: up_at(lambda slot: t[(*idx[:-1], slot)], b, idx[-1], starts)


def apply_lora(linear: nn.Module, x: nn.Tensor, y: nn.Tensor) -> nn.Tensor:
    """Prefill and batches: y + B (A x), as two kernels of their own (the add joins the base
    GEMV's epilogue). Decode runs the branch inside the base kernel instead (layers.py)."""
    if not has_lora(linear):
        return y
    starts = [row for row, _slot in linear.lora_parts]

    def te_down(x_, a):
        return down_te(x_.shape[:-1], x_.shape[-1], lambda lead, k: x_[(*lead, k)], a)

    def te_up(t, b):
        return te.compute((*t.shape[:-1], b.shape[1] * 2),
                          lambda *i: up_at(lambda slot: t[(*i[:-1], slot)], b, i[-1], starts),
                          name="lora_up")

    down = nn.tensor_expr_op(te_down, "lora_down", [x, getattr(linear, LORA_A)])
    return y + nn.tensor_expr_op(te_up, "lora_up", [down, getattr(linear, LORA_B)]).astype(y.dtype)


def module_at(model: nn.Module, dotted: str) -> nn.Module:
    module = model
    for part in dotted.split("."):
        module = module[int(part)] if part.isdigit() else getattr(module, part)
    return module


def _linear_shape(linear: nn.Module) -> tuple[int, int]:
    """[out, in] of a plain or 4-bit linear (its codes pack several inputs per word)."""
    if getattr(linear, "weight", None) is not None:
        return tuple(int(d) for d in linear.weight.shape)
    return linear.out_features, linear.in_features
