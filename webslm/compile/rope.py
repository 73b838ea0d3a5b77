"""RoPE applied by the model itself, before q/k reach TVM's paged KV cache: LongRoPE (Phi-3),
and plain RoPE with a base per layer (Gemma 3: the cache takes one base).

Why not the cache's own "longrope" kernel: TVM picks the long factors when a forward call
holds more tokens than the original context, so a decode step (one token) never uses them.
transformers (and Microsoft's reference code) pick them when the sequence reaches past the
original context: max(position) + 1 > original_max_position_embeddings. We apply that rule
per sequence row; the row's last token carries its largest position.

Inherent difference, documented in docs/ARCHITECTURE.md: keys already in the KV cache keep the
rotation they were written with. transformers' Phi-3 `generate` drops its cache and recomputes
everything with the long factors once the sequence crosses the original context; a cache
cannot, so logits after the crossing match transformers stepped with a cache, not a recompute.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
from tvm import te, tirx
from tvm.relax.frontend import nn


@dataclasses.dataclass(frozen=True)
class LongRope:
    theta: float
    rotary_dim: int
    num_rotated_heads: int                 # q heads + k heads at the front of fused qkv
    short_factor: tuple[float, ...]
    long_factor: tuple[float, ...]
    original_max_position_embeddings: int
    attention_factor: float                # multiplies cos and sin, as transformers does

    @classmethod
    def from_rope_scaling(cls, rope: dict[str, Any], *, theta: float, rotary_dim: int,
                          num_rotated_heads: int, max_position_embeddings: int,
                          original_max_position_embeddings: int) -> "LongRope":
        """transformers' _compute_longrope_parameters, including its attention factor default."""
        original = original_max_position_embeddings
        factor = rope.get("factor") or max_position_embeddings / original
        attention_factor = rope.get("attention_factor")
        if attention_factor is None:
            attention_factor = 1.0 if factor <= 1.0 else math.sqrt(
                1 + math.log(factor) / math.log(original))
        short, long = tuple(rope["short_factor"]), tuple(rope["long_factor"])
        if len(short) != rotary_dim // 2 or len(long) != rotary_dim // 2:
            raise ValueError(f"longrope factors need {rotary_dim // 2} entries each, got "
                             f"{len(short)} short and {len(long)} long")
        return cls(theta, rotary_dim, num_rotated_heads, short, long, original,
                   float(attention_factor))

    def inv_freq_table(self) -> np.ndarray:
        """[2, rotary_dim / 2] float32: row 0 short, row 1 long (transformers' inv_freq)."""
        exponent = np.arange(0, self.rotary_dim, 2).astype(np.float32) / np.float32(self.rotary_dim)
        base = np.float32(self.theta) ** exponent
        factors = np.asarray([self.short_factor, self.long_factor], dtype=np.float32)
        return (np.float32(1.0) / (factors * base)).astype(np.float32)

    def __call__(self, qkv: nn.Tensor, positions: nn.Tensor) -> nn.Tensor:
        """qkv [b, s, heads, head_dim] with q/k heads rotated; positions [b * s] int32."""
        table = nn.Tensor.from_const(self.inv_freq_table())
        return nn.tensor_expr_op(self._te, "longrope", [qkv, positions, table])

    def _te(self, qkv: te.Tensor, pos: te.Tensor, table: te.Tensor) -> te.Tensor:
        return te.compute(qkv.shape, self.value_te(lambda *i: qkv[i], qkv.shape, qkv.dtype,
                                                   pos, table), name="longrope")

    def value_te(self, x_at, shape, dtype: str, pos: te.Tensor, table: te.Tensor):
        """(i, t, h, d) -> the rotated qkv value, reading the unrotated one through x_at (in
        `dtype`): a model that computes q and k in the same kernel (Gemma 3's q/k norms)
        rotates them there."""
        s, half = shape[1], self.rotary_dim // 2
        original = self.original_max_position_embeddings

        def inv_freq(i, d):
            row_is_long = pos[i * s + s - 1] >= original  # last position + 1 > original
            return tirx.if_then_else(row_is_long, table[1, d % half], table[0, d % half])

        return _rotation(x_at, s, dtype, pos, inv_freq, self.attention_factor,
                         self.num_rotated_heads, self.rotary_dim)


@dataclasses.dataclass(frozen=True)
class PlainRope:
    """RoPE with one base and a linear scaling factor (transformers' "default" and "linear"),
    its frequencies computed in the kernel as TVM's KV cache computes its own: a kernel that
    rotates q and k after computing them has no storage binding to spare for a table
    (WebLLM's device gives 10; arch/gemma3/kernels.py norm_chain_qkv_te)."""
    theta: float
    factor: float
    rotary_dim: int
    num_rotated_heads: int                 # q heads + k heads at the front of fused qkv

    def value_te(self, x_at, shape, dtype: str, pos: te.Tensor):
        """LongRope.value_te, for this RoPE."""
        half = self.rotary_dim // 2

        def inv_freq(_i, d):
            exponent = ((d % half) * 2).astype("float32") / tirx.const(self.rotary_dim, "float32")
            base = tirx.pow(tirx.const(self.theta, "float32"), exponent)
            return tirx.const(1.0, "float32") / (base * tirx.const(self.factor, "float32"))

        return _rotation(x_at, shape[1], dtype, pos, inv_freq, 1.0, self.num_rotated_heads,
                         self.rotary_dim)


def _rotation(x_at, s: int, dtype: str, pos: te.Tensor, inv_freq, attention_factor: float,
              rotated_heads: int, rotary_dim: int):
    """(i, t, h, d) -> x rotated by angle pos * inv_freq(i, d) (times the attention factor),
    pairing d with d +/- rotary_dim / 2, for the first rotated_heads heads."""
    half, scale = rotary_dim // 2, tirx.const(attention_factor, "float32")

    def value(i, t, h, d):
        angle = pos[i * s + t].astype("float32") * inv_freq(i, d)
        x = x_at(i, t, h, d)
        partner = tirx.if_then_else(d < half, -x_at(i, t, h, d + half), x_at(i, t, h, d - half))
        rotated = (x.astype("float32") * tirx.cos(angle) * scale
                   + partner.astype("float32") * tirx.sin(angle) * scale).astype(dtype)
        return tirx.if_then_else(tirx.all(h < rotated_heads, d < rotary_dim), rotated, x)

    return value
