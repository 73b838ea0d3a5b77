"""The on-GPU sampler WebLLM drives: softmax_with_temperature, argsort_probs and
sample_with_top_p.

TVM's generic GPU argsort launches on blockIdx.z, which the WebGPU code generator
rejects, so argsort_probs is our own bitonic sort over the probabilities padded to a power
of two. WebLLM runs it for every sampled token at any temperature, so its dispatches count:
stages whose compare-exchange pairs lie within a tile of TILE items run together in one
kernel, in workgroup memory (the first TILE-sized sort, and the tail of every later merge),
and the wider stages run two per dispatch (each thread owns the four items two consecutive
stages exchange among themselves). The first tile kernel also pads and the last one
unpads. For SmolLM2's 49152 tokens that is 11 dispatches instead of 138 (one per stage plus
pad and unpad). The vocabulary size is fixed at compile time, so the plan is unrolled
into the Relax function. Order: probability descending, ties by token id ascending.
"""

from __future__ import annotations

from tvm import relax as rx
from tvm import tirx
from tvm.script import tirx as T

THREADS = 256
# Items a workgroup sorts in its own memory: 4096 x (f32 + i32) = 32 KB, the workgroup
# storage WebLLM already requires of every adapter (shared/TOOLCHAIN.md).
TILE = 4096


