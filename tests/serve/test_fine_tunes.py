"""Fine-tunes built as "base + adapter": the adapter build reads its base's weight shards from
the base's folder (a relative dataPath in its tensor cache). serve and export-site must find
the base, check it is the one the fine-tune was built on, list the shared shards in the
fine-tune's file table under the names WebLLM resolves, and serve them at the URL WebLLM
computes."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest

from serve_helpers import make_adapter_artifact, make_artifact
from test_load import bench
from webslm.artifacts.files import base_file_ref, base_folder_ref
from webslm.artifacts.manifest import read_manifest
from webslm.errors import WebslmError
from webslm.serve.catalog import discover
from webslm.serve.export import export_site

BASE, TUNED = "tiny-q4f32_1", "tiny-tuned-q4f32_1"
SHARED = base_file_ref(BASE, "params_shard_0.bin")


@pytest.fixture
def pair(tmp_path) -> Path:
    """One --out root holding a base build and a fine-tune of it."""
    dist = tmp_path / "dist"
    make_adapter_artifact(dist, TUNED, make_artifact(dist, BASE))
    return dist


def own_bytes(artifact: Path) -> int:
    return sum(f["bytes"] for f in read_manifest(artifact)["files"].values())


def test_the_relative_form_is_one_function():
    assert base_folder_ref("smollm2-135m-q4f32_asym") == "../../../smollm2-135m-q4f32_asym/resolve/main/"
    assert SHARED == f"../../../{BASE}/resolve/main/params_shard_0.bin"


def test_summary_names_the_base_and_counts_shared_bytes_apart(pair):
    models = {m.id: m for m in discover([pair])}
    tuned, base = models[TUNED].summary(), models[BASE].summary()
    assert "base" not in base and "shared_bytes" not in base
    shard = (pair / BASE / "params_shard_0.bin").read_bytes()
    assert tuned["base"] == BASE
    assert tuned["size_bytes"] == own_bytes(pair / TUNED)
    assert tuned["shared_bytes"] == len(shard)
    # The file table the browser checks downloads against holds the shared shard too, under
    # the name the tensor cache uses, with the base's hash.
    assert tuned["files"][SHARED] == {"bytes": len(shard), "sha256": hashlib.sha256(shard).hexdigest()}
    assert set(tuned["files"]) - {SHARED} == set(json.loads(
        (pair / TUNED / "webslm-manifest.json").read_text())["files"])
    data_paths = [r["dataPath"] for r in json.loads((pair / TUNED / "tensor-cache.json").read_text())["records"]]
    assert set(data_paths) <= set(tuned["files"])


def test_a_missing_base_is_a_clear_error(pair):
    with pytest.raises(WebslmError) as err:
        discover([pair / TUNED])
    assert f"{TUNED} is a fine-tune of {BASE}, which is not in the served folders" in str(err.value)
    assert "pass the folder that holds" in err.value.fix


def test_a_rebuilt_base_is_a_clear_error(pair):
    shard = pair / BASE / "params_shard_0.bin"
    make_artifact(pair / "rebuilt", BASE)  # same id, other bytes of the same size
    (pair / "rebuilt" / BASE / "params_shard_0.bin").write_bytes(bytes(reversed(shard.read_bytes())))
    from webslm.artifacts.manifest import file_table
    manifest_path = pair / "rebuilt" / BASE / "webslm-manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["files"] = file_table(pair / "rebuilt" / BASE)
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(WebslmError) as err:
        discover([pair / TUNED, pair / "rebuilt"])
    assert "params_shard_0.bin differ from the files it was built on" in str(err.value)
    assert "rebuild" in err.value.fix


def test_a_malformed_base_entry_is_refused(pair):
    manifest_path = pair / TUNED / "webslm-manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["build"]["base"]["files"] = {"../../secret": {"bytes": 1, "sha256": "0"}}
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(WebslmError, match="build.base"):
        discover([pair])


def test_api_lists_the_relation(pair, tmp_path):
    from fastapi.testclient import TestClient

    from serve_helpers import make_web_root
    from webslm.serve.app import create_app

    with TestClient(create_app([pair], web_root=make_web_root(tmp_path / "web"))) as client:
        listing = client.get("/api/models.json").json()
        tuned = next(m for m in listing["models"] if m["id"] == TUNED)
        assert tuned["base"] == BASE and tuned["shared_bytes"] > 0
        record = next(r for r in listing["model_list"] if r["model_id"] == TUNED)
        assert record["model"] == f"models/{TUNED}/resolve/main/"
        # the fine-tune's own folder never serves a file of the base
        assert client.get(f"/models/{TUNED}/resolve/main/params_shard_0.bin").status_code == 404
        assert f"{TUNED}</code> (fine-tune of {BASE})" in client.get("/form.html").text  # the plain page


def webllm_urls(model_url: str, artifact: Path) -> list[str]:
    """The URLs WebLLM fetches the shards from: new URL(dataPath, modelUrl)."""
    records = json.loads((artifact / "tensor-cache.json").read_text())["records"]
    return [urljoin(model_url, r["dataPath"]) for r in records]


def test_real_server_serves_the_shared_shard_where_webllm_looks(pair):
    with bench().running_server(pair) as (_pid, port):
        site = f"http://127.0.0.1:{port}/"
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/api/models.json")
        listing = json.loads(conn.getresponse().read())
        record = next(r for r in listing["model_list"] if r["model_id"] == TUNED)
        files = next(m for m in listing["models"] if m["id"] == TUNED)["files"]
        model_url = urljoin(site, record["model"])
        urls = webllm_urls(model_url, pair / TUNED)
        assert urls == [f"{site}models/{BASE}/resolve/main/params_shard_0.bin",
                        f"{site}models/{TUNED}/resolve/main/adapter_shard_0.bin"]
        for url, name in zip(urls, [SHARED, "adapter_shard_0.bin"]):
            conn.request("GET", urlsplit(url).path)
            r = conn.getresponse()
            body = r.read()
            assert r.status == 200, url
            assert hashlib.sha256(body).hexdigest() == files[name]["sha256"]  # what integrity.js checks
            # integrity.js keys the table by new URL(name, folder): the same URL
            assert urljoin(model_url, name) == url
        conn.close()


def test_export_keeps_the_sharing(pair, tmp_path):
    from serve_helpers import make_web_root

    site = export_site([pair], tmp_path / "site", web_root=make_web_root(tmp_path / "web"),
                       say=lambda m: None)
    listing = json.loads((site / "api/models.json").read_text())
    record = next(r for r in listing["model_list"] if r["model_id"] == TUNED)
    tuned_dir = site / record["model"]
    for url in webllm_urls("http://host/" + record["model"], tuned_dir):
        exported = site / urlsplit(url).path.lstrip("/")
        assert exported.is_file(), url
    shard = site / f"models/{BASE}/resolve/main/params_shard_0.bin"
    assert shard.stat().st_ino == (pair / BASE / "params_shard_0.bin").stat().st_ino  # linked once
    everything = [p for p in site.rglob("*.bin")]
    assert sorted(p.name for p in everything) == ["adapter_shard_0.bin", "params_shard_0.bin"]
    assert not (tuned_dir / "params_shard_0.bin").exists()
    assert os.path.samefile(tuned_dir / SHARED, shard)  # the relative name leads to it on disk too


def test_export_of_a_fine_tune_alone_asks_for_its_base(pair, tmp_path):
    with pytest.raises(WebslmError, match="not in the served folders"):
        export_site([pair / TUNED], tmp_path / "site", say=lambda m: None)
