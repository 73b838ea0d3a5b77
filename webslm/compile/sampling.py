"""The on-GPU sampler WebLLM drives: softmax_with_temperature, argsort_probs and
sample_with_top_p.

TVM's generic GPU argsort launches on blockIdx.z, which the WebGPU code generator
rejects, so argsort_probs is our own bitonic sort: the probabilities are padded to a
power of two and sorted by one small kernel launched once per bitonic stage. The
vocabulary size is fixed at compile time, so the stage list is unrolled into the Relax
function. Order: probability descending, ties by token id ascending (deterministic).
"""

from __future__ import annotations

from tvm import relax as rx
from tvm import tirx
from tvm.script import tirx as T

THREADS = 256


def _pad_kernel(vocab: int, padded: int):
    @T.prim_func(private=True, s_tir=True)
    def pad(var_probs: T.handle, var_keys: T.handle, var_idx: T.handle):
        T.func_attr({"tirx.is_scheduled": True, "tirx.noalias": True})
        batch = T.int32()
        probs = T.match_buffer(var_probs, (batch, vocab), "float32")
        keys = T.match_buffer(var_keys, (batch, padded), "float32")
        idx = T.match_buffer(var_idx, (batch, padded), "int32")
        for bx in T.thread_binding(batch * (padded // THREADS), thread="blockIdx.x"):
            for tx in T.thread_binding(THREADS, thread="threadIdx.x"):
                with T.sblock("pad"):
                    flat: T.let[T.int32] = bx * THREADS + tx
                    if flat < batch * padded:
                        row: T.let[T.int32] = flat // padded
                        col: T.let[T.int32] = flat % padded
                        keys[row, col] = T.if_then_else(col < vocab, probs[row, T.min(col, vocab - 1)],
                                                        T.float32(-1))
                        idx[row, col] = col

    return pad


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


def _unpad_kernel(vocab: int, padded: int):
    @T.prim_func(private=True, s_tir=True)
    def unpad(var_keys: T.handle, var_idx: T.handle, var_probs: T.handle, var_ids: T.handle):
        T.func_attr({"tirx.is_scheduled": True, "tirx.noalias": True})
        batch = T.int32()
        keys = T.match_buffer(var_keys, (batch, padded), "float32")
        idx = T.match_buffer(var_idx, (batch, padded), "int32")
        probs = T.match_buffer(var_probs, (batch, vocab), "float32")
        ids = T.match_buffer(var_ids, (batch, vocab), "int32")
        for bx in T.thread_binding((batch * vocab + THREADS - 1) // THREADS, thread="blockIdx.x"):
            for tx in T.thread_binding(THREADS, thread="threadIdx.x"):
                with T.sblock("unpad"):
                    flat: T.let[T.int32] = bx * THREADS + tx
                    if flat < batch * vocab:
                        probs[flat // vocab, flat % vocab] = keys[flat // vocab, flat % vocab]
                        ids[flat // vocab, flat % vocab] = idx[flat // vocab, flat % vocab]

    return unpad


def bitonic_stages(padded: int) -> list[tuple[int, int]]:
    """The (k, j) pairs of a bitonic sorting network over `padded` (a power of two) items."""
    stages, k = [], 2
    while k <= padded:
        j = k // 2
        while j >= 1:
            stages.append((k, j))
            j //= 2
        k *= 2
    return stages


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
    pad_gv = bb.add_func(_pad_kernel(vocab, padded), "bitonic_pad")
    stage_gv = bb.add_func(_stage_kernel(padded), "bitonic_stage")
    unpad_gv = bb.add_func(_unpad_kernel(vocab, padded), "bitonic_unpad")
    probs = rx.Var("probs", rx.TensorType((batch, vocab), f32))
    keys_ty = rx.TensorType((batch, padded), f32)
    idx_ty = rx.TensorType((batch, padded), "int32")
    with bb.function("argsort_probs", [probs]):
        with bb.dataflow():
            state = bb.emit(rx.call_tir(pad_gv, [probs], [keys_ty, idx_ty]))
            for k, j in bitonic_stages(padded):
                state = bb.emit(rx.call_tir(
                    stage_gv,
                    [rx.TupleGetItem(state, 0), rx.TupleGetItem(state, 1),
                     rx.prim_value(tirx.IntImm("int32", k)), rx.prim_value(tirx.IntImm("int32", j))],
                    [keys_ty, idx_ty]))
            result = bb.emit(rx.call_tir(
                unpad_gv, [rx.TupleGetItem(state, 0), rx.TupleGetItem(state, 1)],
                [rx.TensorType((batch, vocab), f32), rx.TensorType((batch, vocab), "int32")]))
            out = bb.emit_output(result)
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