def _stage_kernel(padded: int):
    """One bitonic stage: compare-exchange element pairs (i, i + j) inside blocks of size k."""
    pairs = padded // 2

    @T.prim_func(private=True, s_tir=True)
    def stage(var_keys: T.handle, var_idx: T.handle, k: T.int32, j: T.int32,
              var_keys_out: T.handle, var_idx_out: T.handle):
        T.func_attr({"tirx.is_scheduled": True, "tirx.noalias": True})
        batch = T.int32()
        keys = T.match_buffer(var_keys, (batch, padded), "float32")
        idx = T.match_buffer(var_idx, (batch, padded), "int32")
        keys_out = T.match_buffer(var_keys_out, (batch, padded), "float32")
        idx_out = T.match_buffer(var_idx_out, (batch, padded), "int32")
        for bx in T.thread_binding(batch * (pairs // THREADS), thread="blockIdx.x"):
            for tx in T.thread_binding(THREADS, thread="threadIdx.x"):
                with T.sblock("stage"):
                    flat: T.let[T.int32] = bx * THREADS + tx
                    if flat < batch * pairs:
                        row: T.let[T.int32] = flat // pairs
                        t: T.let[T.int32] = flat % pairs
                        lo: T.let[T.int32] = (t // j) * (2 * j) + t % j
                        hi: T.let[T.int32] = lo + j
                        # lo's element belongs first when it is "greater": larger prob, or equal
                        # prob and smaller id. Blocks with (lo & k) != 0 sort the other way.
                        lo_first: T.let[T.bool] = T.Or(keys[row, lo] > keys[row, hi],
                                        T.And(keys[row, lo] == keys[row, hi],
                                              idx[row, lo] < idx[row, hi]))
                        # Compared as int32, not bool == bool: TVM's LLVM codegen emits an fcmp
                        # for a bool equality and fails to verify, so the CPU build used by
                        # tests/compile/test_sampler_kernels.py could not compile this stage.
                        keep: T.let[T.bool] = (T.Cast("int32", lo_first)
                                               == T.Cast("int32", T.bitwise_and(lo, k) == 0))
                        keys_out[row, lo] = T.if_then_else(keep, keys[row, lo], keys[row, hi])
                        keys_out[row, hi] = T.if_then_else(keep, keys[row, hi], keys[row, lo])
                        idx_out[row, lo] = T.if_then_else(keep, idx[row, lo], idx[row, hi])
                        idx_out[row, hi] = T.if_then_else(keep, idx[row, hi], idx[row, lo])

    return stage


def _greater(ka, ia, kb, ib):
    """a belongs before b: a larger probability, or an equal one and a smaller token id."""
    return T.Or(ka > kb, T.And(ka == kb, ia < ib))


def _stage_pair_kernel(padded: int):
    """Two bitonic stages, (k, j) then (k, j/2), in one pass: each thread owns the four items
    a, a + j/2, a + j, a + 3j/2, which those two stages only exchange among themselves."""
    quads = padded // 4

    @T.macro
    def exchange(lk, li, x, y, down):
        # put the "greater" item (larger prob, or equal prob and smaller id) at x, unless down
        a_k: T.let[T.float32] = lk[x]
        a_i: T.let[T.int32] = li[x]
        b_k: T.let[T.float32] = lk[y]
        b_i: T.let[T.int32] = li[y]
        a_first: T.let[T.bool] = T.Or(a_k > b_k, T.And(a_k == b_k, a_i < b_i))
        keep: T.let[T.bool] = T.Cast("int32", a_first) == T.Cast("int32", down)
        lk[x] = T.if_then_else(keep, a_k, b_k)
        lk[y] = T.if_then_else(keep, b_k, a_k)
        li[x] = T.if_then_else(keep, a_i, b_i)
        li[y] = T.if_then_else(keep, b_i, a_i)

    @T.prim_func(private=True, s_tir=True)
    def stage_pair(var_keys: T.handle, var_idx: T.handle, k: T.int32, j: T.int32,
                   var_keys_out: T.handle, var_idx_out: T.handle):
        T.func_attr({"tirx.is_scheduled": True, "tirx.noalias": True})
        batch = T.int32()
        keys = T.match_buffer(var_keys, (batch, padded), "float32")
        idx = T.match_buffer(var_idx, (batch, padded), "int32")
        keys_out = T.match_buffer(var_keys_out, (batch, padded), "float32")
        idx_out = T.match_buffer(var_idx_out, (batch, padded), "int32")
        for bx in T.thread_binding(batch * (quads // THREADS), thread="blockIdx.x"):
            for tx in T.thread_binding(THREADS, thread="threadIdx.x"):
                with T.sblock("stage_pair"):
                    lk = T.sblock_alloc_buffer((4,), "float32", scope="local")
                    li = T.sblock_alloc_buffer((4,), "int32", scope="local")
                    flat: T.let[T.int32] = bx * THREADS + tx
                    row: T.let[T.int32] = flat // quads
                    t: T.let[T.int32] = flat % quads
                    h: T.let[T.int32] = j // 2
                    a: T.let[T.int32] = (t // h) * (4 * h) + t % h
                    for q in T.serial(4):
                        lk[q] = keys[row, a + q * h]
                        li[q] = idx[row, a + q * h]
                    down: T.let[T.bool] = T.bitwise_and(a, k) == 0
                    exchange(lk, li, 0, 2, down)
                    exchange(lk, li, 1, 3, down)
                    exchange(lk, li, 0, 1, down)
                    exchange(lk, li, 2, 3, down)
                    for q in T.serial(4):
                        keys_out[row, a + q * h] = lk[q]
                        idx_out[row, a + q * h] = li[q]

    return stage_pair


def _tile_kernel(vocab: int, padded: int, tile: int, first: bool, last: bool):
    """Bitonic stages whose pairs lie inside one tile, on the tile held in workgroup memory.
    first: reads the probabilities (padding with -1) and sorts each tile (k = 2 .. tile);
    otherwise reads keys/ids and finishes merge phase k (j = tile/2 .. 1). last: writes
    the first `vocab` items as the sorted probabilities and ids."""
    tiles = padded // tile
    log_tile = tile.bit_length() - 1
    per_thread = tile // THREADS
    pairs_per_thread = tile // 2 // THREADS
    width = vocab if last else padded

    @T.macro
    def exchange(sk, si, base, k, j):
        # one stage: each of the tile/2 pairs (lo, lo + j) is compare-exchanged by one thread
        for tx in T.thread_binding(THREADS, thread="threadIdx.x"):
            for p in T.serial(pairs_per_thread):
                with T.sblock("exchange"):
                    t: T.let[T.int32] = p * THREADS + tx
                    lo: T.let[T.int32] = (t // j) * (2 * j) + t % j
                    hi: T.let[T.int32] = lo + j
                    a_k: T.let[T.float32] = sk[lo]
                    a_i: T.let[T.int32] = si[lo]
                    b_k: T.let[T.float32] = sk[hi]
                    b_i: T.let[T.int32] = si[hi]
                    # as in the global stage: blocks with (lo & k) != 0 sort the other way
                    a_first: T.let[T.bool] = T.Or(a_k > b_k, T.And(a_k == b_k, a_i < b_i))
                    keep: T.let[T.bool] = (T.Cast("int32", a_first)
                                           == T.Cast("int32", T.bitwise_and(base + lo, k) == 0))
                    sk[lo] = T.if_then_else(keep, a_k, b_k)
                    sk[hi] = T.if_then_else(keep, b_k, a_k)
                    si[lo] = T.if_then_else(keep, a_i, b_i)
                    si[hi] = T.if_then_else(keep, b_i, a_i)

    @T.macro
    def store(sk, si, out_k, out_i, row, base):
        for tx in T.thread_binding(THREADS, thread="threadIdx.x"):
            for e in T.serial(per_thread):
                with T.sblock("store"):
                    c: T.let[T.int32] = e * THREADS + tx
                    if base + c < width:
                        out_k[row, base + c] = sk[c]
                        out_i[row, base + c] = si[c]

    @T.prim_func(private=True, s_tir=True)
    def tile_sort(var_probs: T.handle, var_out_k: T.handle, var_out_i: T.handle):
        T.func_attr({"tirx.is_scheduled": True, "tirx.noalias": True})
        batch = T.int32()
        probs = T.match_buffer(var_probs, (batch, vocab), "float32")
        out_k = T.match_buffer(var_out_k, (batch, width), "float32")
        out_i = T.match_buffer(var_out_i, (batch, width), "int32")
        for bx in T.thread_binding(batch * tiles, thread="blockIdx.x"):
            row: T.let[T.int32] = bx // tiles
            base: T.let[T.int32] = (bx % tiles) * tile
            with T.sblock("tile"):
                sk = T.sblock_alloc_buffer((tile,), "float32", scope="shared")
                si = T.sblock_alloc_buffer((tile,), "int32", scope="shared")
                for tx in T.thread_binding(THREADS, thread="threadIdx.x"):
                    for e in T.serial(per_thread):
                        with T.sblock("load"):
                            c: T.let[T.int32] = e * THREADS + tx
                            sk[c] = T.if_then_else(base + c < vocab,
                                                   probs[row, T.min(base + c, vocab - 1)],
                                                   T.float32(-1))
                            si[c] = base + c
                for kk in T.serial(log_tile):
                    for jj in T.serial(kk + 1):
                        exchange(sk, si, base, T.shift_left(2, kk),
                                 T.shift_right(T.shift_left(2, kk), jj + 1))
                store(sk, si, out_k, out_i, row, base)

    @T.prim_func(private=True, s_tir=True)
    def tile_merge(var_keys: T.handle, var_idx: T.handle, k: T.int32,
                   var_out_k: T.handle, var_out_i: T.handle):
        T.func_attr({"tirx.is_scheduled": True, "tirx.noalias": True})
        batch = T.int32()
        keys = T.match_buffer(var_keys, (batch, padded), "float32")
        idx = T.match_buffer(var_idx, (batch, padded), "int32")
        out_k = T.match_buffer(var_out_k, (batch, width), "float32")
        out_i = T.match_buffer(var_out_i, (batch, width), "int32")
        for bx in T.thread_binding(batch * tiles, thread="blockIdx.x"):
            row: T.let[T.int32] = bx // tiles
            base: T.let[T.int32] = (bx % tiles) * tile
            with T.sblock("tile"):
                sk = T.sblock_alloc_buffer((tile,), "float32", scope="shared")
                si = T.sblock_alloc_buffer((tile,), "int32", scope="shared")
                for tx in T.thread_binding(THREADS, thread="threadIdx.x"):
                    for e in T.serial(per_thread):
                        with T.sblock("load"):
                            c: T.let[T.int32] = e * THREADS + tx
                            sk[c] = keys[row, base + c]
                            si[c] = idx[row, base + c]
                for jj in T.serial(log_tile):
                    exchange(sk, si, base, k, T.shift_right(tile // 2, jj))
                store(sk, si, out_k, out_i, row, base)

    return tile_sort if first else tile_merge


def sort_plan(padded: int, tile: int) -> list[tuple[str, int, int]]:
    """The dispatches of argsort_probs: ("tile", 0, 0) sorts each tile; ("pair", k, j) runs
    the global stages (k, j) and (k, j/2), ("stage", k, j) a last single one; ("merge", k, 0)
    finishes phase k inside each tile."""
    plan, k = [("tile", 0, 0)], tile * 2
    while k <= padded:
        j = k // 2
        while j >= tile:
            if j // 2 >= tile:
                plan.append(("pair", k, j))
                j //= 4
            else:
                plan.append(("stage", k, j))
                j //= 2
        plan.append(("merge", k, 0))
        k *= 2
    return plan


def _top_p_kernel(vocab: int):
    @T.prim_func(private=True, s_tir=True)
    def top_p(var_sorted_probs: T.handle, var_sorted_ids: T.handle, var_uniform: T.handle,
              var_sample_indices: T.handle, var_top_p: T.handle, var_out: T.handle):
        T.func_attr({"tirx.is_scheduled": True, "tirx.noalias": True})
        batch, n = T.int32(), T.int32()
        probs = T.match_buffer(var_sorted_probs, (batch, vocab), "float32")
        ids = T.match_buffer(var_sorted_ids, (batch, vocab), "int32")
        uniform = T.match_buffer(var_uniform, (n,), "float32")
        rows = T.match_buffer(var_sample_indices, (n,), "int32")
        top_p = T.match_buffer(var_top_p, (batch,), "float32")
        out = T.match_buffer(var_out, (n,), "int32")
        for bx in T.thread_binding((n + 63) // 64, thread="blockIdx.x"):
            for tx in T.thread_binding(64, thread="threadIdx.x"):
                with T.sblock("sample"):
                    cum = T.sblock_alloc_buffer((1,), "float32", scope="local")
                    pos = T.sblock_alloc_buffer((1,), "int32", scope="local")
                    keep = T.sblock_alloc_buffer((1,), "int32", scope="local")
                    s: T.let[T.int32] = bx * 64 + tx
                    if s < n:
                        row: T.let[T.int32] = rows[s]
                        # 1. the smallest prefix whose mass reaches top_p
                        cum[0] = T.float32(0)
                        pos[0] = 0
                        while pos[0] < vocab and cum[0] < top_p[row]:
                            cum[0] = cum[0] + probs[row, pos[0]]
                            pos[0] = pos[0] + 1
                        keep[0] = T.max(pos[0], 1)
                        # 2. inverse-CDF sample inside that prefix, renormalized by its mass
                        threshold: T.let[T.float32] = uniform[s] * cum[0]
                        cum[0] = T.float32(0)
                        pos[0] = 0
                        while pos[0] < keep[0] - 1 and cum[0] + probs[row, pos[0]] < threshold:
                            cum[0] = cum[0] + probs[row, pos[0]]
                            pos[0] = pos[0] + 1
                        out[s] = ids[row, pos[0]]

    return top_p


def attach_sampler(bb: rx.BlockBuilder, vocab: int) -> None:
    """Add softmax_with_temperature, argsort_probs and sample_with_top_p for a GPU target."""
    padded = max(THREADS * 2, 1 << (vocab - 1).bit_length())
    batch = tirx.Var("batch_size", "int64")
    f32 = "float32"

    # softmax_with_temperature(logits [b, n, v], temperature [b]) -> probs [b, n, v]
    npos = tirx.Var("num_positions", "int64")
    logits = rx.Var("logits", rx.TensorType((batch, npos, vocab), f32))
    temperature = rx.Var("temperature", rx.TensorType((batch,), f32))
    with bb.function("softmax_with_temperature", [logits, temperature]):
        with bb.dataflow():
            t = bb.emit(rx.op.reshape(temperature, (batch, 1, 1)))
            probs = bb.emit(rx.op.nn.softmax(rx.op.divide(logits, t), axis=-1))
            out = bb.emit_output(probs)
        bb.emit_func_output(out)

    # argsort_probs(probs [b, v]) -> (sorted probs, sorted token ids)
    tile = min(TILE, padded)
    plan = sort_plan(padded, tile)
    stage_gv = bb.add_func(_stage_kernel(padded), "bitonic_stage")
    pair_gv = bb.add_func(_stage_pair_kernel(padded), "bitonic_stage_pair") \
        if any(kind == "pair" for kind, _, _ in plan) else None
    probs = rx.Var("probs", rx.TensorType((batch, vocab), f32))
    keys_ty = rx.TensorType((batch, padded), f32)
    idx_ty = rx.TensorType((batch, padded), "int32")
    final_ty = [rx.TensorType((batch, vocab), f32), rx.TensorType((batch, vocab), "int32")]
    kernels = {}

    def tile_gv(first: bool, last: bool):
        if (first, last) not in kernels:
            name = f"bitonic_{'tile' if first else 'merge'}{'_out' if last else ''}"
            kernels[first, last] = bb.add_func(_tile_kernel(vocab, padded, tile, first, last), name)
        return kernels[first, last]

    def i32(v: int):
        return rx.prim_value(tirx.IntImm("int32", v))

    with bb.function("argsort_probs", [probs]):
        with bb.dataflow():
            state = None
            for n, (kind, k, j) in enumerate(plan):
                last = n == len(plan) - 1
                out_ty = final_ty if last else [keys_ty, idx_ty]
                if kind == "tile":
                    state = bb.emit(rx.call_tir(tile_gv(True, last), [probs], out_ty))
                    continue
                pair = [rx.TupleGetItem(state, 0), rx.TupleGetItem(state, 1)]
                if kind in ("stage", "pair"):
                    gv = stage_gv if kind == "stage" else pair_gv
                    state = bb.emit(rx.call_tir(gv, [*pair, i32(k), i32(j)], out_ty))
                else:
                    state = bb.emit(rx.call_tir(tile_gv(False, last), [*pair, i32(k)], out_ty))
            out = bb.emit_output(state)
        bb.emit_func_output(out)

    # sample_with_top_p(sorted_probs, sorted_ids, uniform [n], sample_indices [n], top_p [b])
    n = tirx.Var("num_samples", "int64")
    args = [
        rx.Var("sorted_probs", rx.TensorType((batch, vocab), f32)),
        rx.Var("sorted_indices", rx.TensorType((batch, vocab), "int32")),
        rx.Var("uniform_samples", rx.TensorType((n,), f32)),
        rx.Var("sample_indices", rx.TensorType((n,), "int32")),
        rx.Var("top_p", rx.TensorType((batch,), f32)),
    ]
    top_p_gv = bb.add_func(_top_p_kernel(vocab), "top_p_sample")
    with bb.function("sample_with_top_p", args):
        with bb.dataflow():
            out = bb.emit_output(bb.emit(rx.call_tir(top_p_gv, args,
                                                     rx.TensorType((n,), "int32"))))
        bb.emit_func_output(out)
