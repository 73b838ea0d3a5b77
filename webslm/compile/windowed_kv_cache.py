"""A KV cache whose sliding-window layers keep only their window (Gemma 3's), for WebGPU builds.

TVM's paged cache keeps one page table for all its layers, so in one cache a sliding layer
stores the whole context like a global one. webslm's web runtime has a KV state over two
caches instead (webruntime/windowed_kv_cache.cc): the global layers' cache, sized for the
context as before, and the sliding layers' cache, sized for `spec.keep_tokens` a sequence and
freeing the pages that fall out of it. WebLLM sees one KV state.

Only webslm's web runtime has it: a CPU library (the verify twin) uses the single cache,
which computes the same attention.
"""

from __future__ import annotations

from typing import Callable

from tvm import relax as rx
from tvm.relax.frontend.nn.llm.kv_cache import PagedKVCache

from webslm.compile.spec import keep_tokens, window_cache_tokens

CREATE = "webslm.windowed_kv_cache_create"  # registered by webruntime/windowed_kv_cache.cc


def windowed_kv_cache(make_cache: Callable[..., PagedKVCache], sliding: list[bool], window: int,
                      max_batch_size, max_total_seq_len, prefill_chunk_size,
                      page_size) -> PagedKVCache:
    """One KV state over the global layers' cache and the sliding layers' cache.
    make_cache(num_layers, max_total_seq_len, **kinds) makes one of TVM's caches; `sliding`
    says which layers slide, `window` how far."""
    # both with the window: the caches share TVM's kernels, the sliding ones built for it
    full = make_cache(sliding.count(False), max_total_seq_len,
                      attn_kind=["mha"] * sliding.count(False), layer_sliding_window_size=window)
    windowed = make_cache(
        sliding.count(True),
        window_cache_tokens(window, max_batch_size, prefill_chunk_size, page_size),
        attn_kind=["mha_sliding"] * sliding.count(True), layer_sliding_window_size=window)
    expr = rx.call_pure_packed(
        CREATE, full._expr, windowed._expr,  # pylint: disable=protected-access
        rx.ShapeExpr([int(s) for s in sliding]),
        rx.ShapeExpr([keep_tokens(window, prefill_chunk_size, max_batch_size)]),
        ty_args=rx.AnyType())
    return PagedKVCache(_expr=expr, _name="windowed_kv_cache")
