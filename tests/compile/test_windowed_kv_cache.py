"""The windowed KV cache's sizes, the TVM source edits it rests on, and which builds get it.
That it computes Gemma 3's attention exactly while freeing what slides out is held in
WebLLM by tests/pipeline/test_webllm_archs.py (a tiny Gemma whose run outgrows the cache)."""

from __future__ import annotations

import shutil

import pytest
from tvm import tirx
from tvm.sym.analyzer import Analyzer

from webslm.compile.spec import WEBLLM_PAGE_SIZE, keep_tokens, window_cache_tokens
from webslm.compile.webruntime import patches, runtime
from webslm.errors import WebslmError


def test_one_sequence_keeps_its_window_and_several_keep_a_chunk_more():
    assert keep_tokens(512, 512, 1) == 512
    assert keep_tokens(512, 512, 4) == 512 + 511
    assert keep_tokens(16, 1, 3) == 16


@pytest.mark.parametrize("batch", [1, 2])
def test_capacity_is_whole_pages_covering_the_worst_step(batch):
    window, chunk, page = 512, 512, WEBLLM_PAGE_SIZE
    tokens = window_cache_tokens(window, batch, chunk, page)
    per_sequence = tokens // batch
    assert per_sequence % page == 0
    # entries start up to a page in, then a chunk is appended before the slide frees pages
    assert page - 1 + keep_tokens(window, chunk, batch) + chunk <= per_sequence
    assert per_sequence - page < page - 1 + keep_tokens(window, chunk, batch) + chunk


def test_sizes_are_tvm_expressions_too():
    """The compiled create function computes them from WebLLM's runtime arguments."""
    b, c, p = (tirx.Var(n, "int64") for n in ("b", "c", "p"))
    expr = window_cache_tokens(512, b, c, p)
    for batch, chunk in ((1, 512), (3, 128)):
        analyzer = Analyzer()
        for var, value in ((b, batch), (c, chunk), (p, WEBLLM_PAGE_SIZE)):
            analyzer.bind(var, tirx.IntImm("int64", value))
        assert int(analyzer.simplify(expr)) == window_cache_tokens(
            512, batch, chunk, WEBLLM_PAGE_SIZE)


def test_gemma_sliding_layers_hold_their_window_and_a_chunk():
    from webslm.arch.gemma3.config import SLIDING, Gemma3Config

    cfg = Gemma3Config.from_hf({
        "model_type": "gemma3_text", "hidden_size": 640, "intermediate_size": 2048,
        "num_hidden_layers": 18, "num_attention_heads": 4, "num_key_value_heads": 1,
        "head_dim": 256, "vocab_size": 262144, "sliding_window": 512,
        "rms_norm_eps": 1e-6, "max_position_embeddings": 32768})
    held = cfg.kv_positions(4096, 512)
    kept = window_cache_tokens(512, 1, 512, WEBLLM_PAGE_SIZE)
    assert kept == 1040
    assert held == [kept if t == SLIDING else 4096 for t in cfg.layer_types]
    assert cfg.kv_positions(300, 512) == [300] * 18  # a context inside the window


def _staged_cache_source(tmp_path):
    source = runtime._tvm_dir() / patches.EDITS[0].path
    staged = tmp_path / patches.EDITS[0].path
    staged.parent.mkdir(parents=True)
    shutil.copy2(source, staged)
    return staged


def test_the_edits_fit_the_pinned_tvm(tmp_path):
    staged = _staged_cache_source(tmp_path)
    patches.apply_edits(tmp_path)
    text = staged.read_text()
    assert all(edit.new in text and edit.old not in text for edit in patches.EDITS)


def test_a_tvm_without_that_code_is_refused(tmp_path):
    staged = _staged_cache_source(tmp_path)
    staged.write_text(staged.read_text().replace(patches.EDITS[0].old, "changed upstream"))
    with pytest.raises(WebslmError) as err:
        patches.apply_edits(tmp_path)
    assert "paged_kv_cache.cc" in str(err.value) and "make install" in err.value.fix


def test_the_edits_and_webslm_sources_name_the_runtime_cache_entry(monkeypatch):
    before = runtime.cache_key()
    monkeypatch.setattr(patches, "EDITS", patches.EDITS[:-1])
    assert runtime.cache_key() != before
