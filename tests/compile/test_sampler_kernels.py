"""Numerical proofs for the sampler and logit-processor kernels WebLLM calls on every
temperature > 0 answer (webslm/compile/sampling.py, logit_processors.py).

The kernels are built from the same TVMScript source the model library gets, for the CPU: the
only change is that GPU thread-binding loops become serial loops (the CPU has no threads to
bind; each loop iteration computes exactly what one GPU thread would). They are checked
against the independent NumPy reference in sampler_reference.py. A representative subset
runs on WebGPU in headless Chromium in test_sampler_webgpu.py (tests/browser).

Statistics: every distribution test draws DRAWS samples with a fixed seed and applies a G-test
at ALPHA = 1e-6, so a correct sampler fails with probability at most 1e-6 per test for a random
seed; with the fixed seed the outcome is deterministic. The same checker must reject two
deliberately broken top-p samplers (test_checker_rejects_broken_top_p).

Tests that compile are marked slow (about 20 s for the CPU ones, ~2 min for WebGPU); the
statistics and the test of the test need only NumPy and stay in the quick loop.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import pytest

import sampler_reference as ref

compiles = pytest.mark.slow  # builds the kernels (about 1-4 s per vocabulary size)

VOCABS = [1, 3, 1000, 49157]  # not powers of two; 49157 = 49152 (SmolLM2) + 5
ALPHA = 1e-6
DRAWS = 20_000


# --- building the kernels for the CPU -------------------------------------------------------

class _SerialT:
    """tvm.script.tirx.T, except that thread-binding loops are serial and 'local' buffers are
    plain allocations: what the llvm target can compile, with identical arithmetic."""

    def __init__(self, real):
        self._real = real

    def __getattr__(self, name):
        return getattr(self._real, name)

    def thread_binding(self, extent, thread=None, **_kwargs):
        return self._real.serial(extent)

    def sblock_alloc_buffer(self, *args, scope="global", **kwargs):
        return self._real.sblock_alloc_buffer(*args, **kwargs)


@contextlib.contextmanager
def _serial_tir():
    """Parse the kernels' TVMScript with _SerialT in place of T (restored afterwards)."""
    from webslm.compile import logit_processors, sampling
    real = sampling.T
    sampling.T = logit_processors.T = _SerialT(real)
    try:
        yield
    finally:
        sampling.T = logit_processors.T = real


def build_cpu_vm(vocab: int, logit_processors: bool = False):
    """attach_sampler (+ attach_logit_processors) on a BlockBuilder, built with webslm's own
    Relax pipeline for the llvm target."""
    import tvm
    from tvm import relax

    from webslm.compile.logit_processors import attach_logit_processors
    from webslm.compile.lowering import cpu_target, make_pipeline
    from webslm.compile.sampling import attach_sampler

    bb = relax.BlockBuilder()
    with _serial_tir():
        attach_sampler(bb, vocab)
        if logit_processors:
            attach_logit_processors(bb)
    target = cpu_target()
    ex = relax.build(bb.finalize(), target, relax_pipeline=make_pipeline(target, {}))
    return relax.VirtualMachine(ex, tvm.cpu())


class Kernels:
    """Calls the compiled functions with NumPy in, NumPy out (WebLLM's argument order)."""

    def __init__(self, vm):
        self.vm = vm

    @staticmethod
    def _t(a):
        import tvm
        return tvm.runtime.tensor(np.ascontiguousarray(a))

    def softmax(self, logits, temperature):
        return self.vm["softmax_with_temperature"](self._t(logits.astype(np.float32)),
                                                   self._t(temperature.astype(np.float32))).numpy()

    def argsort(self, probs):
        out = self.vm["argsort_probs"](self._t(probs.astype(np.float32)))
        return out[0].numpy(), out[1].numpy()

    def sample(self, probs, uniform, rows, top_p):
        """argsort_probs then sample_with_top_p, as WebLLM calls them."""
        passed = self.vm["argsort_probs"](self._t(probs.astype(np.float32)))
        return self.vm["sample_with_top_p"](
            passed[0], passed[1], self._t(np.asarray(uniform, np.float32)),
            self._t(np.asarray(rows, np.int32)), self._t(np.asarray(top_p, np.float32))).numpy()

    def inplace(self, name, logits, *args):
        """Run an apply_*_inplace function; return the logits it edited."""
        buf = self._t(logits.astype(np.float32))
        self.vm[name](buf, *[self._t(a) for a in args])
        return buf.numpy()


