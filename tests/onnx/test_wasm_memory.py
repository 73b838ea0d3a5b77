"""webslm/onnx/wasm_memory.py: the weights it predicts from config.json are the files the
exporter writes; a CPU build too large for a browser's WASM memory is left out, or, when
nothing is left, refused before anything is downloaded, with the context that would fit."""

from __future__ import annotations

import json

import pytest

from webslm.arch import published_config
from webslm.artifacts.files import onnx_data_filename
from webslm.artifacts.manifest import read_manifest
from webslm.cli import main
from webslm.onnx.wasm_memory import WASM32_BYTES, heap_bytes, largest_context, weight_bytes
from webslm.pipeline.onnx_build import MIN_CPU_CONTEXT, wasm_fit

PUBLISHED = ["llama-3.2-1b", "qwen2.5-1.5b", "phi-3.5-mini", "qwen3-0.6b", "qwen3-1.7b"]


def test_phi35_mini_has_no_cpu_model_but_keeps_its_f16_onnx():
    kept, contexts, refused, _ = wasm_fit(published_config("phi-3.5-mini"),
                                          ["q4f16_1", "q4f32_1"], 4096)
    assert [d.name for d in kept] == ["q4f16"]  # transformers.js on WebGPU: not WASM memory
    assert contexts == {} and sorted(refused) == ["q4", "q8"]
    assert "over the 4 GiB a browser gives WebAssembly" in refused["q4"]
    assert f"for a {MIN_CPU_CONTEXT}-token prompt" in refused["q4"]


def test_llama_q8_holds_a_shorter_context_on_the_cpu():
    """q8's packed int8 copies leave less room for a 4096-token prompt than WASM memory has:
    the q8 CPU model keeps a shorter context, q4 the build's (as measured in Chromium:
    docs/BENCHMARKS.md, "The CPU path at full size")."""
    kept, contexts, refused, _ = wasm_fit(published_config("llama-3.2-1b"), ["q4f32_1"], 4096)
    assert [d.name for d in kept] == ["q8", "q4"] and refused == {}
    assert MIN_CPU_CONTEXT < contexts["q8"] < contexts["q4"] == 4096
    assert wasm_fit(published_config("llama-3.2-1b"), ["q4f32_1"], 1024)[1] == {"q8": 1024,
                                                                                "q4": 1024}


@pytest.mark.parametrize("model", PUBLISHED)
@pytest.mark.parametrize("dtype", ["q8", "q4", "fp32"])
def test_largest_context_is_where_the_need_crosses_the_limit(model, dtype):
    config = published_config(model)
    n = largest_context(config, dtype)
    if n == 0:
        assert heap_bytes(config, dtype, 1) > WASM32_BYTES
    else:
        assert heap_bytes(config, dtype, n) <= WASM32_BYTES < heap_bytes(config, dtype, n + 1)


def test_build_refuses_a_cpu_build_that_cannot_fit_before_downloading(tmp_path, capsys,
                                                                       monkeypatch):
    """Offline: had the check come after the download, the hub's offline error would show.
    Phi-3.5-mini's ONNX models do not fit, and (wllama's memory halved here) nor does its
    GGUF: the CPU build is refused with both reasons (at 4 GiB its Q4_0 GGUF fits:
    tests/pipeline/test_cpu_gguf_builds.py)."""
    from webslm.artifacts import wllama_memory

    monkeypatch.setattr(wllama_memory, "WLLAMA_MEMORY_BYTES", 2 << 30)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "dist"
    # "onnx", the CPU backend's first name, is still accepted
    code = main(["build", "phi-3.5-mini", "--q4f32", "--backend", "onnx", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "cannot run in a browser" in err and "GiB of WASM memory" in err
    assert "the Q4_0 GGUF (2.1 GiB) needs about" in err
    assert "--backend webgpu" in err
    assert "HF_HUB_OFFLINE" not in err
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.slow
def test_weight_estimate_matches_the_exported_files(smollm2_onnx_dist, smollm2):
    artifact = smollm2_onnx_dist / "smollm2-135m-cpu"
    manifest = read_manifest(artifact)
    build = manifest["build"]
    assert build["wasm_refused"] == {}
    assert build["wasm_context"] == {d: build["context_window"] for d in build["dtypes"]}
    for dtype in build["dtypes"]:
        size = (artifact / "onnx" / onnx_data_filename(dtype)).stat().st_size
        assert abs(weight_bytes(smollm2.config, dtype) - size) < 0.02 * size, dtype
        assert build["wasm_bytes"][dtype] == heap_bytes(smollm2.config, dtype,
                                                        build["context_window"])


def test_a_short_build_context_is_kept_as_it_is():
    kept, contexts, refused, _ = wasm_fit(published_config("llama-3.2-1b"), ["q4f32_1"], 128)
    assert contexts == {"q8": 128, "q4": 128} and refused == {}
