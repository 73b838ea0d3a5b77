"""Benchmark arithmetic: roofline bytes and fractions, medians and spreads, the reports."""

import json

import pytest

from webslm.bench.report import spread, summarize, write_reports
from webslm.bench.roofline import bytes_per_token, kv_bytes_per_position, roofline_fraction

SMOLLM2 = {"num_hidden_layers": 30, "num_key_value_heads": 3, "num_attention_heads": 9,
           "hidden_size": 576, "head_dim": 64}


def test_kv_bytes_count_keys_and_values_of_every_layer():
    assert kv_bytes_per_position(SMOLLM2, "float32") == 2 * 30 * 3 * 64 * 4
    no_head_dim = {k: v for k, v in SMOLLM2.items() if k != "head_dim"}
    assert kv_bytes_per_position(no_head_dim, "float16") == 2 * 30 * 3 * 64 * 2
    assert bytes_per_token(1000, SMOLLM2, "float16", 10) == 1000 + 10 * 2 * 30 * 3 * 64 * 2


def test_roofline_fraction():
    assert roofline_fraction(10**9, 5.0, 10 * 10**9) == pytest.approx(0.5)
    assert roofline_fraction(10**9, None, 1e9) is None and roofline_fraction(1, 1.0, None) is None


def test_spread_ignores_missing_runs():
    assert spread([3.0, None, 1.0, 2.0]) == {"median": 2.0, "min": 1.0, "max": 3.0, "n": 3}
    assert spread([None]) is None


def fake_raw():
    def run(engine, backend, i, decode):
        return {"run": i, "engine": engine, "backend": backend, "cold_load_s": 10.0 + i,
                "warm_load_s": 2.0, "gpu_buffer_bytes": 2**20, "js_heap_bytes": 2**21,
                "adapter": {"vendor": "google", "architecture": "swiftshader"},
                "bandwidth": {"gpu": {"bytes_per_s": 1e10, "method": "copy"},
                              "cpu": {"bytes_per_s": 2e10, "method": "set"}} if i == 0 else {},
                "contexts": [{"context": c, "ttft_s": 1.0, "prefill_tok_s": 100.0,
                              "decode_tok_s": decode / (1 + c / 1000)} for c in (16, 64)]}
    return {"model": "m-q4f32_1", "quantization": "q4f32_1", "gpu": False, "contexts": [16, 64],
            "new_tokens": 4, "toolchain": {"tvm": "x"}, "model_config": SMOLLM2,
            "weight_bytes": {"webllm": 84 * 2**20, "wllama": 98 * 2**20},
            "runs": [run("webllm", "webgpu", i, d) for i, d in enumerate((1.0, 3.0, 2.0))]
            + [run("wllama", "wasm", i, 10.0) for i in range(3)]}


def test_summary_takes_medians_and_the_right_bandwidth():
    s = summarize(fake_raw())
    webllm, wllama = s["engines"]["webllm"], s["engines"]["wllama"]
    assert webllm["cold_load_s"] == {"median": 11.0, "min": 10.0, "max": 12.0, "n": 3}
    assert webllm["contexts"][0]["decode_tok_s"]["median"] == pytest.approx(2.0 / 1.016)
    assert webllm["bandwidth"]["bytes_per_s"] == 1e10 and wllama["bandwidth"]["bytes_per_s"] == 2e10
    row = wllama["contexts"][1]
    expected = bytes_per_token(98 * 2**20, SMOLLM2, "float16", 64) * row["decode_tok_s"]["median"] / 2e10
    assert row["roofline_fraction"] == pytest.approx(expected)
    assert s["runs_per_engine"] == 3


def test_reports_are_written(tmp_path):
    paths = write_reports(fake_raw(), tmp_path / "out", "webslm bench m")
    data = json.loads(paths["json"].read_text())
    assert data["command"] == "webslm bench m" and set(data["summary"]["engines"]) == {"webllm", "wllama"}
    table = paths["markdown"].read_text()
    assert "`webslm bench m`" in table and "| webllm | webgpu | 11.0 (10.0-12.0)" in table
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def fake_cost():
    """A 30-layer build: gather, a GEMV and an attention call a layer, lm_head, 3 sampling."""
    from webslm.bench.decode_cost import cost

    calls = {"embed": ["gather"], "decode": ["gemv", "packed:vm.builtin.attention_kv_cache_"
                                             "attention_with_fused_qkv"] * 30 + ["lm_head"],
             "softmax_with_temperature": ["softmax"], "argsort_probs": ["argsort"],
             "sample_with_top_p": ["top_p"]}
    return cost("m-q4f32_1", calls, SMOLLM2, "q4f32_1", 84 * 2**20, 8)


def test_the_report_puts_the_builds_decode_cost_beside_the_engines(tmp_path):
    c = fake_cost()
    assert (c["dispatches"], c["per_layer"], c["sampling"]) == (1 + 30 + 1 + 3 * 30 + 3, 4, 3)
    paths = write_reports({**fake_raw(), "decode_cost": c}, tmp_path / "out", "webslm bench m")
    m3 = 1 / (c["floor_bytes"] / 400e9 + c["dispatches"] * 50e-6)
    table = paths["markdown"].read_text()
    assert "125 dispatches per decoded token (4 a layer x 30, 3 sampling)" in table
    m3_base = 1 / (c["floor_bytes"] / 100e9 + c["dispatches"] * 50e-6)
    assert f"Apple M3 Max (Metal) {m3:.1f}" in table
    assert f"Apple M3 (Metal) {m3_base:.1f}" in table
    summary = json.loads(paths["json"].read_text())["summary"]
    assert summary["decode_cost"]["modeled"][2]["tokens_per_s"] == pytest.approx(m3)
    assert "dispatches" not in write_reports(fake_raw(), tmp_path / "old", "x")[
        "markdown"].read_text()  # a build that records no kernel calls: no line


def test_webslm_bench_reports_the_decode_cost_of_the_build_it_ran(tmp_path, monkeypatch, capsys):
    """`webslm bench NAME` (no --profile) runs the engines and adds the build's own cost."""
    import webslm.bench.decode_cost as decode_cost
    import webslm.bench.runner as runner
    from webslm.cli import main

    monkeypatch.setattr(runner, "run_bench", lambda _req, say: {
        **fake_raw(), "artifact": str(tmp_path / "m-q4f32_1")})
    monkeypatch.setattr(decode_cost, "static_cost", lambda artifact: {
        **fake_cost(), "model_id": artifact.name})
    assert main(["bench", "m", "--engines", "webllm,wllama", "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "| wllama | wasm |" in out and "| webllm | webgpu |" in out
    assert "WebLLM build m-q4f32_1: 125 dispatches per decoded token" in out
