"""NumPy reference for the sampler and logit-processor kernels WebLLM calls, plus the checkers.

Semantics are those WebLLM 0.2.86 relies on (MLC-LLM's contract for these functions), written
independently of webslm/compile/sampling.py and logit_processors.py:

- softmax_with_temperature(logits [b, n, v], t [b]) = softmax(logits / t) over the vocabulary.
- argsort_probs(probs [b, v]) -> (probs sorted descending, their token ids); ties: smaller id first.
- sample_with_top_p(sorted_probs, sorted_ids, u [n], rows [n], top_p [b]): for draw s on row r,
  keep K = the shortest prefix of the sorted row whose mass reaches top_p (at least one token),
  and return the id of the first kept position j whose cumulative mass exceeds u * mass(K)
  (inverse-CDF sampling from the renormalised top-p distribution).
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


def argsort_ref(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Descending probability, ties broken by ascending token id (what makes sampling stable)."""
    ids = np.arange(probs.shape[-1])
    order = np.stack([np.lexsort((ids, -row)) for row in probs])
    return np.take_along_axis(probs, order, axis=-1), order.astype(np.int32)


def top_p_cutoff(sorted_row: np.ndarray, top_p: float, acc=np.float64) -> int:
    """How many leading tokens top-p keeps: the shortest prefix with mass >= top_p, at least 1.
    acc is the accumulator type of the running sum (see top_p_sample_ref)."""
    cum = np.cumsum(sorted_row.astype(acc), dtype=acc)
    reached = np.nonzero(cum >= acc(top_p))[0]
    return max(1, int(reached[0]) + 1 if len(reached) else len(sorted_row))


def top_p_sample_ref(sorted_probs, sorted_ids, uniform, rows, top_p, acc=np.float64,
                     side="right"):
    """Inverse-CDF draw from each row's renormalised top-p set, one per uniform sample.
    acc=np.float32 evaluates the same rule with float32 running sums (np.cumsum adds in order),
    i.e. the rounding a float32 implementation of the rule sees over a long vocabulary;
    side="left" resolves an exact tie between u * mass(K) and a boundary to the lower token."""
    uniform, rows = np.asarray(uniform), np.asarray(rows)
    out = np.empty(len(uniform), np.int32)
    for r in np.unique(rows):
        keep = top_p_cutoff(sorted_probs[r], float(top_p[r]), acc)
        cum = np.cumsum(sorted_probs[r, :keep].astype(acc), dtype=acc)
        mine = rows == r
        j = np.searchsorted(cum, uniform[mine].astype(acc) * cum[-1], side=side)
        out[mine] = sorted_ids[r, np.minimum(j, keep - 1)]
    return out


def top_p_distribution(probs_row: np.ndarray, top_p: float) -> np.ndarray:
    """The distribution sample_with_top_p must draw from, indexed by token id."""
    sorted_probs, ids = argsort_ref(probs_row[None])
    keep = top_p_cutoff(sorted_probs[0], top_p)
    dist = np.zeros(len(probs_row))
    dist[ids[0, :keep]] = sorted_probs[0, :keep] / sorted_probs[0, :keep].astype(np.float64).sum()
    return dist


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


def _owns_point(chosen: int, sorted_row, ids_row, top_p: float, u: float,
                tol: float = 1e-6) -> bool:
    """Whether u * mass(K) lies within tol (relative) of the chosen token's CDF interval and
    that token is in K: the only freedom left when u * mass(K) sits on a boundary."""
    keep = top_p_cutoff(sorted_row, top_p)
    cum = np.cumsum(sorted_row[:keep].astype(np.float64))
    where = np.nonzero(ids_row[:keep] == chosen)[0]
    if len(where) != 1:
        return False
    j, t, slack = int(where[0]), u * cum[-1], tol * cum[-1]
    lo = cum[j - 1] if j > 0 else 0.0
    return lo - slack <= t <= cum[j] + slack


def check_top_p_exact(chosen: np.ndarray, sorted_probs, sorted_ids, uniform, rows,
                      top_p) -> tuple[bool, str]:
    """Every draw must be the reference token, computed with float64 or with float32 running
    sums (over ~50k tokens their rounding moves the top-p edge and CDF boundaries by many
    tiny-probability tokens; an exact float32 tie may go either way), or own the point
    u * mass(K) up to 1e-6 (a boundary in float64)."""
    args = (sorted_probs, sorted_ids, uniform, rows, top_p)
    exact = top_p_sample_ref(*args)
    f32 = [top_p_sample_ref(*args, acc=np.float32, side=side) for side in ("right", "left")]
    bad, near = [], 0
    for s, c in enumerate(chosen):
        if c == exact[s]:
            continue
        r = rows[s]
        if c in (f32[0][s], f32[1][s]) or _owns_point(int(c), sorted_probs[r], sorted_ids[r],
                                      float(top_p[r]), float(uniform[s])):
            near += 1
        else:
            bad.append((s, int(c), int(exact[s])))
    return not bad, (f"{len(bad)} of {len(chosen)} draws wrong ({near} differ from the float64 "
                     f"reference only by float32 rounding), first (draw, got, expected): {bad[:5]}")


# --- deliberately broken samplers (the test of the test) ------------------------------------

def broken_top_p_drop_last(sorted_probs, sorted_ids, uniform, rows, top_p):
    """Off by one in the cutoff: keeps the prefix *before* the one reaching top_p."""
    capped = np.array(top_p, np.float64).copy()
    out = np.empty(len(uniform), np.int32)
    for s, (u, r) in enumerate(zip(uniform, rows)):
        keep = max(1, top_p_cutoff(sorted_probs[r], float(capped[r])) - 1)
        cum = np.cumsum(sorted_probs[r, :keep].astype(np.float64))
        j = int(np.searchsorted(cum, float(u) * cum[-1], side="right"))
        out[s] = sorted_ids[r, min(j, keep - 1)]
    return out


def broken_top_p_no_renorm(sorted_probs, sorted_ids, uniform, rows, top_p):
    """Forgets to renormalise: compares u itself to the cumulative mass, so all the mass cut
    off by top-p lands on the last kept token."""
    out = np.empty(len(uniform), np.int32)
    for s, (u, r) in enumerate(zip(uniform, rows)):
        keep = top_p_cutoff(sorted_probs[r], float(top_p[r]))
        cum = np.cumsum(sorted_probs[r, :keep].astype(np.float64))
        j = int(np.searchsorted(cum, float(u), side="right"))
        out[s] = sorted_ids[r, min(j, keep - 1)]
    return out