@pytest.fixture(scope="module")
def kernels():
    """One CPU build per vocabulary size, made on first use and kept for the module."""
    cache: dict[int, Kernels] = {}

    def get(vocab: int) -> Kernels:
        if vocab not in cache:
            cache[vocab] = Kernels(build_cpu_vm(vocab, logit_processors=(vocab == 1000)))
        return cache[vocab]

    return get


# --- inputs ---------------------------------------------------------------------------------

def random_logits(rng, batch, vocab, scale=3.0):
    return (rng.standard_normal((batch, vocab)) * scale).astype(np.float32)


def peaked_probs(vocab: int, seed: int = 7) -> np.ndarray:
    """A next-token-like distribution: ~12 likely tokens over a long tail; top-p 0.9 keeps a
    handful of tokens that each hold >= 2% of the mass (so an off-by-one cutoff shows)."""
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal(vocab)
    logits[rng.choice(vocab, 12, replace=False)] += np.linspace(9, 6, 12)
    p = np.exp(logits - logits.max())
    return (p / p.sum()).astype(np.float32)


def midway_top_p(row: np.ndarray, near: float) -> float:
    """A top_p half-way between the two cumulative sums (descending order) around `near`, so
    float32 vs float64 summation cannot move the cutoff."""
    cum = np.cumsum(np.sort(row.astype(np.float64))[::-1])
    k = int(np.searchsorted(cum, near))
    return float((cum[k - 1] + cum[k]) / 2) if k > 0 else float(cum[0] / 2)


# --- the statistic itself -------------------------------------------------------------------

@pytest.mark.parametrize("x, df, p", [(3.841459, 1, 0.05), (18.307038, 10, 0.05),
                                      (67.504807, 50, 0.05), (0.0, 4, 1.0), (7.779440, 4, 0.1)])
def test_chi2_survival_function_matches_tables(x, df, p):
    assert ref.chi2_sf(x, df) == pytest.approx(p, rel=1e-5)


@pytest.mark.parametrize("x", [0.5, 3.0, 23.5, 60.0])
def test_chi2_survival_function_closed_forms(x):
    """df=1: erfc(sqrt(x/2)); df=2: exp(-x/2); both deep into the 1e-6 tail."""
    assert ref.chi2_sf(x, 1) == pytest.approx(math.erfc(math.sqrt(x / 2)), rel=1e-9)
    assert ref.chi2_sf(x, 2) == pytest.approx(math.exp(-x / 2), rel=1e-9)


# --- softmax_with_temperature ---------------------------------------------------------------

@compiles
@pytest.mark.parametrize("vocab", VOCABS)
def test_softmax_with_temperature(kernels, vocab):
    """Several temperatures in one batch (one per row), two positions per row, -inf logits and
    the lowest float (what the bitmask writes) get probability exactly 0."""
    rng = np.random.default_rng(vocab)
    temps = np.array([0.25, 0.7, 1.0, 1.5], np.float32)
    logits = rng.standard_normal((4, 2, vocab)).astype(np.float32) * 4
    if vocab > 1:
        logits[0, 0, ::3] = -np.inf
        logits[1, 1, 1::2] = ref.F32_LOWEST
        logits[0, 0, 1] = max(logits[0, 0, 1], 0.0)  # keep one finite logit in that row
    out = kernels(vocab).softmax(logits, temps)
    expect = ref.softmax_ref(logits, temps)
    # float32 summation over ~50k terms moves a whole row by up to ~1e-4 relative
    rtol = 2e-5 if vocab <= 1000 else 2e-4
    np.testing.assert_allclose(out, expect, rtol=rtol, atol=1e-9)
    assert np.all(out[~np.isfinite(logits) | (logits == ref.F32_LOWEST)] == 0)
    np.testing.assert_allclose(out.sum(-1), 1.0, rtol=rtol)


