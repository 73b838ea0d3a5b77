"""NumPy reference for the sampler and logit-processor kernels WebLLM calls, plus the checkers.

Semantics are those WebLLM 0.2.86 relies on (MLC-LLM's contract for these functions), written
independently of webslm/compile/sampling.py and logit_processors.py:

- softmax_with_temperature(logits [b, n, v], t [b]) = softmax(logits / t) over the vocabulary.
- argsort_probs(probs [b, v]) -> whatever sample_with_top_p takes: WebLLM hands its two outputs
  to sample_with_top_p and to nothing else. webslm's returns the probabilities twice.
- sample_with_top_p(probs, probs, u [n], rows [n], top_p [b]): for draw s on row r, the nucleus
  K is every token whose probability is >= t, where t is the largest probability such that the
  tokens at or above it hold mass >= top_p (all tokens if none reaches it): the shortest
  prefix of the descending order that reaches top_p, widened to every token tied with its
  last. Return the first token of K in id order whose cumulative mass exceeds u * mass(K)
  (inverse-CDF sampling from the renormalised top-p distribution); the last token of K with
  nonzero mass if rounding leaves none.
- apply_logit_bias_inplace: logits[pos2seq[i], token[i]] += bias[i].
- apply_penalty_inplace: for each (seq s, token, count): x = logit - presence[s] - count * freq[s];
  then x * rep[s] if x < 0 else x / rep[s]; written to row seq_ids[s].
- apply_bitmask_inplace: bit (tok % 32) of int32 word bitmask[row, tok // 32] == 0 masks the
  token (its logit becomes the lowest float32 or -inf, i.e. probability 0).
"""

from __future__ import annotations

import math

import numpy as np

F32_LOWEST = np.finfo(np.float32).min


# --- references -----------------------------------------------------------------------------

