"""What the pages and /api/models say about the built models, and how models are found."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from serve_helpers import make_artifact
from webslm.errors import WebslmError
from webslm.serve.catalog import discover


def test_api_models_shape(client, site_dirs):
    data = client.get("/api/models").json()
    assert data == client.get("/api/models.json").json()
    assert [r["model_id"] for r in data["model_list"]] == ["tiny-q4f16_1", "tiny-q4f32_1"]
    f16, f32 = data["model_list"]
    assert f32["model"] == "models/tiny-q4f32_1/resolve/main/"
    assert f32["model_lib"] == "models/tiny-q4f32_1/resolve/main/tiny-q4f32_1-webgpu.wasm"
    assert "required_features" not in f32 and f16["required_features"] == ["shader-f16"]
    for key in ("vram_required_MB", "low_resource_required", "overrides"):
        assert key in f32
    summary = data["models"][1]
    files = json.loads((site_dirs["dist"] / "tiny-q4f32_1" / "webslm-manifest.json")
                       .read_text())["files"]
    assert summary == {"id": "tiny-q4f32_1", "engine": "webllm", "model_type": "llama", "quantization": "q4f32_1",
                       "size_bytes": sum(f["bytes"] for f in files.values()),
                       "context_window": 1024, "required_features": [], "vram_mb": 123.4,
                       "largest_tensor_bytes": None,  # a manifest from before the field
                       "files": files}
    assert data["models"][0]["required_features"] == ["shader-f16"]


def test_every_file_has_its_hash_and_webllm_gets_sri(client, site_dirs):
    """The pages check each file against `files`; WebLLM checks its own three by SRI."""
    data = client.get("/api/models").json()
    artifact = site_dirs["dist"] / "tiny-q4f32_1"
    summary = data["models"][1]
    for name, entry in summary["files"].items():
        body = (artifact / name).read_bytes()
        assert entry == {"bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}, name
    sri = lambda name: "sha256-" + base64.b64encode(hashlib.sha256((artifact / name).read_bytes()).digest()).decode()
    assert data["model_list"][1]["integrity"] == {
        "config": sri("mlc-chat-config.json"), "model_lib": sri("tiny-q4f32_1-webgpu.wasm"),
        "tokenizer": {"tokenizer.json": sri("tokenizer.json")}, "onFailure": "error"}


def test_record_urls_resolve_on_the_server(client):
    for record in client.get("/api/models").json()["model_list"]:
        for name in ("mlc-chat-config.json", "tensor-cache.json", "tokenizer.json"):
            assert client.get("/" + record["model"] + name).status_code == 200
        assert client.get("/" + record["model_lib"]).status_code == 200


def test_template_gets_models_and_version(client):
    from webslm import __version__

    r = client.get("/")
    assert f"webslm {__version__}" in r.text and "data-id='tiny-q4f32_1'" in r.text
    assert client.get("/index.html").text == r.text


def test_missing_template_falls_back_to_a_plain_list(client):
    r = client.get("/form.html")  # the fake web root has no form.html
    assert r.status_code == 200 and "form.html is missing" in r.text
    assert "tiny-q4f16_1" in r.text and "shader-f16" in r.text


def test_discover_accepts_an_artifact_dir_and_several_roots(site_dirs, tmp_path):
    one = discover([site_dirs["dist"] / "tiny-q4f32_1"])
    assert [m.id for m in one] == ["tiny-q4f32_1"]
    other = tmp_path / "other"
    make_artifact(other, "tiny-q0f32")
    (other / ".tiny-q4f32_1.partial-123").mkdir()  # a build's staging dir is not a model
    ids = [m.id for m in discover([site_dirs["dist"], other])]
    assert ids == ["tiny-q4f16_1", "tiny-q4f32_1", "tiny-q0f32"]


def test_discover_errors_are_clear(site_dirs, tmp_path):
    with pytest.raises(WebslmError, match="not a directory"):
        discover([tmp_path / "missing"])
    with pytest.raises(WebslmError, match="in both"):
        discover([site_dirs["dist"], site_dirs["dist"] / "tiny-q4f32_1"])
    (site_dirs["dist"] / "tiny-q4f32_1" / "params_shard_0.bin").write_bytes(b"short")
    with pytest.raises(WebslmError, match="incomplete: params_shard_0.bin"):
        discover([site_dirs["dist"]])


def test_a_manifests_own_integrity_never_wins(site_dirs, tmp_path):
    """The ModelRecord's `integrity` is computed from the file table: a manifest that brings its
    own (checks switched to "warn", another file's hash) is overridden, not trusted (issue 31)."""
    from webslm.serve.pages import api_models

    artifact = site_dirs["dist"] / "tiny-q4f32_1"
    manifest = json.loads((artifact / "webslm-manifest.json").read_text())
    honest = manifest["webllm_model_record"]["integrity"]
    manifest["webllm_model_record"]["integrity"] = {"config": "sha256-AAAA", "onFailure": "warn"}
    (artifact / "webslm-manifest.json").write_text(json.dumps(manifest))
    record = next(r for r in api_models(discover([artifact]))["model_list"])
    assert record["integrity"] == honest and record["integrity"]["onFailure"] == "error"


def _edit_manifest(artifact, edit) -> None:
    manifest = json.loads((artifact / "webslm-manifest.json").read_text())
    edit(manifest)
    (artifact / "webslm-manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("damage, said", [
    (lambda m: m.update(files={}), "`files` is empty"),
    (lambda m: m["files"]["params_shard_0.bin"].pop("sha256"), "no size or sha256 for params_shard_0.bin"),
    (lambda m: m["files"]["tokenizer.json"].update(sha256="0" * 63), "no size or sha256 for tokenizer.json"),
    (lambda m: m["files"]["tokenizer.json"].update(bytes="12"), "no size or sha256 for tokenizer.json"),
    (lambda m: m["files"].pop("params_shard_0.bin"), "params_shard_0.bin not listed"),
    (lambda m: m["files"].pop("tensor-cache.json"), "tensor-cache.json not listed"),
], ids=["empty", "no sha256", "short sha256", "string size", "shard unlisted", "index unlisted"])
def test_a_build_without_a_complete_file_table_is_refused(site_dirs, damage, said):
    """Every file WebLLM fetches (config, weight index, library, every shard the index names)
    must be in `files` with a size and a sha256: the pages refuse any file outside the table,
    so such a build is refused here, by name, rather than listed and failing (or, before the
    page check, loading unchecked). `webslm serve` and export-site exit 2 with this error."""
    artifact = site_dirs["dist"] / "tiny-q4f32_1"
    _edit_manifest(artifact, damage)
    with pytest.raises(WebslmError) as err:
        discover([site_dirs["dist"]])
    assert "no complete file table" in err.value.problem and said in err.value.problem
    assert str(artifact) in err.value.problem and "webslm build" in err.value.fix


