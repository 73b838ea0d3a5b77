"""The GPU kernel that merges two partial attentions, without TVM 0.27's race.

A prefill step over a cache that already holds tokens computes attention twice, over the
step's own tokens and over the cached ones, and merges the two (output, log-sum-exp) pairs
in place. TVM's GPU kernel for that (`_merge_state_inplace`) gives each (token, head)
head_dim / 4 threads; every one of them reads the head's log-sum-exp and then overwrites it,
with nothing ordering one thread's write after another's read. Where those threads do not
run in lockstep (lavapipe runs 8 at a time; so may a GPU's smaller subgroups) a later thread
reads the merged value and weights its part of the output wrongly: at head_dim 64 (a tiny
Gemma 3 on lavapipe) every prefill chunk after a prompt's first was off by about 1 in the
logits. SmolLM2 (head_dim 64) and Gemma 3 270M (256) give a head 16 and 64 such threads.

Here one thread owns a (token, head): it reads both log-sum-exps, rewrites the head's
outputs, then writes the merged log-sum-exp. The merge is a small part of a prefill step.
`race_free_merge()` has TVM's KV cache take this kernel (the CPU's is another, and right).
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import tvm.relax.frontend.nn.llm.kv_cache as tvm_kv_cache
from tvm.script import tirx as T

THREADS = 64


def merge_state_kernel(num_heads: int, head_dim: int, dtype: str, _target=None,
                       global_symbol: str | None = None):
    """merge(v, s, v_other, s_other): v, s <- the attention over both parts; v [n, heads,
    head_dim] in `dtype`, s [n, heads] float32 log2-sum-exp. The signature of TVM's."""

    @T.prim_func(private=True, s_tir=True)
    def merge(var_v: T.handle, var_s: T.handle, var_v_other: T.handle, var_s_other: T.handle):
        T.func_attr({"tirx.is_scheduled": True, "tirx.noalias": True})
        n = T.int32()
        v = T.match_buffer(var_v, (n, num_heads, head_dim), dtype)
        s = T.match_buffer(var_s, (n, num_heads), "float32")
        v_other = T.match_buffer(var_v_other, (n, num_heads, head_dim), dtype)
        s_other = T.match_buffer(var_s_other, (n, num_heads), "float32")
        for bx in T.thread_binding((n * num_heads + THREADS - 1) // THREADS, thread="blockIdx.x"):
            for tx in T.thread_binding(THREADS, thread="threadIdx.x"):
                with T.sblock("merge"):
                    row: T.let[T.int32] = bx * THREADS + tx
                    if row < n * num_heads:
                        i: T.let[T.int32] = row // num_heads
                        h: T.let[T.int32] = row % num_heads
                        top: T.let[T.float32] = T.max(s[i, h], s_other[i, h])
                        w: T.let[T.float32] = T.exp2(s[i, h] - top)
                        w_other: T.let[T.float32] = T.exp2(s_other[i, h] - top)
                        for d in range(head_dim):
                            v[i, h, d] = T.Cast(dtype, (T.Cast("float32", v[i, h, d]) * w
                                                        + T.Cast("float32", v_other[i, h, d])
                                                        * w_other) / (w + w_other))
                        s[i, h] = T.log2(w + w_other) + top

    return merge if global_symbol is None else merge.with_attr("global_symbol", global_symbol)


@contextlib.contextmanager
def race_free_merge() -> Iterator[None]:
    """A TIRPagedKVCache made inside this merges with merge_state_kernel on the GPU."""
    upstream = tvm_kv_cache._merge_state_inplace  # pylint: disable=protected-access
    tvm_kv_cache._merge_state_inplace = merge_state_kernel
    try:
        yield
    finally:
        tvm_kv_cache._merge_state_inplace = upstream
