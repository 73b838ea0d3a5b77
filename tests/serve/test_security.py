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


@pytest.mark.parametrize("bind, host, status", [
    ("127.0.0.1", "127.0.0.1:8000", 200), ("127.0.0.1", "localhost", 200),
    ("127.0.0.1", "LOCALHOST:1", 200), ("127.0.0.1", "[::1]:8000", 200),
    ("127.0.0.2", "127.0.0.2:8000", 200), ("::1", "[::1]", 200),
    ("127.0.0.1", "rebind.example", 421), ("127.0.0.1", "rebind.example:8000", 421),
    ("127.0.0.1", "localhost.rebind.example", 421), ("127.0.0.1", "127.0.0.2", 421),
    ("127.0.0.1", "", 421), ("::1", "[::2]:80", 421),
    ("0.0.0.0", "anything.example", 200),  # bound for other machines: their names are unknown
])
def test_loopback_server_answers_only_loopback_host_names(app, bind, host, status):
    """DNS rebinding: a page's name pointed at 127.0.0.1 still sends its own Host (issue 31)."""
    from webslm.serve.hosts import guard_hosts

    got, headers, body = raw_get(guard_hosts(app, bind), b"/api/models.json", {"Host": host})
    assert got == status, (bind, host, body[:80])
    assert (b"model_list" in body) == (status == 200)


def test_real_loopback_server_refuses_rebound_names(site_dirs):
    """`webslm serve` (default --host 127.0.0.1) over real HTTP, Host as a rebound page sends it."""
    import http.client

    from test_load import bench

    with bench().running_server(site_dirs["dist"]) as (_pid, port):
        def status(host: str) -> tuple[int, bytes]:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", "/api/models.json", headers={"Host": host})
            r = conn.getresponse()
            body = r.read()
            conn.close()
            return r.status, body

        for name in ("rebind.example", f"rebind.example:{port}"):
            got, body = status(name)
            assert got == 421 and b"model_list" not in body, name
        for name in ("127.0.0.1", "localhost", "[::1]"):
            got, body = status(f"{name}:{port}")
            assert got == 200 and b"model_list" in body, name
