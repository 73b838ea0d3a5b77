"""`webslm bench --profile`: dispatches and modeled bytes per phase of a real WebLLM run,
checked against the compiled model's own kernel calls (the build manifest's
`kernel_calls`), never against hard-coded counts."""

import json

import pytest

from chromium_rig import BENCH_FLAG
from webslm.artifacts.manifest import read_manifest
from webslm.bench.costmodel import GpuSpec, estimate
from webslm.bench.profile import dispatches_per_token, kernel_function, summarize_phases
from webslm.bench.profile_report import check_against_compiled
from webslm.cli import main


def _one_decode_step(layers: int, calls: dict, weight_buffers: list, step: list) -> dict:
    """A profile of one greedy decode step of a toy model (hidden 8, 2 heads, 1 KV head)."""
    return {"model_config": {"num_hidden_layers": layers, "hidden_size": 8,
                             "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 10},
            "quantization": "q4f32_1", "kernel_calls": calls, "weight_buffers": weight_buffers,
            "prefill_chunk": 64,
            "phases": [{"phase": "decode", "sampling": "greedy", "tokens": 1, "seconds": 1,
                        "dispatches": step}]}


def test_kernel_names_map_to_their_primfuncs():
    assert kernel_function("rms_norm2_kernel") == "rms_norm2"
    assert kernel_function("softmax_kernel_1") == "softmax"


def test_cost_model_adds_bytes_and_dispatch_time():
    gpu = GpuSpec("g", bandwidth_gb_s=100, dispatch_us=10, source="-")
    e = estimate(bytes_per_token=1e9, floor_bytes=0.5e9, dispatches=1000, gpu=gpu)
    assert e.tokens_per_s == pytest.approx(1 / (0.01 + 0.01))
    assert e.dispatch_share == pytest.approx(0.5) and e.excess_share == pytest.approx(0.25)


def _buf(i, size, access="read-only-storage"):
    return {"id": i, "size": size, "access": access}


def test_bytes_are_modeled_per_buffer_role():
    """Two layers; weights 0-2, KV pages 10-11 (one per layer, one size), scratch 20."""
    calls = {"embed": ["take"],
             "decode": ["mm", "packed:vm.builtin.attention_kv_cache_attention_with_fused_qkv"] * 2,
             "softmax_with_temperature": ["softmax"], "argsort_probs": [], "sample_with_top_p": []}
    step = [{"kernel": "take_kernel", "workgroups": 1, "buffers": [_buf(0, 1000), _buf(30, 8, "storage")]}]
    for layer in range(2):
        step += [{"kernel": "mm_kernel", "workgroups": 4, "buffers": [_buf(1 + layer, 500)]},
                 {"kernel": "attn_kernel", "workgroups": 1,
                  "buffers": [_buf(10 + layer, 4096), _buf(20, 640, "storage")]}]
    step.append({"kernel": "softmax_kernel", "workgroups": 1, "buffers": [_buf(31, 40, "storage")]})
    raw = _one_decode_step(2, calls, [0, 1, 2], step)
    (s,) = summarize_phases(raw)
    kv_position_layer = 2 * 1 * 4 * 4  # K and V, one head of 4 floats
    assert s["dispatches"] == 6 and s["sampling_dispatches"] == 1 and s["dispatches_per_layer"] == 2
    assert s["weight_bytes"] == 2000
    assert s["kernels"]["take_kernel"]["read"] == 100  # a gather reads one row of ten
    assert s["kernels"]["attn_kernel"]["read"] == 2 * 1 * kv_position_layer  # one position
    assert s["kernels"]["attn_kernel"]["written"] == 2 * 10  # scratch: 1/64 of 640 bytes
    assert s["floor_bytes"] == 2000 + 2 * kv_position_layer
    check = check_against_compiled(raw, s)
    assert check["matches"] and check["kv_cache_dispatches_per_attention_call"] == 1


def test_a_sliding_window_model_matches_its_compiled_calls():
    """Gemma 3's decode: it rotates q and k itself, so it asks the cache for the step's
    positions (a host-side call, no kernel) before its layers; its sliding layers' attention
    runs the cache's sliding-window kernel, the global ones the plain one (three cache kernels
    a call either way); a PrimFunc that launches two kernels is listed twice."""
    layers = ["sliding", "sliding", "global"]
    attn = "packed:vm.builtin.attention_kv_cache_attention_with_fused_qkv"
    calls = {"embed": ["take"],
             "decode": ["packed:vm.builtin.attention_kv_cache_get_query_positions"]
             + ["mm", "split", "split", attn] * len(layers),
             "softmax_with_temperature": ["softmax"], "argsort_probs": [], "sample_with_top_p": []}
    step = [{"kernel": "take_kernel", "workgroups": 1, "buffers": []}]
    for i, kind in enumerate(layers):
        step += [{"kernel": "mm_kernel", "workgroups": 4, "buffers": [_buf(1 + i, 500)]},
                 {"kernel": "split_kernel", "workgroups": 1, "buffers": []},
                 {"kernel": "split_kernel_1", "workgroups": 1, "buffers": []},
                 {"kernel": "fused_rope_kernel", "workgroups": 1, "buffers": []},
                 {"kernel": "tir_kv_cache_transpose_append_kernel", "workgroups": 1,
                  "buffers": [_buf(10 + i, 4096, "storage")]},
                 {"kernel": "batch_decode_paged_kv_sliding_window_kernel" if kind == "sliding"
                  else "batch_decode_paged_kv_kernel", "workgroups": 1,
                  "buffers": [_buf(10 + i, 4096)]}]
    step.append({"kernel": "softmax_kernel", "workgroups": 1, "buffers": []})
    raw = _one_decode_step(3, calls, [1, 2, 3], step)
    (s,) = summarize_phases(raw)
    check = check_against_compiled(raw, s)
    assert check["matches"], check
    assert check["attention_calls"] == 3 and check["kv_cache_dispatches_per_attention_call"] == 3
    assert check["compiled_dispatches"] == s["dispatches"] == dispatches_per_token(calls) == 20
    assert s["dispatches_per_layer"] == 6 and s["outside_layers"] == 2  # 2 sliding + 1 global


@pytest.mark.slow
@pytest.mark.browser
def test_profile_counts_what_the_compiled_model_calls(smollm2_artifact, tmp_path, capsys):
    out = tmp_path / "results"
    assert main(["bench", str(smollm2_artifact), "--profile", "--contexts", "2",
                 "--new-tokens", "1", "--out", str(out), "--timeout", "1200", BENCH_FLAG]) == 0
    assert "modeled tok/s" in capsys.readouterr().out
    (report,) = out.glob("profile-*.json")
    summary = json.loads(report.read_text())["summary"]
    manifest = read_manifest(smollm2_artifact)["build"]
    calls = manifest["kernel_calls"]
    check = summary["check"]
    assert check["matches"], check["mismatches"]
    layers = summary["layers"]
    assert check["attention_calls"] == layers
    sampler = sum(len(calls[f]) for f in ("softmax_with_temperature", "argsort_probs",
                                          "sample_with_top_p"))
    decode = [p for p in summary["phases"] if p["phase"] == "decode"]
    assert [p["sampling"] for p in decode] == ["greedy", "t0.7_p0.9"]
    for p in decode:
        # one dispatch per PrimFunc call of embed + decode + sampler, plus the cache's own
        assert p["dispatches"] == check["compiled_dispatches"]
        assert p["sampling_dispatches"] == sampler
        assert p["dispatches_per_layer"] * layers + p["outside_layers"] == p["dispatches"]
        assert p["weight_bytes"] == pytest.approx(manifest["param_bytes"], rel=1e-3)
        assert p["modeled_bytes"] >= p["floor_bytes"] > p["weight_bytes"]
    assert {m["gpu"] for m in summary["estimates"]} >= {"NVIDIA H200 (Vulkan)"}
    assert all(0 < m["tokens_per_s"] < m["floor_tokens_per_s"] for m in summary["estimates"])
    assert (out / report.name.replace(".json", ".png")).stat().st_size > 1000
