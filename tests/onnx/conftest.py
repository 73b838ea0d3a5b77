"""The tiny Qwen2 and Phi-3 ONNX builds, made once per test session for every ONNX test."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from run_once import built_once

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "compile"))
from tiny_sources import ONNX_TINY, TINY, save_source, tiny_transformers  # noqa: E402


@pytest.fixture(scope="session")
def tiny_builds(tmp_path_factory):
    """name -> (ONNX artifact dir with fp32 and q4, the transformers model it came from), built
    once per test run for both pytest-xdist workers (the models are deterministic)."""
    from webslm.cli import main

    def make(root: Path) -> None:
        for name in ONNX_TINY:
            (root / name).mkdir()
            source, _model = save_source(name, root / name)
            assert main(["build", name, "--q0f32", "--q4f32", "--backend", "cpu",
                         "--source", str(source), "--out", str(root / name / "dist")]) == 0

    root = built_once(tmp_path_factory, "onnx-tiny", make)
    return {name: (root / name / "dist" / f"{name}-cpu", tiny_transformers(TINY[name]))
            for name in ONNX_TINY}