@compiles
@pytest.mark.parametrize("vocab", [3, 1000])
def test_softmax_at_webllm_minimum_temperature_is_one_hot(kernels, vocab):
    """WebLLM clamps temperature to >= 1e-6: the result must be one-hot at the argmax, not NaN."""
    logits = random_logits(np.random.default_rng(1), 2, vocab)[:, None, :]
    out = kernels(vocab).softmax(logits, np.full(2, 1e-6, np.float32))[:, 0]
    assert np.array_equal(out, np.eye(vocab, dtype=np.float32)[logits[:, 0].argmax(-1)])


# --- argsort_probs and sample_with_top_p: exact --------------------------------------------

@compiles
def test_argsort_probs_passes_the_probabilities_on(kernels):
    """Nothing is sorted: both outputs are the probabilities (sample_with_top_p's input)."""
    probs = ref.softmax_ref(random_logits(np.random.default_rng(1), 2, 1000)[:, None],
                            np.ones(2))[:, 0].astype(np.float32)
    first, second = kernels(1000).argsort(probs)
    assert np.array_equal(first, probs) and np.array_equal(second, probs)


def _exact_case(k: Kernels, probs: np.ndarray, top_ps, n_random: int, seed: int):
    """Sample every row at every top_p with fixed edge-case and random uniforms; compare
    draw by draw with the reference."""
    rng = np.random.default_rng(seed)
    edge = [0.0, np.nextafter(np.float32(1), np.float32(0)), 0.5]
    uniform = np.concatenate([edge, rng.random(n_random)]).astype(np.float32)
    for p in top_ps:
        rows = np.repeat(np.arange(len(probs)), len(uniform)).astype(np.int32)
        u = np.tile(uniform, len(probs))
        top_p = np.full(len(probs), p, np.float32)
        got = k.sample(probs, u, rows, top_p)
        ok, msg = ref.check_top_p_exact(got, probs, u, rows, top_p)
        assert ok, f"top_p={p}: {msg}"


@compiles
@pytest.mark.parametrize("vocab", VOCABS)
def test_top_p_sample_matches_reference_draw_by_draw(kernels, vocab):
    """top_p from WebLLM's floor (1e-5) to 1 on three rows (softmax of random logits at two
    temperatures, and many exact ties and zeros); u includes 0, the largest float32 below 1
    and 0.5."""
    rng = np.random.default_rng(vocab + 2)
    logits = random_logits(rng, 2, vocab)[:, None]
    soft = ref.softmax_ref(logits, np.array([0.7, 1.3]))[:, 0]
    tied = rng.integers(0, 8, vocab).astype(np.float64)
    tied[0] = 8
    probs = np.concatenate([soft, (tied / tied.sum())[None]]).astype(np.float32)
    n_random = 200 if vocab > 5000 else 500
    _exact_case(kernels(vocab), probs, [1e-5, 0.3, 0.9, 0.999, 1.0], n_random, vocab)


@compiles
@pytest.mark.parametrize("vocab", [3, 1000, 49157])
def test_top_p_boundary_keeps_exactly_one_then_two(kernels, vocab):
    """top_p = the largest probability (as float32) is the largest p that keeps exactly one
    token: every draw is the argmax. The next float32 up keeps two: both top tokens appear."""
    rng = np.random.default_rng(vocab + 3)
    probs = ref.softmax_ref(random_logits(rng, 1, vocab, 1.0)[:, None], np.ones(1))[:, 0]
    probs = probs.astype(np.float32)
    first, second = np.argsort(-probs[0], kind="stable")[:2]
    k = kernels(vocab)
    u = np.linspace(0, 1, 101, endpoint=False).astype(np.float32)
    rows = np.zeros(len(u), np.int32)
    one = k.sample(probs, u, rows, probs[:, first])
    assert set(one.tolist()) == {int(first)}
    above = np.nextafter(probs[:, first], np.float32(2))
    two = k.sample(probs, u, rows, above)
    assert set(two.tolist()) == {int(first), int(second)}
    ok, msg = ref.check_top_p_exact(two, probs, u, rows, above)
    assert ok, msg


