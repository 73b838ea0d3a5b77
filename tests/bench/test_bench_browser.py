"""The quick variant of `webslm bench`: all three engines (WebLLM, wllama, transformers.js on
our ONNX build) really run SmolLM2 in headless Chromium, on the browser tests' WebGPU
(tests/browser/chromium_rig.py: lavapipe where installed); this checks the results are
complete and well-formed, never how fast they are."""

import json

import pytest

from chromium_rig import BENCH_FLAG
from webslm.cli import main


def test_unknown_engines_are_refused(capsys, tmp_path):
    assert main(["bench", str(tmp_path), "--engines", "webllm,nope"]) == 2
    assert "unknown engine 'nope'" in capsys.readouterr().err


@pytest.mark.slow
def test_transformersjs_without_an_onnx_build_says_how_to_make_it(smollm2_artifact, tmp_path, capsys):
    assert main(["bench", str(smollm2_artifact), "--engines", "transformersjs",
                 "--dist", str(tmp_path)]) == 2
    assert "--backend cpu" in capsys.readouterr().err


def test_counts_must_be_positive(capsys, tmp_path):
    assert main(["bench", str(tmp_path), "--new-tokens", "0"]) == 2
    assert "at least 1" in capsys.readouterr().err


def test_missing_build_says_how_to_make_it(tmp_path, capsys):
    assert main(["bench", "smollm2-135m", "--dist", str(tmp_path)]) == 2
    assert "webslm build smollm2-135m" in capsys.readouterr().err


@pytest.mark.slow
def test_contexts_beyond_the_window_are_refused(smollm2_artifact, capsys):
    assert main(["bench", str(smollm2_artifact), "--contexts", "4096"]) == 2
    assert "no context length fits the 2048-token window" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.browser
def test_quick_bench_of_all_engines(smollm2_artifact, smollm2_onnx_dist, tmp_path, capsys):
    out = tmp_path / "results"
    assert main(["bench", str(smollm2_artifact), "--contexts", "8,4096", "--new-tokens", "3",
                 "--runs", "1", "--threads", "2", "--out", str(out), "--timeout", "1200",
                 "--dist", str(smollm2_onnx_dist),
                 "--engines", "webllm,wllama,transformersjs", BENCH_FLAG]) == 0
    printed = capsys.readouterr().out
    assert "skipping context 4096" in printed
    (report,) = out.glob("*.json")
    summary = json.loads(report.read_text())["summary"]
    assert summary["contexts"] == [8] and summary["new_tokens"] == 3
    for name, backend in (("webllm", "webgpu"), ("wllama", "wasm"), ("transformersjs", "wasm")):
        engine = summary["engines"][name]
        assert engine["backend"] == backend
        assert engine["cold_load_s"]["median"] > 0 and engine["warm_load_s"]["median"] > 0
        (ctx,) = engine["contexts"]
        assert ctx["context"] == 8 and ctx["decode_tok_s"]["median"] > 0
        assert ctx["prefill_tok_s"]["median"] > 0 and ctx["ttft_s"]["median"] > 0
        assert 0 < ctx["roofline_fraction"] < 1.5
        assert engine["bandwidth"]["bytes_per_s"] > 1e8
    assert summary["engines"]["webllm"]["gpu_buffer_bytes"]["median"] > 80 * 2**20  # weights
    raw = json.loads(report.read_text())["raw"]["runs"]
    assert raw[1]["contexts"][0]["prompt_tokens_seen"] == 8  # wllama read the same prompt
    assert raw[1]["contexts"][0]["threads"] == 2
    assert raw[2]["contexts"][0]["threads"] == 2  # transformers.js on 2 WASM threads
    assert len(raw[2]["contexts"][0]["token_ids"]) == 3  # exactly --new-tokens, end-of-text ignored
    assert (out / report.name.replace(".json", ".png")).stat().st_size > 1000