def test_an_onnx_build_without_its_gguf_in_the_table_is_refused(site_dirs):
    from serve_helpers import make_onnx_artifact

    artifact = make_onnx_artifact(site_dirs["dist"])
    _edit_manifest(artifact, lambda m: m["build"].update(gguf={"q4_0": {"file": "gguf/x.gguf",
                                                                       "files": ["gguf/x.gguf"]}}))
    with pytest.raises(WebslmError, match="gguf/x.gguf not listed"):
        discover([artifact])


def test_empty_dist_serves_an_empty_list(tmp_path, site_dirs):
    from fastapi.testclient import TestClient

    from webslm.serve.app import create_app

    (tmp_path / "empty").mkdir()
    client = TestClient(create_app([tmp_path / "empty"], web_root=site_dirs["web"]))
    assert client.get("/api/models").json() == {"model_list": [], "models": []}


def test_serve_never_imports_the_compiler():
    import subprocess
    import sys

    # the CLI's parser reads the backend names (webslm.pipeline.backends: constants only)
    code = ("import sys, webslm.cli, webslm.serve.app, webslm.serve.export, webslm.serve.server\n"
            "bad = [m for m in sys.modules if m.startswith(('webslm.compile', 'webslm.pipeline',"
            " 'tvm', 'torch')) and m not in ('webslm.pipeline', 'webslm.pipeline.backends')]\nassert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_onnx_build_is_listed_and_served(site_dirs):
    from fastapi.testclient import TestClient

    from serve_helpers import make_onnx_artifact
    from webslm.serve.app import create_app

    make_onnx_artifact(site_dirs["dist"])
    with TestClient(create_app([site_dirs["dist"]], web_root=site_dirs["web"])) as client:
        listing = client.get("/api/models.json").json()
        onnx = [m for m in listing["models"] if m["id"] == "tiny-cpu"][0]
        assert onnx["engine"] == "transformers.js" and onnx["dtypes"] == ["q4"]
        assert onnx["url"] == "models/tiny-cpu/resolve/main/"
        assert onnx["dtype_bytes"]["q4"] == 1000 + 10240 + 2 + len('{"model_type": "llama"}')
        assert "tiny-cpu" not in [r["model_id"] for r in listing["model_list"]]  # not WebLLM's
        base = "/models/tiny-cpu/resolve/main/"
        assert client.get(base + "onnx/model_q4.onnx_data").content == bytes(range(256)) * 40
        assert client.get(base + "config.json").status_code == 200
        assert client.get(base + "onnx/other.onnx").status_code == 404
        assert client.get(base + "onnx").status_code == 404


def test_a_base_models_record_says_it_completes_text(tmp_path):
    """A completion_only build (models.yaml: a pretrained base) tells the page so, with the
    text its completions start with; chat builds carry neither field."""
    art = make_artifact(tmp_path / "dist", "base-q4f32_1")
    manifest = json.loads((art / "webslm-manifest.json").read_text())
    manifest["build"].update(completion_only=True, completion_prefix="<bos>")
    (art / "webslm-manifest.json").write_text(json.dumps(manifest))
    chat = make_artifact(tmp_path / "dist", "chat-q4f32_1")
    base, plain = discover([art, chat])
    assert (base.summary()["completion_only"], base.summary()["completion_prefix"]) == (True, "<bos>")
    assert "completion_only" not in plain.summary() and "completion_prefix" not in plain.summary()
