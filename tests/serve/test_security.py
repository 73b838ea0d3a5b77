"""Nothing outside the configured directories is ever served or even opened: traversal in
every spelling, symlinks leading out, hidden files and directory listings all get 404."""

from __future__ import annotations

import os

import pytest

from serve_helpers import SECRET, OpenedFiles, raw_get

ART = "/models/tiny-q4f32_1/resolve/main/"
ATTEMPTS = [
    b"/static/../../secret.txt",
    b"/static/../secret.txt",
    b"/../secret.txt",
    b"/models/../../secret.txt",
    b"/static/%2e%2e/%2e%2e/secret.txt",
    b"/static/%2E%2E/%2E%2E/secret.txt",
    b"/static/.%2e/.%2e/secret.txt",
    b"/static/..%2f..%2fsecret.txt",
    b"/static/%2e%2e%2f%2e%2e%2fsecret.txt",
    b"/static/..%5c..%5csecret.txt",
    b"/static/..\\..\\secret.txt",
    b"/static/%252e%252e/%252e%252e/secret.txt",
    b"/models/tiny-q4f32_1/resolve/main/../../../../secret.txt",
    b"/models/tiny-q4f32_1/resolve/main/%2e%2e/%2e%2e/%2e%2e/%2e%2e/secret.txt",
    b"/models/..%2f..%2f/resolve/main/secret.txt",
    b"/models/tiny-q4f32_1/resolve/main/..%2fwebslm-manifest.json",
    b"/vendor/web-llm/../../../../../../secret.txt",
    b"/vendor/web-llm/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/secret.txt",
    b"/static//etc/passwd",
    b"/static/%2fetc%2fpasswd",
    b"/vendor/web-llm//etc/passwd",
    b"/models/tiny-q4f32_1/resolve/main//etc/passwd",
    b"//etc/passwd",
    b"/static/C:%5cWindows%5cwin.ini",
    b"/static/./app.css",
    b"/static/sub/../app.css",
    b"/static/app.css%00.js",
]


@pytest.mark.parametrize("raw", ATTEMPTS, ids=[a.decode("latin-1") for a in ATTEMPTS])
def test_traversal_is_404_and_opens_nothing_outside(app, site_dirs, raw):
    outside = [str(site_dirs["secret"]), "/etc/passwd"]
    with OpenedFiles() as opened:
        status, headers, body = raw_get(app, raw)
    assert status == 404
    assert SECRET.encode() not in body and b"root:" not in body
    assert not [p for p in opened.paths if os.path.realpath(p) in outside]
    assert headers["cross-origin-embedder-policy"] == "require-corp"


def test_symlink_out_of_a_tree_is_404(app, site_dirs, client):
    (site_dirs["web"] / "static" / "leak.txt").symlink_to(site_dirs["secret"])
    (site_dirs["web"] / "static" / "updir").symlink_to(site_dirs["secret"].parent)
    with OpenedFiles() as opened:
        for url in ("/static/leak.txt", "/static/updir/secret.txt"):
            r = client.get(url)
            assert r.status_code == 404 and SECRET not in r.text
    assert str(site_dirs["secret"]) not in opened.paths


def test_symlink_inside_a_tree_is_served(client, site_dirs):
    (site_dirs["web"] / "static" / "alias.css").symlink_to(site_dirs["web"] / "static" / "app.css")
    assert client.get("/static/alias.css").status_code == 200


def test_artifact_file_replaced_by_a_symlink_out_is_404(site_dirs):
    from fastapi.testclient import TestClient

    from webslm.serve.app import create_app

    app = create_app([site_dirs["dist"]], web_root=site_dirs["web"])
    cfg = site_dirs["dist"] / "tiny-q4f32_1" / "tokenizer_config.json"
    cfg.unlink()
    cfg.symlink_to(site_dirs["secret"])
    r = TestClient(app).get(ART + "tokenizer_config.json")
    assert r.status_code == 404 and SECRET not in r.text


def test_only_manifest_files_are_served_from_an_artifact(client, site_dirs):
    (site_dirs["dist"] / "tiny-q4f32_1" / "notes.txt").write_text("private notes")
    assert client.get(ART + "notes.txt").status_code == 404
    assert client.get(ART + "webslm-manifest.json").status_code == 200
    assert client.get("/models/unknown-model/resolve/main/tokenizer.json").status_code == 404
    assert client.get("/models/tiny-q4f32_1/resolve/dev/tokenizer.json").status_code == 404


@pytest.mark.parametrize("url", ["/static/", "/static", "/static/sub/", "/static/sub",
                                 "/vendor/web-llm/", "/models/", "/models/tiny-q4f32_1/",
                                 ART, "/api/", "/static/.hidden", "/vendor/web-llm/index.d.ts",
                                 "/docs", "/openapi.json"])
def test_no_listings_hidden_files_or_extras(client, url):
    r = client.get(url)
    assert r.status_code == 404
    assert "app.css" not in r.text and "tokenizer" not in r.text


def test_resolver_refuses_traversal_even_past_the_request_guard(site_dirs):
    from webslm.serve.paths import resolve_under

    static = site_dirs["web"] / "static"
    assert resolve_under(static, "app.css") == (static / "app.css").resolve()
    for sub in ("../secret.txt", "../../secret.txt", str(site_dirs["secret"]), "sub/../../secret.txt",
                "", "sub/", ".hidden", "a\\b", "C:"):
        assert resolve_under(static, sub) is None, sub
