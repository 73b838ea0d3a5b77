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
    assert manifest["build"]["gguf"] == {"Q8_0": {"file": name, "files": [name],
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


def test_an_architecture_without_a_gguf_layout_builds_without_one(tiny_builds):
    """Phi-3 (fused projections, a SentencePiece tokenizer) has no GGUF writer: its CPU
    engine stays transformers.js. Qwen2's tiny build has its GGUF."""
    for name, (artifact, _) in tiny_builds.items():
        build = read_manifest(artifact)["build"]
        has_layout = "phi" not in name
        assert bool(build["gguf"]) == has_layout, name
        assert (artifact / gguf_filename("Q8_0")).is_file() == has_layout, name
