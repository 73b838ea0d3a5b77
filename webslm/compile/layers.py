"""Linear and embedding layers whose weights may be 4-bit group-quantized.

The quantized layers never materialize a full-precision weight at run time: the
dequantization is written into the same tensor expression as the matmul (or the
gather), so TVM emits one kernel that reads packed codes and scales directly.
Layout (shared with webslm.quantize): ``q_weight`` uint32 [out, in/8] holding eight
4-bit codes with the first element in the lowest bits, ``q_scale`` [out, in/32] in
the activation dtype, value = (code - 7) * scale.
"""

from __future__ import annotations

from tvm import te, tirx
from tvm.relax.frontend import nn

from webslm.quantize.schemes import QuantScheme

CODES_PER_WORD = 8


def _dequant(q_weight: te.Tensor, q_scale: te.Tensor, row, col, group_size: int):
    """The float32 value of weight[row, col], read from packed codes and scales."""
    word = q_weight[row, col // CODES_PER_WORD]
    shift = ((col % CODES_PER_WORD) * 4).astype("uint32")
    code = tirx.bitwise_and(tirx.shift_right(word, shift), tirx.const(0xF, "uint32"))
    return (code.astype("float32") - tirx.const(7.0, "float32")) * q_scale[
        row, col // group_size
    ].astype("float32")


def q4_matmul_te(x: te.Tensor, q_weight: te.Tensor, q_scale: te.Tensor, out_dtype: str,
                 group_size: int) -> te.Tensor:
    """y[..., j] = sum_k x[..., k] * W[j, k], accumulated in float32."""
    *lead, in_features = x.shape
    out_features = q_weight.shape[0]
    weight = te.compute(
        (out_features, in_features),
        lambda j, k: _dequant(q_weight, q_scale, j, k, group_size),
        name="dequantize",
    )
    k = te.reduce_axis((0, in_features), name="k")
    acc = te.compute(
        (*lead, out_features),
        lambda *idx: te.sum(x[(*idx[:-1], k)].astype("float32") * weight[idx[-1], k], axis=k),
        name="matmul",
    )
    if out_dtype == "float32":
        return acc
    return te.compute(acc.shape, lambda *idx: acc[idx].astype(out_dtype), name="cast")


class QuantizedLinear(nn.Module):
    """y = x W^T (+ b) with W stored as 4-bit codes and per-group scales."""

    def __init__(self, in_features: int, out_features: int, scheme: QuantScheme,
                 bias: bool = False, out_dtype: str | None = None):
        self.in_features, self.out_features = in_features, out_features
        self.group_size = scheme.group_size
        self.out_dtype = out_dtype or scheme.act_dtype
        self.q_weight = nn.Parameter((out_features, in_features // CODES_PER_WORD), "uint32")
        self.q_scale = nn.Parameter((out_features, in_features // self.group_size),
                                    scheme.act_dtype)
        self.bias = nn.Parameter((out_features,), scheme.act_dtype) if bias else None

    def forward(self, x: nn.Tensor) -> nn.Tensor:
        y = nn.tensor_expr_op(
            lambda x_, w_, s_: q4_matmul_te(x_, w_, s_, self.out_dtype, self.group_size),
            "fused_dequantize_matmul",
            [x, self.q_weight, self.q_scale],
        )
        if self.bias is not None:
            y = y + self.bias.astype(self.out_dtype)
        return y


class PlainLinear(nn.Module):
    """Unquantized linear layer (q0 builds); the output may be cast (logits are float32)."""

    def __init__(self, in_features: int, out_features: int, dtype: str, bias: bool = False,
                 out_dtype: str | None = None):
        self.out_dtype = out_dtype or dtype
        self.weight = nn.Parameter((out_features, in_features), dtype)
        self.bias = nn.Parameter((out_features,), dtype) if bias else None

    def forward(self, x: nn.Tensor) -> nn.Tensor:
        y = nn.op.matmul(x, nn.op.permute_dims(self.weight), out_dtype=self.out_dtype)
        if self.bias is not None:
            y = y + self.bias.astype(self.out_dtype)
        return y


class QuantizedEmbedding(nn.Module):
    """Row gather with the dequantization fused in; rows are the vocabulary."""

    def __init__(self, vocab_size: int, dim: int, scheme: QuantScheme):
        self.dim, self.group_size, self.dtype = dim, scheme.group_size, scheme.act_dtype
        self.q_weight = nn.Parameter((vocab_size, dim // CODES_PER_WORD), "uint32")
        self.q_scale = nn.Parameter((vocab_size, dim // self.group_size), scheme.act_dtype)

    def forward(self, ids: nn.Tensor) -> nn.Tensor:
        def gather(ids_, w_, s_):
            return te.compute(
                (*ids_.shape, self.dim),
                lambda *idx: _dequant(w_, s_, ids_[idx[:-1]], idx[-1], self.group_size)
                .astype(self.dtype),
                name="dequantize_take",
            )

        return nn.tensor_expr_op(gather, "fused_dequantize_take", [ids, self.q_weight, self.q_scale])

    def lm_head(self, x: nn.Tensor) -> nn.Tensor:
        """Tied output projection: logits = x E^T, float32, reusing the packed table."""
        return nn.tensor_expr_op(
            lambda x_, w_, s_: q4_matmul_te(x_, w_, s_, "float32", self.group_size),
            "fused_dequantize_lm_head",
            [x, self.q_weight, self.q_scale],
        )


class PlainEmbedding(nn.Module):
    """Unquantized embedding table (q0 builds)."""

    def __init__(self, vocab_size: int, dim: int, dtype: str):
        self.weight = nn.Parameter((vocab_size, dim), dtype)

    def forward(self, ids: nn.Tensor) -> nn.Tensor:
        return nn.op.take(self.weight, ids, axis=0)

    def lm_head(self, x: nn.Tensor) -> nn.Tensor:
        return nn.op.matmul(x, nn.op.permute_dims(self.weight), out_dtype="float32")


def make_linear(in_features: int, out_features: int, scheme: QuantScheme, bias: bool = False,
                out_dtype: str | None = None) -> nn.Module:
    if scheme.weight_bits == 4:
        return QuantizedLinear(in_features, out_features, scheme, bias, out_dtype)
    return PlainLinear(in_features, out_features, scheme.act_dtype, bias, out_dtype)


def make_embedding(vocab_size: int, dim: int, scheme: QuantScheme) -> nn.Module:
    if scheme.weight_bits == 4:
        return QuantizedEmbedding(vocab_size, dim, scheme)
    return PlainEmbedding(vocab_size, dim, scheme.act_dtype)
