"""Builds are reproducible: a second build of SmolLM2-135M q4f32_asym on the same machine is
byte-identical, file for file, to the session's shared one (so a refactor can be proven not
to change any artifact by comparing hashes, and a published build can be re-made). The second
build compiles again (--recompile): the library's bytes are the compiler's, not the cache's."""

from __future__ import annotations

from pathlib import Path

import pytest

from webslm.cli import main
from webslm.hashing import sha256_file

pytestmark = pytest.mark.slow


def _hashes(artifact: Path) -> dict[str, str]:
    return {str(p.relative_to(artifact)): sha256_file(p)
            for p in sorted(artifact.rglob("*")) if p.is_file()}


def test_a_second_build_is_byte_identical(smollm2_artifact, tmp_path):
    out = tmp_path / "dist"
    assert main(["build", "smollm2-135m", "--q4f32", "--backend", "webgpu", "--recompile",
                 "--out", str(out)]) == 0
    first, second = _hashes(smollm2_artifact), _hashes(out / smollm2_artifact.name)
    assert len(first) >= 5 and any(name.endswith(".wasm") for name in first)
    assert first == second
