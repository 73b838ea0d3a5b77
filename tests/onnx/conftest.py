"""The tiny Qwen2 and Phi-3 ONNX builds, made once per test session for every ONNX test."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "compile"))
from tiny_sources import ONNX_TINY, save_source  # noqa: E402


@pytest.fixture(scope="session")
def tiny_builds(tmp_path_factory):
    """name -> (ONNX artifact dir with fp32 and q4, the transformers model it came from)."""
    from webslm.cli import main

    builds = {}
    for name in ONNX_TINY:
        tmp = tmp_path_factory.mktemp(name)
        source, model = save_source(name, tmp)
        assert main(["build", name, "--q0f32", "--q4f32", "--backend", "onnx",
                     "--source", str(source), "--out", str(tmp / "dist")]) == 0
        builds[name] = (tmp / "dist" / f"{name}-onnx", model)
    return builds
