"""Fixtures for the serve tests: a fake dist, a fake web root and a secret beside them."""

from __future__ import annotations

from pathlib import Path

import pytest

from serve_helpers import SECRET, make_artifact, make_web_root


@pytest.fixture
def site_dirs(tmp_path) -> dict[str, Path]:
    """tmp/{dist/(tiny-q4f32_1, tiny-q4f16_1), web/, secret.txt}."""
    dist = tmp_path / "dist"
    make_artifact(dist, "tiny-q4f32_1")
    make_artifact(dist, "tiny-q4f16_1", f16=True)
    (tmp_path / "secret.txt").write_text(SECRET)
    return {"dist": dist, "web": make_web_root(tmp_path / "web"),
            "secret": tmp_path / "secret.txt"}


@pytest.fixture
def app(site_dirs):
    from webslm.serve.app import create_app

    return create_app([site_dirs["dist"]], web_root=site_dirs["web"])


@pytest.fixture
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        yield c
