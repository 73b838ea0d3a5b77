"""In-place logit edits WebLLM applies before sampling: logit bias, repetition penalties
and the grammar bitmask used for JSON-schema constrained output.

Each is a GPU kernel wrapped in a Relax function that updates ``logits`` in place,
because WebLLM calls them for their side effect and ignores any return value.
Argument order follows what WebLLM passes.
"""

from __future__ import annotations

from tvm import relax as rx
from tvm import tirx
from tvm.script import tirx as T

THREADS = 256


def _logit_bias_kernel():
    @T.prim_func(private=True, s_tir=True)
    def logit_bias(var_logits: T.handle, var_pos2seq: T.handle, var_token_ids: T.handle,
                   var_bias: T.handle):
        T.func_attr({"tirx.is_scheduled": True, "tirx.noalias": True})
        batch, vocab, n = T.int32(), T.int32(), T.int32()
        logits = T.match_buffer(var_logits, (batch, vocab), "float32")
        pos2seq = T.match_buffer(var_pos2seq, (n,), "int32")
        token_ids = T.match_buffer(var_token_ids, (n,), "int32")
        bias = T.match_buffer(var_bias, (n,), "float32")
        for bx in T.thread_binding((n + THREADS - 1) // THREADS, thread="blockIdx.x"):
            for tx in T.thread_binding(THREADS, thread="threadIdx.x"):
                with T.sblock("bias"):
                    i: T.let[T.int32] = bx * THREADS + tx
                    if i < n:
                        logits[pos2seq[i], token_ids[i]] += bias[i]

    return logit_bias


def _penalty_kernel():
    @T.prim_func(private=True, s_tir=True)
    def penalty(var_logits: T.handle, var_seq_ids: T.handle, var_pos2seq: T.handle,
                var_token_ids: T.handle, var_token_cnt: T.handle, var_penalties: T.handle):
        T.func_attr({"tirx.is_scheduled": True, "tirx.noalias": True})
        batch, vocab, n, num_seq = T.int32(), T.int32(), T.int32(), T.int32()
        logits = T.match_buffer(var_logits, (batch, vocab), "float32")
        seq_ids = T.match_buffer(var_seq_ids, (num_seq,), "int32")
        pos2seq = T.match_buffer(var_pos2seq, (n,), "int32")
        token_ids = T.match_buffer(var_token_ids, (n,), "int32")
        token_cnt = T.match_buffer(var_token_cnt, (n,), "int32")
        # per sequence: presence, frequency, repetition
        penalties = T.match_buffer(var_penalties, (num_seq, 3), "float32")
        for bx in T.thread_binding((n + THREADS - 1) // THREADS, thread="blockIdx.x"):
            for tx in T.thread_binding(THREADS, thread="threadIdx.x"):
                with T.sblock("penalty"):
                    i: T.let[T.int32] = bx * THREADS + tx
                    if i < n:
                        s: T.let[T.int32] = pos2seq[i]
                        row: T.let[T.int32] = seq_ids[s]
                        tok: T.let[T.int32] = token_ids[i]
                        v: T.let[T.float32] = logits[row, tok] - (penalties[s, 0]
                                                + T.Cast("float32", token_cnt[i]) * penalties[s, 1])
                        logits[row, tok] = T.if_then_else(v < T.float32(0), v * penalties[s, 2],
                                                          v / penalties[s, 2])

    return penalty


def _bitmask_kernel():
    @T.prim_func(private=True, s_tir=True)
    def bitmask(var_logits: T.handle, var_seq_ids: T.handle, var_bitmask: T.handle):
        T.func_attr({"tirx.is_scheduled": True, "tirx.noalias": True})
        batch, vocab, num_seq, words = T.int32(), T.int32(), T.int32(), T.int32()
        logits = T.match_buffer(var_logits, (batch, vocab), "float32")
        seq_ids = T.match_buffer(var_seq_ids, (num_seq,), "int32")
        mask = T.match_buffer(var_bitmask, (batch, words), "int32")
        for bx in T.thread_binding((num_seq * vocab + THREADS - 1) // THREADS,
                                   thread="blockIdx.x"):
            for tx in T.thread_binding(THREADS, thread="threadIdx.x"):
                with T.sblock("bitmask"):
                    flat: T.let[T.int32] = bx * THREADS + tx
                    if flat < num_seq * vocab:
                        row: T.let[T.int32] = seq_ids[flat // vocab]
                        tok: T.let[T.int32] = flat % vocab
                        allowed: T.let[T.int32] = T.bitwise_and(T.shift_right(mask[row, tok // 32], tok % 32), 1)
                        logits[row, tok] = T.if_then_else(allowed == 1, logits[row, tok],
                                                          T.min_value("float32"))

    return bitmask


def _inplace_wrapper(bb: rx.BlockBuilder, name: str, kernel, params: list[rx.Var]):
    gv = bb.add_func(kernel, f"{name}_kernel")
    with bb.function(name, params):
        out = bb.emit(rx.call_tir_inplace(gv, params, inplace_indices=[0],
                                          out_ty=params[0].ty))
        bb.emit_func_output(out)


def attach_logit_processors(bb: rx.BlockBuilder) -> None:
    """Add apply_logit_bias_inplace, apply_penalty_inplace and apply_bitmask_inplace."""
    i32 = "int32"
    batch, vocab = tirx.Var("batch_size", "int64"), tirx.Var("vocab_size", "int64")
    n, num_seq = tirx.Var("num_token", "int64"), tirx.Var("num_seq", "int64")
    words = tirx.Var("num_words", "int64")

    def t(name, shape, dtype="float32"):
        return rx.Var(name, rx.TensorType(shape, dtype))

    _inplace_wrapper(bb, "apply_logit_bias_inplace", _logit_bias_kernel(), [
        t("logits", (batch, vocab)), t("pos2seq_id", (n,), i32), t("token_ids", (n,), i32),
        t("logit_bias", (n,))])
    _inplace_wrapper(bb, "apply_penalty_inplace", _penalty_kernel(), [
        t("logits", (batch, vocab)), t("seq_ids", (num_seq,), i32),
        t("pos2seq_id", (n,), i32), t("token_ids", (n,), i32), t("token_cnt", (n,), i32),
        t("penalties", (num_seq, 3))])
    _inplace_wrapper(bb, "apply_bitmask_inplace", _bitmask_kernel(), [
        t("logits", (batch, vocab)), t("seq_ids", (num_seq,), i32),
        t("bitmask", (batch, words), i32)])
