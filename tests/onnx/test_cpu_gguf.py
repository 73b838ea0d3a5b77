"""The ONNX build's CPU model for wllama: written where llama.cpp has a layout for the
architecture, listed with its hashes, and described to the pages (api/models.json)."""

from __future__ import annotations

import json

import pytest

from webslm.artifacts.files import gguf_filename
from webslm.artifacts.manifest import read_manifest
from webslm.serve.catalog import discover

pytestmark = pytest.mark.slow


def test_smollm2_onnx_build_carries_its_q8_0_gguf(smollm2_onnx_dist):
    artifact = smollm2_onnx_dist / "smollm2-135m-cpu"
    manifest = read_manifest(artifact)
    name = gguf_filename("Q8_0")
    entry = dict(manifest["build"]["gguf"]["Q8_0"])
    assert entry.pop("wasm_bytes") > (artifact / name).stat().st_size  # what wllama needs
    assert {"Q8_0": entry} == {"Q8_0": {"file": name, "files": [name],
                                        "context": manifest["build"]["context_window"]}}
    assert manifest["files"][name]["bytes"] == (artifact / name).stat().st_size
    assert {"gguf", "wllama"} <= set(manifest["toolchain"])
    [model] = discover([smollm2_onnx_dist])
    summary = model.summary()
    assert summary["gguf"]["Q8_0"]["bytes"] == manifest["files"][name]["bytes"]
    assert summary["files"][name]["sha256"] == manifest["files"][name]["sha256"]
    # an ONNX dtype's download is its own files and the shared ones, never the GGUF
    assert all(size < summary["size_bytes"] - summary["gguf"]["Q8_0"]["bytes"]
               for size in summary["dtype_bytes"].values())


def test_every_tiny_cpu_build_carries_its_gguf(tiny_builds):
    """Every architecture the ONNX tests build has llama.cpp's layout in the GGUF writer:
    Phi-3 (fused projections, LongRoPE) with its SentencePiece vocabulary, the others
    byte-level BPE."""
    from gguf import GGUFReader

    for name, (artifact, _) in tiny_builds.items():
        build = read_manifest(artifact)["build"]
        [qtype] = build["gguf"]
        path = artifact / build["gguf"][qtype]["file"]
        model = GGUFReader(path).fields["tokenizer.ggml.model"].contents()
        assert model == ("llama" if "phi" in name else "gpt2"), name