@compiles
def test_greedy_one_hot_and_an_exact_tie(kernels):
    """What WebLLM's greedy decoding (temperature clamped to 1e-6) hands the sampler: one
    probability 1 among zeros always gives that token, at any top_p; two exact halves
    split u at 0.5 in token-id order."""
    k = kernels(49157)
    probs = np.zeros((2, 49157), np.float32)
    probs[0, 31337] = 1.0
    probs[1, [40000, 7]] = 0.5
    u = np.array([0.0, 0.25, 0.49, 0.5, 0.75, np.nextafter(np.float32(1), np.float32(0))],
                 np.float32)
    for p in (1e-5, 0.9, 1.0):
        assert set(k.sample(probs, u, np.zeros(6, np.int32), [p, p]).tolist()) == {31337}
        assert k.sample(probs, u, np.ones(6, np.int32), [p, p]).tolist() == [7] * 3 + [40000] * 3


@compiles
def test_top_p_with_tied_probabilities(kernels):
    """Dyadic probabilities (exact in float32) with ties straddling the cutoff: a tie at the
    threshold keeps every tied token, so top_p = 0.25 keeps both 0.25 tokens."""
    vocab = 1000
    probs = np.zeros((1, vocab), np.float32)
    probs[0, [700, 40]] = 0.25                 # tie
    probs[0, [5, 999, 300, 6]] = 0.0625        # four-way tie
    probs[0, 400:656] = 0.25 / 256             # long flat tail, 256 tokens
    assert probs.sum(dtype=np.float64) == 1.0
    k = kernels(vocab)
    u = np.random.default_rng(4).random(400).astype(np.float32)
    rows = np.zeros(len(u), np.int32)
    assert set(k.sample(probs, u, rows, [0.25]).tolist()) == {40, 700}
    assert set(k.sample(probs, u, rows, [0.55]).tolist()) == {40, 700, 5, 6, 300, 999}
    for p in (0.25, 0.5, 0.6, 0.75, 0.8, 1.0):
        got = k.sample(probs, u, rows, [p])
        ok, msg = ref.check_top_p_exact(got, probs, u, rows, [p])
        assert ok, f"top_p={p}: {msg}"


@compiles
def test_top_p_rows_are_independent(kernels):
    """sample_indices routes each draw to its own row and that row's top_p."""
    rng = np.random.default_rng(5)
    probs = np.stack([peaked_probs(1000, s) for s in (1, 2, 3)])
    k = kernels(1000)
    rows = rng.integers(0, 3, 600).astype(np.int32)
    u = rng.random(600).astype(np.float32)
    top_p = np.array([0.5, 1.0, 1e-5], np.float32)
    got = k.sample(probs, u, rows, top_p)
    ok, msg = ref.check_top_p_exact(got, probs, u, rows, top_p)
    assert ok, msg
    assert np.all(got[rows == 2] == probs[2].argmax())


# --- sample_with_top_p: distribution --------------------------------------------------------

@pytest.fixture(scope="module")
def distribution_case(kernels):
    """Logits -> compiled softmax (T=0.8); DRAWS fixed-seed uniforms."""
    k = kernels(1000)
    logits = np.log(peaked_probs(1000))[None, None]
    probs = k.softmax(logits, np.array([0.8], np.float32))[:, 0]
    uniform = np.random.default_rng(20_000).random(DRAWS).astype(np.float32)
    return k, probs, uniform


