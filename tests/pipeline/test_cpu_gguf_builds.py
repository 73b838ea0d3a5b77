"""The CPU build's GGUF for wllama when there is no ONNX export, or when the ONNX models do
not fit a browser: Gemma 3 270M's offline CPU build is the PyPI Q4_K_M GGUF served as it is;
a merged Gemma 3 fine-tune gets the ONNX export instead; Phi-3.5-mini's is judged from its released
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


def test_a_merged_gemma3_fine_tune_gets_onnx_instead_of_a_gguf():
    """webslm writes no Gemma 3 GGUF, and a merged fine-tune is not its source GGUF: its CPU
    build is the ONNX export (models.yaml's cpu_onnx: false only drops ONNX beside a GGUF)."""
    entry = get_model("gemma-3-270m")
    arch = find_architecture({"architectures": ["Gemma3ForCausalLM"]})
    assert gguf_route(entry, arch) == ("copy", "")  # models.yaml's source: the PyPI GGUF
    assert not exports_onnx(entry, arch, "copy")
    merged = object.__new__(MergedSource)
    route, why = gguf_route(entry, arch, merged)
    assert route is None and "merged fine-tune cannot be served as its source GGUF" in why
    assert cpu_build_possible(entry, arch, merged) and exports_onnx(entry, arch, route)


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
