"""The on-GPU sampler WebLLM drives: softmax_with_temperature, argsort_probs and
sample_with_top_p.

WebLLM 0.2.86 runs all three for every sampled token at any temperature (it clamps 0 to
1e-6), and it hands argsort_probs's two outputs to sample_with_top_p and to nothing else.
So what passes between them is ours to choose, and nothing needs sorting: top-p's nucleus
is every token whose probability is at least a threshold, the largest probability whose
tokens together with all more probable ones reach top_p. sample_with_top_p finds it by a
radix select over the probabilities' float32 bits (non-negative floats order like their bit
patterns), four bits per pass from the top, each pass a mass histogram of the tokens that
share the prefix chosen so far; it stops early once the chosen bin holds at most one token
(greedy decoding: after the first pass). It then draws by inverse CDF over the nucleus in
token-id order, renormalised by the nucleus' mass. One workgroup per draw does all of it,
so sampling is one dispatch and argsort_probs none: it returns the probabilities as both of
its outputs. A tie at the threshold keeps every tied token.
"""

from __future__ import annotations

from tvm import relax as rx
from tvm import te, tirx
from tvm.script import tirx as T

THREADS = 256  # one workgroup per draw
RADIX_BITS = 4
BINS = 1 << RADIX_BITS
PASSES = 32 // RADIX_BITS