@compiles
@pytest.mark.parametrize("near", [0.5, 0.9, 1.0])
def test_top_p_empirical_distribution(distribution_case, near):
    """DRAWS draws in one batched call against the renormalised top-p distribution (G-test,
    alpha = 1e-6: a correct kernel fails with probability <= 1e-6 for a random seed; the seed
    is fixed, so the result is deterministic)."""
    k, probs, uniform = distribution_case
    top_p = 1.0 if near == 1.0 else midway_top_p(probs[0], near)
    draws = k.sample(probs, uniform, np.zeros(DRAWS, np.int32), [top_p])
    ok, msg = ref.check_top_p_draws(draws, probs[0], top_p, ALPHA)
    assert ok, msg


@pytest.fixture(scope="module")
def reference_case():
    """The distribution case computed by the NumPy reference alone (no compiler needed)."""
    logits = np.log(peaked_probs(1000))[None, None]
    probs = ref.softmax_ref(logits, np.array([0.8]))[:, 0].astype(np.float32)
    uniform = np.random.default_rng(20_000).random(DRAWS).astype(np.float32)
    return probs, uniform


@pytest.mark.parametrize("broken", [ref.broken_top_p_drop_last, ref.broken_top_p_no_renorm])
def test_checker_rejects_broken_top_p(reference_case, broken):
    """The test of the test: the checkers used on the kernels, fed the same probabilities and
    DRAWS uniforms, reject a sampler with an off-by-one cutoff and one that skips
    renormalisation, while the reference sampler itself passes."""
    probs, uniform = reference_case
    top_p = [midway_top_p(probs[0], 0.9)]
    rows = np.zeros(DRAWS, np.int32)
    good = ref.top_p_sample_ref(probs, uniform, rows, top_p)
    assert ref.check_top_p_draws(good, probs[0], top_p[0], ALPHA)[0]
    assert ref.check_top_p_exact(good, probs, uniform, rows, top_p)[0]
    bad = broken(probs, uniform, rows, top_p)
    ok, msg = ref.check_top_p_draws(bad, probs[0], top_p[0], ALPHA)
    assert not ok, f"the distribution checker accepted {broken.__name__}: {msg}"
    assert not ref.check_top_p_exact(bad[:2000], probs, uniform[:2000], rows[:2000], top_p)[0]


# --- logit processors -----------------------------------------------------------------------

@compiles
def test_apply_logit_bias_inplace(kernels):
    """Biases on two rows (pos2seq is the row), positive and negative; other logits untouched."""
    rng = np.random.default_rng(6)
    logits = random_logits(rng, 2, 1000)
    pos2seq = np.array([0, 0, 1, 1, 1], np.int32)
    tokens = np.array([3, 999, 3, 0, 512], np.int32)
    bias = np.array([5.0, -100.0, -2.5, 0.75, 1e-3], np.float32)
    got = kernels(1000).inplace("apply_logit_bias_inplace", logits, pos2seq, tokens, bias)
    np.testing.assert_allclose(got, ref.logit_bias_ref(logits, pos2seq, tokens, bias),
                               rtol=1e-6, atol=1e-6)
    untouched = np.ones_like(logits, bool)
    untouched[pos2seq, tokens] = False
    assert np.array_equal(got[untouched], logits[untouched])


@compiles
def test_apply_penalty_inplace(kernels):
    """Presence, frequency and repetition penalties (per sequence) on positive and negative
    logits; seq_ids maps sequence 0 to row 2 and sequence 1 to row 0; row 1 is untouched."""
    rng = np.random.default_rng(7)
    logits = random_logits(rng, 3, 1000)
    logits[2, 10], logits[2, 11], logits[0, 10] = 2.0, -2.0, 0.25
    seq_ids = np.array([2, 0], np.int32)
    pos2seq = np.array([0, 0, 0, 1, 1, 1], np.int32)
    tokens = np.array([10, 11, 999, 10, 0, 777], np.int32)
    counts = np.array([1, 3, 7, 2, 1, 10], np.int32)
    penalties = np.array([[0.5, 0.25, 1.3],    # presence, frequency, repetition
                          [0.0, 0.0, 1.0 / 0.8]], np.float32)
    args = (seq_ids, pos2seq, tokens, counts, penalties)
    got = kernels(1000).inplace("apply_penalty_inplace", logits, *args)
    np.testing.assert_allclose(got, ref.penalty_ref(logits, *args), rtol=1e-6, atol=1e-6)
    assert np.array_equal(got[1], logits[1])


