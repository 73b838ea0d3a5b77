"""Gemma 3's norms as tensor expressions, each one kernel with what surrounds it.

Why not nn.op.rms_norm with 1 + w as its weight: the add on the weight is a kernel of its
own, run on every call (six a layer). Here (1 + w) is read inside the norm. And the q/k norms
share one kernel with the model's RoPE (the split, both norms, the concat and the rotation
were four). Every norm reads and sums in float32 (Gemma 3's residual stream outgrows
float16), as transformers' Gemma3RMSNorm: x * rsqrt(mean(x^2) + eps) * (1 + w), cast last.
"""

from __future__ import annotations

from tvm import te, tirx

from webslm.compile.prologue_gemv import HEAD_OUTPUT, HEAD_SUMS

F32 = "float32"


def _f32(v):
    return v.astype(F32)  # no cast when it is float32 already


def sum_squares(x: te.Tensor, name: str) -> te.Tensor:
    """sum(x^2) over the last axis, in float32; shape x.shape[:-1]."""
    return te.compute(x.shape[:-1], lambda *i: _sum_sq(lambda k: _f32(x[(*i, k)]),
                                                       int(x.shape[-1])), name=name)


def normed(value, ss, weight_at, n: int, eps: float):
    """value x (float32) normed by its row's sum of squares ss, times 1 + w."""
    inv = tirx.rsqrt(ss / tirx.const(float(n), F32) + tirx.const(eps, F32))
    return value * inv * (_f32(weight_at) + tirx.const(1.0, F32))


def gemma_norm_te(x: te.Tensor, w: te.Tensor, eps: float, dtype: str) -> te.Tensor:
    """(1 + w) RMSNorm over the last axis, returned as `dtype`."""
    ss = sum_squares(x, "sumsq")
    n = int(x.shape[-1])
    return te.compute(x.shape, lambda *i: normed(_f32(x[i]), ss[i[:-1]], w[i[-1]], n, eps)
                      .astype(dtype), name="gemma_norm")


def qk_norm_rope_te(qkv: te.Tensor, pos: te.Tensor, qk_w: te.Tensor, *, q_heads: int,
                    k_heads: int, eps: float, rope) -> te.Tensor:
    """qkv [b, s, heads, head_dim]: the q heads normed with qk_w's first head_dim weights,
    the k heads with its second (each rounded to qkv's dtype, as separate norms returned it),
    both rotated by `rope` (PlainRope), v as it is."""
    ss = sum_squares(qkv, "head_sumsq")
    value = _qk_normed(lambda i, t, h, d: qkv[i, t, h, d], ss, qk_w, q_heads, k_heads,
                       int(qkv.shape[-1]), eps, qkv.dtype)
    return te.compute(qkv.shape, rope.value_te(value, qkv.shape, qkv.dtype, pos),
                      name="qk_norm_rope")


def _qk_normed(stored, ss: te.Tensor, qk_w: te.Tensor, q_heads: int, k_heads: int, n: int,
               eps: float, dtype: str):
    """(i, t, h, d) -> head h's value normed (q or k heads) or as stored (v heads), in the
    stored dtype: what RoPE rotates."""
    def value(i, t, h, d):
        x = stored(i, t, h, d)
        w = qk_w[tirx.if_then_else(h < q_heads, d, n + d)]
        out = normed(_f32(x), ss[i, t, h], w, n, eps).astype(dtype)
        return tirx.if_then_else(h < q_heads + k_heads, out, x)
    return value


def _residual_and_sums(x: te.Tensor, h: te.Tensor | None, w_post: te.Tensor | None,
                       eps: float):
    """(residual(i, d), its per-token sum of squares): r = x + norm_post(h) in float32, as
    an expression recomputed where read, and the reduction the next norm divides by. With h
    None (the first layer) r is x in float32."""
    n = int(x.shape[-1])
    if h is None:
        def residual(i, d):
            return _f32(x[(*i, d)])
    else:
        ss_h = te.compute(x.shape[:-1], lambda *i: _sum_sq(lambda k: _f32(h[(*i, k)]), n),
                          name="row_sumsq_h")

        def residual(i, d):
            return _f32(x[(*i, d)]) + normed(_f32(h[(*i, d)]), ss_h[i], w_post[d], n, eps)

    ss_out = te.compute(x.shape[:-1], lambda *i: _sum_sq(lambda k: residual(i, k), n),
                        name="row_sumsq_residual")
    return residual, ss_out


