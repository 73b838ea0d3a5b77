"""A build that fails midway leaves nothing behind, and --force keeps the old artifact
until the new one is complete."""

from __future__ import annotations

import pytest

from webslm.errors import WebslmError
from webslm.pipeline import build as build_module
from webslm.pipeline.build import BuildRequest, build
from webslm.registry import get_model

pytestmark = pytest.mark.slow


def _request(src, out, force=False, recompile=False):
    return BuildRequest(entry=get_model("smollm2-135m"), quantizations=["q0f32"], out_root=out,
                        source_spec=str(src), context_window=256, prefill_chunk=64, force=force,
                        backend="webgpu", recompile=recompile)


def test_failed_link_leaves_nothing_and_keeps_the_old_artifact(tmp_path, make_hf_dir,
                                                              monkeypatch):
    src, out = make_hf_dir(), tmp_path / "dist"
    old = out / "smollm2-135m-q0f32"
    old.mkdir(parents=True)
    (old / "marker").write_text("previous build")

    def broken_link(*_args, **_kwargs):
        raise WebslmError("emcc failed: simulated", "nothing to fix: this is a test")

    monkeypatch.setattr(build_module, "link_model_library", broken_link)
    with pytest.raises(WebslmError, match="simulated"):
        # --recompile: the link runs even when the cache holds this library
        build(_request(src, out, force=True, recompile=True), say=lambda _m: None)
    assert sorted(p.name for p in out.iterdir()) == ["smollm2-135m-q0f32"]
    assert (old / "marker").read_text() == "previous build"


def test_force_replaces_a_complete_artifact(tmp_path, make_hf_dir):
    src, out = make_hf_dir(), tmp_path / "dist"
    (built,) = build(_request(src, out), say=lambda _m: None)
    (built / "marker").write_text("stale")
    (again,) = build(_request(src, out, force=True), say=lambda _m: None)
    assert again == built and not (built / "marker").exists()
    assert (built / "webslm-manifest.json").is_file()
    assert sorted(p.name for p in out.iterdir()) == ["smollm2-135m-q0f32"]