@compiles
@pytest.mark.parametrize("vocab", [1, 33, 1000, 49157])
def test_apply_bitmask_inplace(kernels, vocab):
    """Random masks packed 32 tokens per int32 word (bit 31 set: negative words), vocab not a
    multiple of 32; rows named by seq_ids are masked, others untouched; after the compiled
    softmax the masked tokens have probability 0."""
    rng = np.random.default_rng(vocab + 8)
    logits = random_logits(rng, 3, vocab)
    allowed = rng.random((3, vocab)) < 0.3
    allowed[:, 0] = True  # at least one allowed token per row
    if vocab > 31:
        allowed[:, 31] = True
    bitmask = ref.pack_bitmask(allowed)
    assert bitmask.shape == (3, (vocab + 31) // 32)
    seq_ids = np.array([2, 0], np.int32)
    got = kernels(1000).inplace("apply_bitmask_inplace", logits, seq_ids, bitmask)
    assert np.array_equal(got, ref.bitmask_ref(logits, seq_ids, allowed))
    if vocab == 1000:
        probs = kernels(1000).softmax(got[:, None], np.array([0.5, 1.0, 2.0], np.float32))[:, 0]
        assert np.all(probs[[2, 0]][~allowed[[2, 0]]] == 0)
        assert np.all(probs[[2, 0]][allowed[[2, 0]]] > 0)


# --- the same kernels on WebGPU (headless Chromium, SwiftShader) ----------------------------

WEBGPU_VOCAB = 49157
# Each draw is a workgroup that reads the whole row several times: 20,000 of them take
# SwiftShader minutes (WebLLM draws one per token). The CPU tests run the full DRAWS.
WEBGPU_DRAWS = 2000


@pytest.fixture(scope="module")
def webgpu_lib(tmp_path_factory):
    """attach_sampler + attach_logit_processors built for WebGPU exactly as compile_model does
    (webslm's pipeline, webgpu target) and linked with the cached web runtime (~30 s)."""
    import os
    import shutil

    from webslm.bench.chromium import CHROMIUM
    if shutil.which("emcc") is None or not os.access(CHROMIUM, os.X_OK):
        pytest.skip("needs emcc and Chromium")
    pytest.importorskip("playwright.sync_api")
    from tvm import relax

    from webslm.compile.logit_processors import attach_logit_processors
    from webslm.compile.lowering import make_pipeline, webgpu_target
    from webslm.compile.sampling import attach_sampler
    from webslm.compile.webruntime import link_model_library

    bb = relax.BlockBuilder()
    attach_sampler(bb, WEBGPU_VOCAB)
    attach_logit_processors(bb)
    target = webgpu_target()
    ex = relax.build(bb.finalize(), target, relax_pipeline=make_pipeline(target, {}))
    return link_model_library(ex, tmp_path_factory.mktemp("sampler") / "sampler-webgpu.wasm")


@compiles
@pytest.mark.browser
def test_kernels_on_webgpu_match_reference(webgpu_lib):
    """One page load runs: softmax at two temperatures, argsort_probs (passes the rows on),
    top-p draw by draw (ties and a softmax row at p = 0.9 / 1.0, then the exactly-one /
    exactly-two edge), a greedy one-hot row, WEBGPU_DRAWS draws against the top-p
    distribution (G-test, ALPHA), bitmask, penalties and logit bias; every output is
    compared with the NumPy reference on the CPU."""
    from sampler_webgpu import case, run_kernels

    v, rng = WEBGPU_VOCAB, np.random.default_rng(49)
    logits = rng.standard_normal((2, 1, v)).astype(np.float32) * 4
    logits[1, 0, 1::2] = ref.F32_LOWEST
    temps = np.array([0.7, 1.3], np.float32)
    tied = rng.integers(0, 8, v).astype(np.float32)
    soft = ref.softmax_ref(logits[:1], temps[:1])[0, 0]
    probs = np.stack([tied / tied.sum(), soft]).astype(np.float32)
    u = np.concatenate([[0.0, np.nextafter(np.float32(1), np.float32(0)), 0.5],
                        rng.random(253)]).astype(np.float32)
    rows = (np.arange(len(u)) % 2).astype(np.int32)
    top_p = np.array([0.9, 1.0], np.float32)
    top2 = np.argsort(-probs, axis=1, kind="stable")[:, :2]
    edge_p = np.array([probs[0, top2[0, 0]], np.nextafter(probs[1, top2[1, 0]], np.float32(2))],
                      np.float32)
    one_hot = np.zeros((1, v), np.float32)
    one_hot[0, v - 2] = 1.0
    peaked = peaked_probs(v)[None]
    dist_p = midway_top_p(peaked[0], 0.9)
    dist_u = np.random.default_rng(20_000).random(WEBGPU_DRAWS).astype(np.float32)
    work = random_logits(rng, 3, v)
    allowed = rng.random((3, v)) < 0.3
    allowed[:, 0] = True
    seq_ids = np.array([2, 0], np.int32)
    pen = (seq_ids, np.array([0, 0, 1, 1], np.int32), np.array([10, v - 1, 10, 0], np.int32),
           np.array([1, 3, 2, 7], np.int32), np.array([[0.5, 0.25, 1.3], [0.0, 0.1, 1.25]],
                                                      np.float32))
    bias = (np.array([0, 1, 1], np.int32), np.array([3, 3, v - 1], np.int32),
            np.array([5.0, -2.5, 0.75], np.float32))

    outs, adapter, log = run_kernels(webgpu_lib, [
        case("softmax_with_temperature", logits, temps),
        case("argsort_probs", probs, tuple_out=True),
        case("sample_with_top_p", probs, probs, u, rows, top_p),
        case("sample_with_top_p", probs, probs, u, rows, edge_p),
        case("sample_with_top_p", one_hot, one_hot, u, np.zeros_like(rows),
             np.array([0.9], np.float32)),
        case("sample_with_top_p", peaked, peaked, dist_u, np.zeros(WEBGPU_DRAWS, np.int32),
             np.array([dist_p], np.float32)),
        case("apply_bitmask_inplace", work, seq_ids, ref.pack_bitmask(allowed), inplace=True),
        case("apply_penalty_inplace", work, *pen, inplace=True),
        case("apply_logit_bias_inplace", work[:2], *bias, inplace=True),
    ])
    print(adapter, log[-1])
    ((soft_out,), (passed_a, passed_b), (draws,), (edge,), (greedy,), (dist,), (masked,),
     (penal,), (biased,)) = outs
    np.testing.assert_allclose(soft_out, ref.softmax_ref(logits, temps), rtol=2e-4, atol=1e-9)
    assert np.all(soft_out[logits == ref.F32_LOWEST] == 0)
    assert np.array_equal(passed_a, probs) and np.array_equal(passed_b, probs)
    ok, msg = ref.check_top_p_exact(draws, probs, u, rows, top_p)
    assert ok, msg
    ok, msg = ref.check_top_p_exact(edge, probs, u, rows, edge_p)
    assert ok, msg
    assert set(edge[rows == 0].tolist()) <= set(np.nonzero(probs[0] == edge_p[0])[0].tolist())
    assert set(edge[rows == 1].tolist()) == set(top2[1].tolist())
    assert set(greedy.tolist()) == {v - 2}
    ok, msg = ref.check_top_p_draws(dist, peaked[0], dist_p, ALPHA)
    assert ok, msg
    ok, msg = ref.check_bitmask(masked, work, seq_ids, allowed)
    assert ok, msg
    np.testing.assert_allclose(penal, ref.penalty_ref(work, *pen), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(biased, ref.logit_bias_ref(work[:2], *bias), rtol=1e-6, atol=1e-6)