def softmax_ref(logits: np.ndarray, temperature: np.ndarray) -> np.ndarray:
    """float64 softmax(logits / t) over the last axis; -inf logits get probability 0."""
    x = logits.astype(np.float64) / temperature.astype(np.float64).reshape(-1, 1, 1)
    x = x - x.max(axis=-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


def top_p_threshold(row: np.ndarray, top_p: float, acc=np.float64) -> float:
    """t: the largest probability whose tokens, with every more probable one, hold >= top_p;
    the smallest probability if the whole row falls short. acc: the accumulator type."""
    values, inverse = np.unique(row, return_inverse=True)  # ascending distinct values
    mass = np.bincount(inverse.ravel(), weights=row.astype(np.float64)).astype(acc)
    reached = np.cumsum(mass[::-1], dtype=acc) >= acc(top_p)
    hits = np.nonzero(reached)[0]
    return float(values[::-1][hits[0]]) if len(hits) else float(values[0])


def top_p_set(row: np.ndarray, top_p: float, acc=np.float64) -> np.ndarray:
    """The nucleus as a mask by token id."""
    return row >= np.float32(top_p_threshold(row, top_p, acc))


def top_p_sample_ref(probs, uniform, rows, top_p, acc=np.float64, side="right",
                     keep=top_p_set):
    """Inverse-CDF draw from each row's renormalised nucleus, in token-id order, one per
    uniform sample. acc=np.float32 evaluates the same rule with float32 sums; side="left"
    resolves an exact tie between u * mass(K) and a boundary to the lower token; keep picks
    the nucleus (the broken samplers below swap it)."""
    uniform, rows = np.asarray(uniform), np.asarray(rows)
    out = np.empty(len(uniform), np.int32)
    for r in np.unique(rows):
        kept = keep(probs[r], float(top_p[r]), acc)
        ids = np.nonzero(kept & (probs[r] > 0))[0]
        cum = np.cumsum(probs[r, ids].astype(acc), dtype=acc)
        mine = rows == r
        j = np.searchsorted(cum, uniform[mine].astype(acc) * cum[-1], side=side)
        out[mine] = ids[np.minimum(j, len(ids) - 1)]
    return out


def top_p_distribution(probs_row: np.ndarray, top_p: float) -> np.ndarray:
    """The distribution sample_with_top_p must draw from, indexed by token id."""
    dist = np.where(top_p_set(probs_row, top_p), probs_row.astype(np.float64), 0.0)
    return dist / dist.sum()


def logit_bias_ref(logits, pos2seq, token_ids, bias):
    out = logits.astype(np.float64)
    for r, t, b in zip(pos2seq, token_ids, bias):
        out[r, t] += b
    return out


def penalty_ref(logits, seq_ids, pos2seq, token_ids, token_cnt, penalties):
    out = logits.astype(np.float64)
    for s, t, c in zip(pos2seq, token_ids, token_cnt):
        presence, frequency, repetition = penalties[s].astype(np.float64)
        row = seq_ids[s]
        x = out[row, t] - presence - c * frequency
        out[row, t] = x * repetition if x < 0 else x / repetition
    return out


def pack_bitmask(allowed: np.ndarray) -> np.ndarray:
    """bool [b, v] -> int32 [b, ceil(v / 32)] words, token t at bit t % 32 of word t // 32."""
    b, v = allowed.shape
    words = np.zeros((b, (v + 31) // 32), np.uint32)
    for t in range(v):
        words[:, t // 32] |= allowed[:, t].astype(np.uint32) << np.uint32(t % 32)
    return words.view(np.int32)


def bitmask_ref(logits, seq_ids, allowed):
    """The rows named by seq_ids keep allowed logits; their other tokens go to the lowest float."""
    out = logits.copy()
    for row in seq_ids:
        out[row, ~allowed[row]] = F32_LOWEST
    return out


def check_bitmask(out, logits, seq_ids, allowed) -> tuple[bool, str]:
    """Allowed tokens and untouched rows are bit-identical; masked tokens are at most -1e38
    (WGSL prints the lowest float32 as a decimal literal that rounds to -3.4028231e38, not
    -3.4028235e38: just as impossible after softmax)."""
    expect = bitmask_ref(logits, seq_ids, allowed)
    masked = expect == F32_LOWEST
    same = np.array_equal(out[~masked], expect[~masked])
    low = bool(np.all(out[masked] <= -1e38))
    return same and low, f"unmasked identical: {same}, masked <= -1e38: {low}"


# --- statistics -----------------------------------------------------------------------------

def chi2_sf(x: float, df: int) -> float:
    """P(chi2_df >= x), via the regularised upper incomplete gamma Q(df/2, x/2) (no SciPy here)."""
    a, z = df / 2.0, x / 2.0
    if z <= 0:
        return 1.0
    log_prefix = a * math.log(z) - z - math.lgamma(a)
    if z < a + 1:  # lower series P(a, z), then Q = 1 - P
        term = total = 1.0 / a
        n = a
        while term > total * 1e-16:
            n += 1
            term *= z / n
            total += term
        return max(0.0, 1.0 - total * math.exp(log_prefix))
    # continued fraction for Q(a, z) (modified Lentz)
    tiny = 1e-300
    b = z + 1 - a
    c, d = 1 / tiny, 1 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return math.exp(log_prefix) * h


def g_test(draws: np.ndarray, expected_dist: np.ndarray, min_expected: float = 5.0):
    """G-test of token draws against expected_dist (by token id). Tokens expected fewer than
    min_expected times are pooled into one bin. Returns (G statistic, degrees of freedom,
    p-value, number of draws outside the support); draws outside the support make p = 0."""
    n = len(draws)
    counts = np.bincount(draws, minlength=len(expected_dist)).astype(np.float64)
    outside = int(counts[expected_dist == 0].sum())
    exp_counts = expected_dist * n
    big = exp_counts >= min_expected
    obs = list(counts[big])
    exp = list(exp_counts[big])
    pooled = exp_counts[(~big) & (expected_dist > 0)].sum()
    if pooled > 0:
        obs.append(counts[(~big) & (expected_dist > 0)].sum())
        exp.append(pooled)
    obs, exp = np.array(obs), np.array(exp)
    nz = obs > 0
    g = 2.0 * float(np.sum(obs[nz] * np.log(obs[nz] / exp[nz])))
    df = max(1, len(obs) - 1)
    p = 0.0 if outside else chi2_sf(g, df)
    return g, df, p, outside


def check_top_p_draws(draws: np.ndarray, probs_row: np.ndarray, top_p: float,
                      alpha: float) -> tuple[bool, str]:
    """The checker both the real kernel and the deliberately broken samplers go through:
    accept iff no draw leaves the top-p set and the G-test p-value is >= alpha."""
    g, df, p, outside = g_test(np.asarray(draws), top_p_distribution(probs_row, top_p))
    ok = outside == 0 and p >= alpha
    return ok, f"G={g:.1f} df={df} p={p:.3g} outside_top_p={outside} alpha={alpha:g}"


def _owns_point(chosen: int, row: np.ndarray, top_p: float, u: float,
                tol: float = 1e-6) -> bool:
    """Whether u * mass(K) lies within tol (relative) of the chosen token's CDF interval, for
    the nucleus at top_p or at top_p moved by tol (float32 sums of a long row move the
    threshold's comparison that much): the only freedom left on a boundary."""
    for p in (top_p, top_p * (1 - tol), top_p * (1 + tol)):
        kept = top_p_set(row, p) & (row > 0)
        if not kept[chosen]:
            continue
        cum = np.cumsum(np.where(kept, row.astype(np.float64), 0.0))
        t, slack = u * cum[-1], tol * cum[-1]
        lo = cum[chosen - 1] if chosen > 0 else 0.0
        if lo - slack <= t <= cum[chosen] + slack:
            return True
    return False


def check_top_p_exact(chosen: np.ndarray, probs, uniform, rows, top_p) -> tuple[bool, str]:
    """Every draw must be the reference token, computed with float64 or with float32 sums
    (an exact float32 tie may go either way), or own the point u * mass(K) up to 1e-6."""
    args = (probs, uniform, rows, top_p)
    exact = top_p_sample_ref(*args)
    f32 = [top_p_sample_ref(*args, acc=np.float32, side=side) for side in ("right", "left")]
    bad, near = [], 0
    for s, c in enumerate(chosen):
        if c == exact[s]:
            continue
        r = rows[s]
        if c in (f32[0][s], f32[1][s]) or _owns_point(int(c), probs[r], float(top_p[r]),
                                                      float(uniform[s])):
            near += 1
        else:
            bad.append((s, int(c), int(exact[s])))
    return not bad, (f"{len(bad)} of {len(chosen)} draws wrong ({near} differ from the float64 "
                     f"reference only by float32 rounding), first (draw, got, expected): {bad[:5]}")


# --- deliberately broken samplers (the test of the test) ------------------------------------

def _without_threshold(row, top_p, acc):
    """The nucleus minus its least probable tokens (unless that empties it)."""
    kept = top_p_set(row, top_p, acc)
    smaller = kept & (row > row[kept].min())
    return smaller if smaller.any() else kept


def broken_top_p_drop_last(probs, uniform, rows, top_p):
    """Off by one in the cutoff: drops the tokens at the threshold."""
    return top_p_sample_ref(probs, uniform, rows, top_p, keep=_without_threshold)


def broken_top_p_no_renorm(probs, uniform, rows, top_p):
    """Forgets to renormalise: compares u itself to the cumulative mass, so all the mass cut
    off by top-p lands on the last kept token."""
    out = np.empty(len(uniform), np.int32)
    for s, (u, r) in enumerate(zip(uniform, rows)):
        ids = np.nonzero(top_p_set(probs[r], float(top_p[r])) & (probs[r] > 0))[0]
        cum = np.cumsum(probs[r, ids].astype(np.float64))
        j = int(np.searchsorted(cum, float(u), side="right"))
        out[s] = ids[min(j, len(ids) - 1)]
    return out