def post_norm_add_norm_te(x: te.Tensor, h: te.Tensor, w_post: te.Tensor, w_next: te.Tensor,
                          eps: float, dtype: str) -> list[te.Tensor]:
    """A sublayer's output h joins the residual stream x (float32) through its post-norm, and
    the next norm reads the sum: [x + norm_post(h) (float32), norm_next(that) as `dtype`].
    One kernel, a workgroup per token (compile/row_kernels.py); the sum is recomputed where
    it is read rather than read back from memory that other threads write, and both outputs
    come from one stage (a loop nest the reductions can be computed inside)."""
    n = int(x.shape[-1])
    residual, ss_out = _residual_and_sums(x, h, w_post, eps)

    def both(*i):
        r = residual(i[:-1], i[-1])
        return [r, normed(r, ss_out[i[:-1]], w_next[i[-1]], n, eps).astype(dtype)]

    return list(te.compute(x.shape, both, name="row_residual_norm"))


def norm_chain_gemv_te(x: te.Tensor, h: te.Tensor, w_post: te.Tensor, w_next: te.Tensor,
                       eps: float, dtype: str, gemv) -> list[te.Tensor]:
    """post_norm_add_norm_te with the next norm's consumer, a linear, in the same kernel (one
    token: decode): [linear(norm_next(r)), r] for r = x + norm_post(h). gemv(x_at) is the
    linear's tensor expression reading its input through x_at(lead, k) (compile/layers.py);
    here that input is the norm, rounded to `dtype` as the separate kernel stored it. Every
    workgroup of the GEMV recomputes both row reductions (two 640-float sums, cheaper than a
    dispatch) and writes its slice of r (compile/prologue_gemv.py schedules it)."""
    n = int(x.shape[-1])
    residual, ss_out = _residual_and_sums(x, h, w_post, eps)
    y = gemv(lambda lead, k: normed(residual(tuple(lead), k), ss_out[tuple(lead)], w_next[k],
                                    n, eps).astype(dtype))
    r = te.compute(x.shape, lambda *i: residual(i[:-1], i[-1]), name="row_residual")
    return [y, r]


def _sum_sq(value_at, n: int):
    k = te.reduce_axis((0, n), name="k")
    return te.sum(value_at(k) * value_at(k), axis=k)


def norm_chain_qkv_te(x: te.Tensor, h: te.Tensor | None, w_post: te.Tensor | None,
                      w_next: te.Tensor, eps: float, dtype: str, gemv, pos: te.Tensor,
                      qk_w: te.Tensor, *, q_heads: int, k_heads: int, head_dim: int,
                      rope) -> list[te.Tensor]:
    """norm_chain_gemv_te whose linear is the fused qkv, with the q/k norms and RoPE in the
    same kernel (one token): [qkv [1, 1, heads, head_dim] as qk_norm_rope_te returns it,
    r]. gemv(x_at) accumulates in float32; its outputs are rounded to `dtype` as the
    separate kernels stored them. A workgroup computes one head's rows, so the head's sum of
    squares and RoPE's partner elements are in its shared memory (prologue_gemv.py). With h
    None (the first layer) r is x in float32 and only the input norm comes before. It binds
    up to 10 storage buffers (x, h, w_post, w_next, pos, qk_w, a symmetric grid's two
    arrays, two outputs): WebGPU's limit as WebLLM asks for it, so the q and k norms are one
    parameter and RoPE's frequencies are computed, not read."""
    n = int(x.shape[-1])
    residual, ss_out = _residual_and_sums(x, h, w_post, eps)
    acc = gemv(lambda lead, k: normed(residual(tuple(lead), k), ss_out[tuple(lead)], w_next[k],
                                      n, eps).astype(dtype))
    shape = tuple(int(d) for d in acc.shape)

    def stored(i, t, hd, d):
        return acc[i, t, hd, d].astype(dtype)

    ss = te.compute(shape[:-1], lambda i, t, hd: _sum_sq(lambda d: _f32(stored(i, t, hd, d)),
                                                         head_dim), name=HEAD_SUMS)
    value = _qk_normed(stored, ss, qk_w, q_heads, k_heads, head_dim, eps, dtype)
    out = te.compute(shape, rope.value_te(value, shape, dtype, pos), name=HEAD_OUTPUT)
    r = te.compute(x.shape, lambda *i: residual(i[:-1], i[-1]), name="row_residual")
    return [out, r]