def _top_p_kernel(vocab: int):
    """sample_with_top_p's only kernel: radix-select the nucleus' threshold, then draw."""
    per_thread = (vocab + THREADS - 1) // THREADS  # strided in the passes, a chunk in the draw
    group = THREADS // BINS  # threads whose partial sums one thread adds up per bin

    @T.prim_func(private=True, s_tir=True)
    def top_p(var_probs: T.handle, var_probs_again: T.handle, var_uniform: T.handle,
              var_sample_indices: T.handle, var_top_p: T.handle, var_out: T.handle):
        T.func_attr({"tirx.is_scheduled": True, "tirx.noalias": True})
        batch, n = T.int32(), T.int32()
        probs = T.match_buffer(var_probs, (batch, vocab), "float32")
        T.match_buffer(var_probs_again, (batch, vocab), "float32")  # argsort_probs's 2nd output
        uniform = T.match_buffer(var_uniform, (n,), "float32")
        rows = T.match_buffer(var_sample_indices, (n,), "int32")
        top_p = T.match_buffer(var_top_p, (batch,), "float32")
        out = T.match_buffer(var_out, (n,), "int32")
        for bx in T.thread_binding(n, thread="blockIdx.x"):
            with T.sblock("draw"):
                # per thread and bin: mass; per thread: counts saturated at 2, 2 bits per bin
                part = T.sblock_alloc_buffer((BINS * THREADS,), "float32", scope="shared")
                seen = T.sblock_alloc_buffer((THREADS,), "uint32", scope="shared")
                sub_mass = T.sblock_alloc_buffer((THREADS,), "float32", scope="shared")
                sub_count = T.sblock_alloc_buffer((THREADS,), "int32", scope="shared")
                # the selection so far: prefix bits and the mask of decided bits; and whether
                # it is complete (the chosen bin held at most one token)
                select = T.sblock_alloc_buffer((2,), "uint32", scope="shared")
                complete = T.sblock_alloc_buffer((1,), "int32", scope="shared")
                above = T.sblock_alloc_buffer((1,), "float32", scope="shared")  # mass > prefix
                # each thread's chunk mass, sums within groups of threads, the groups'
                # prefixes, and each chunk's upper bound in the nucleus' CDF
                chunk = T.sblock_alloc_buffer((THREADS,), "float32", scope="shared")
                within = T.sblock_alloc_buffer((THREADS,), "float32", scope="shared")
                offsets = T.sblock_alloc_buffer((BINS + 1,), "float32", scope="shared")
                bounds = T.sblock_alloc_buffer((THREADS,), "float32", scope="shared")
                for tx in T.thread_binding(THREADS, thread="threadIdx.x"):
                    with T.sblock("start"):
                        if tx == 0:
                            select[0] = T.uint32(0)
                            select[1] = T.uint32(0)
                            complete[0] = 0
                            above[0] = T.float32(0)
                for d in T.serial(PASSES):
                    shift: T.let[T.uint32] = T.Cast("uint32", 32 - RADIX_BITS * (d + 1))
                    # 1. each thread's mass and count per bin over its strided tokens
                    for tx in T.thread_binding(THREADS, thread="threadIdx.x"):
                        with T.sblock("histogram"):
                            mass = T.sblock_alloc_buffer((BINS,), "float32", scope="local")
                            count = T.sblock_alloc_buffer((BINS,), "int32", scope="local")
                            flags = T.sblock_alloc_buffer((1,), "uint32", scope="local")
                            for b in T.serial(BINS):
                                mass[b] = T.float32(0)
                                count[b] = 0
                            # shared values are read into lets: TVM's barrier placement
                            # cannot take a shared read inside a condition
                            prefix: T.let[T.uint32] = select[0]
                            decided: T.let[T.uint32] = select[1]
                            finished: T.let[T.int32] = complete[0]
                            if finished == 0:
                                for i in T.serial(per_thread):
                                    item: T.let[T.int32] = i * THREADS + tx
                                    if item < vocab:
                                        p: T.let[T.float32] = probs[rows[bx], item]
                                        bits: T.let[T.uint32] = T.reinterpret("uint32", p)
                                        if T.bitwise_and(bits, decided) == prefix:
                                            b: T.let[T.int32] = T.Cast("int32", T.bitwise_and(
                                                T.shift_right(bits, shift),
                                                T.uint32(BINS - 1)))
                                            mass[b] = mass[b] + p
                                            count[b] = count[b] + 1
                            flags[0] = T.uint32(0)
                            for b in T.serial(BINS):
                                part[b * THREADS + tx] = mass[b]
                                flags[0] = T.bitwise_or(flags[0], T.shift_left(
                                    T.Cast("uint32", T.min(count[b], 2)),
                                    T.Cast("uint32", 2 * b)))
                            seen[tx] = flags[0]
                    # 2. per bin, sums over groups of threads, then over the groups
                    for tx in T.thread_binding(THREADS, thread="threadIdx.x"):
                        with T.sblock("group_sums"):
                            acc = T.sblock_alloc_buffer((1,), "float32", scope="local")
                            num = T.sblock_alloc_buffer((1,), "int32", scope="local")
                            acc[0] = T.float32(0)
                            num[0] = 0
                            for q in T.serial(group):
                                acc[0] = acc[0] + part[(tx // group) * THREADS
                                                       + (tx % group) * group + q]
                                num[0] = num[0] + T.Cast("int32", T.bitwise_and(T.shift_right(
                                    seen[(tx % group) * group + q],
                                    T.Cast("uint32", 2 * (tx // group))), T.uint32(3)))
                            sub_mass[tx] = acc[0]
                            sub_count[tx] = num[0]
                    # 3. one thread picks the bin: scanning from the top, the first whose mass
                    # with everything above reaches top_p (else the bottom bin: keep it all)
                    for tx in T.thread_binding(THREADS, thread="threadIdx.x"):
                        with T.sblock("choose"):
                            cum = T.sblock_alloc_buffer((1,), "float32", scope="local")
                            m = T.sblock_alloc_buffer((1,), "float32", scope="local")
                            chosen = T.sblock_alloc_buffer((1,), "int32", scope="local")
                            total = T.sblock_alloc_buffer((1,), "int32", scope="local")
                            # shared reads first, shared writes last: no barrier in between
                            prefix: T.let[T.uint32] = select[0]
                            decided: T.let[T.uint32] = select[1]
                            finished: T.let[T.int32] = complete[0]
                            mass_above: T.let[T.float32] = above[0]
                            if tx == 0 and finished == 0:
                                cum[0] = mass_above
                                chosen[0] = -1
                                for k in T.serial(BINS):
                                    b: T.let[T.int32] = BINS - 1 - k
                                    m[0] = T.float32(0)
                                    for q in T.serial(group):
                                        m[0] = m[0] + sub_mass[b * group + q]
                                    if chosen[0] < 0:
                                        if b == 0 or cum[0] + m[0] >= top_p[rows[bx]]:
                                            chosen[0] = b
                                        else:
                                            cum[0] = cum[0] + m[0]
                                c: T.let[T.int32] = chosen[0]
                                total[0] = 0
                                for q in T.serial(group):
                                    total[0] = total[0] + sub_count[c * group + q]
                                select[0] = T.bitwise_or(prefix, T.shift_left(
                                    T.Cast("uint32", c), shift))
                                select[1] = T.bitwise_or(decided, T.shift_left(
                                    T.uint32(BINS - 1), shift))
                                above[0] = cum[0]
                                if total[0] <= 1:
                                    complete[0] = 1
                # 4. the draw: tokens with bits >= the threshold, in id order, each thread a
                # contiguous chunk; a scan of the chunks' masses finds the chunk to search
                for tx in T.thread_binding(THREADS, thread="threadIdx.x"):
                    with T.sblock("chunk_mass"):
                        acc = T.sblock_alloc_buffer((1,), "float32", scope="local")
                        acc[0] = T.float32(0)
                        threshold: T.let[T.uint32] = select[0]
                        for i in T.serial(per_thread):
                            item: T.let[T.int32] = tx * per_thread + i
                            if item < vocab:
                                p: T.let[T.float32] = probs[rows[bx], item]
                                if T.reinterpret("uint32", p) >= threshold:
                                    acc[0] = acc[0] + p
                        chunk[tx] = acc[0]
                # sequential sums within each group of threads, then across the groups, so
                # an empty chunk's bounds are equal and the bounds never decrease
                for tx in T.thread_binding(THREADS, thread="threadIdx.x"):
                    with T.sblock("group_scan"):
                        acc = T.sblock_alloc_buffer((1,), "float32", scope="local")
                        if tx < BINS:
                            acc[0] = T.float32(0)
                            for q in T.serial(group):
                                acc[0] = acc[0] + chunk[tx * group + q]
                                within[tx * group + q] = acc[0]
                for tx in T.thread_binding(THREADS, thread="threadIdx.x"):
                    with T.sblock("groups_scan"):
                        acc = T.sblock_alloc_buffer((1,), "float32", scope="local")
                        if tx == 0:
                            acc[0] = T.float32(0)
                            offsets[0] = T.float32(0)
                            for g in T.serial(BINS):
                                acc[0] = acc[0] + within[g * group + group - 1]
                                offsets[g + 1] = acc[0]
                for tx in T.thread_binding(THREADS, thread="threadIdx.x"):
                    with T.sblock("bounds"):
                        bounds[tx] = offsets[tx // group] + within[tx]
                for tx in T.thread_binding(THREADS, thread="threadIdx.x"):
                    with T.sblock("pick"):
                        cum = T.sblock_alloc_buffer((1,), "float32", scope="local")
                        picked = T.sblock_alloc_buffer((1,), "int32", scope="local")
                        last = T.sblock_alloc_buffer((1,), "int32", scope="local")
                        total: T.let[T.float32] = offsets[BINS]
                        incl: T.let[T.float32] = bounds[tx]
                        excl: T.let[T.float32] = T.if_then_else(
                            tx > 0, bounds[T.max(tx - 1, 0)], T.float32(0))
                        goal: T.let[T.float32] = uniform[bx] * total  # "target" is reserved in WGSL
                        threshold: T.let[T.uint32] = select[0]
                        if tx == 0 and total <= T.float32(0):
                            out[bx] = -1  # no mass at all: WebLLM reports a failed sample
                        # the chunk holding the goal, or the last chunk with mass when
                        # rounding puts the goal at or past the total
                        if excl < incl and ((excl <= goal and goal < incl)
                                            or (incl == total and goal >= total)):
                            cum[0] = excl
                            picked[0] = -1
                            last[0] = -1
                            for i in T.serial(per_thread):
                                item: T.let[T.int32] = tx * per_thread + i
                                if item < vocab:
                                    p: T.let[T.float32] = probs[rows[bx], item]
                                    if T.reinterpret("uint32", p) >= threshold and p > 0:
                                        last[0] = item
                                        if picked[0] < 0 and cum[0] + p > goal:
                                            picked[0] = item
                                        cum[0] = cum[0] + p
                            out[bx] = T.if_then_else(picked[0] >= 0, picked[0], last[0])

    return top_p


def _softmax_te(logits: te.Tensor, temperature: te.Tensor) -> te.Tensor:
    """softmax(logits / temperature) over the vocabulary, the division read where the sums read
    the logits: one kernel (a divide of its own was a dispatch more a token)."""
    vocab = logits.shape[-1]

    def scaled(i, j, v):
        return logits[i, j, v] / temperature[i]

    k = te.reduce_axis((0, vocab), name="k")
    top = te.compute(logits.shape[:-1], lambda i, j: te.max(scaled(i, j, k), axis=k),
                     name="softmax_max")
    k2 = te.reduce_axis((0, vocab), name="k2")
    total = te.compute(logits.shape[:-1],
                       lambda i, j: te.sum(tirx.exp(scaled(i, j, k2) - top[i, j]), axis=k2),
                       name="softmax_sum")
    return te.compute(logits.shape, lambda i, j, v: tirx.exp(scaled(i, j, v) - top[i, j])
                      / total[i, j], name="softmax_norm")


def attach_sampler(bb: rx.BlockBuilder, vocab: int) -> None:
    """Add softmax_with_temperature, argsort_probs and sample_with_top_p for a GPU target."""
    batch = tirx.Var("batch_size", "int64")
    f32 = "float32"

    # softmax_with_temperature(logits [b, n, v], temperature [b]) -> probs [b, n, v]
    npos = tirx.Var("num_positions", "int64")
    logits = rx.Var("logits", rx.TensorType((batch, npos, vocab), f32))
    temperature = rx.Var("temperature", rx.TensorType((batch,), f32))
    with bb.function("softmax_with_temperature", [logits, temperature]):
        with bb.dataflow():
            probs = bb.emit_te(_softmax_te, logits, temperature,
                               primfunc_name_hint="softmax")
            out = bb.emit_output(probs)
        bb.emit_func_output(out)

    # argsort_probs(probs [b, v]) -> (probs, probs): nothing to sort (see the docstring)
    probs = rx.Var("probs", rx.TensorType((batch, vocab), f32))
    with bb.function("argsort_probs", [probs]):
        bb.emit_func_output(rx.Tuple([probs, probs]))

    # sample_with_top_p(probs, probs, uniform [n], sample_indices [n], top_p [b]) -> ids [n]
    n = tirx.Var("num_samples", "int64")
    args = [
        rx.Var("probs", rx.TensorType((batch, vocab), f32)),
        rx.Var("probs_again", rx.TensorType((batch, vocab), f32)),
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
