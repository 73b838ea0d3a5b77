"""`webslm serve` as a real process over real HTTP (uvicorn, its own path decoding)."""

from __future__ import annotations

import gzip
import http.client
import json

import pytest

from serve_helpers import SECRET
from test_load import bench

running_server = bench().running_server

ART = "/models/tiny-q4f32_1/resolve/main/"


@pytest.fixture
def server(site_dirs):
    """A `webslm serve` subprocess on a free port (--port 0), with the repository's web/."""
    with running_server(site_dirs["dist"]) as (_pid, port):
        yield "127.0.0.1", port


def fetch(server, path: str, headers: dict | None = None):
    conn = http.client.HTTPConnection(*server, timeout=30)
    conn.request("GET", path, headers=headers or {})  # sent byte for byte, never normalised
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, body


def test_real_server(server, site_dirs):
    status, headers, body = fetch(server, "/api/models.json")
    assert status == 200 and headers["cross-origin-embedder-policy"] == "require-corp"
    assert headers["cross-origin-opener-policy"] == "same-origin"
    assert [r["model_id"] for r in json.loads(body)["model_list"]] == ["tiny-q4f16_1", "tiny-q4f32_1"]

    status, headers, _ = fetch(server, ART + "tiny-q4f32_1-webgpu.wasm")
    assert status == 200 and headers["content-type"] == "application/wasm"
    assert fetch(server, ART + "tiny-q4f32_1-webgpu.wasm",
                 {"If-None-Match": headers["etag"]})[0] == 304

    status, headers, body = fetch(server, ART + "params_shard_0.bin", {"Range": "bytes=256-511"})
    assert status == 206 and body == bytes(range(256))
    assert headers["content-range"] == "bytes 256-511/102400"

    status, headers, _ = fetch(server, ART + "params_shard_0.bin", {"Range": f"bytes={'9' * 5000}-"})
    assert status == 416 and headers["content-range"] == "bytes */102400"  # was a 500

    status, headers, body = fetch(server, ART + "tokenizer.json", {"Accept-Encoding": "gzip"})
    assert headers["content-encoding"] == "gzip" and b"tok1" in gzip.decompress(body)

    # WebLLM itself, from the repository's npm install
    status, headers, body = fetch(server, "/vendor/web-llm/index.js")
    assert status == 200 and headers["content-type"].startswith("text/javascript")

    for raw in ("/static/../../secret.txt", "/static/%2e%2e/%2e%2e/secret.txt",
                "/static/..%2f..%2fsecret.txt", "/vendor/web-llm/..%2f..%2f..%2f..%2f..%2fpyproject.toml",
                ART + "..%2f..%2f..%2f..%2f..%2fsecret.txt", "//etc/passwd", "/static//etc/passwd"):
        status, headers, body = fetch(server, raw)
        assert status == 404, raw
        assert SECRET.encode() not in body and b"root:" not in body and b"[project]" not in body


def test_busy_port_is_a_clear_error(site_dirs, capsys):
    import socket

    from webslm.cli import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        code = main(["serve", str(site_dirs["dist"]), "--port", str(port)])
    err = capsys.readouterr().err
    assert code == 2 and f"cannot listen on 127.0.0.1:{port}" in err and "--port" in err


def test_missing_dist_is_a_clear_error(tmp_path, capsys):
    from webslm.cli import main

    assert main(["serve", str(tmp_path / "nope")]) == 2
    assert "is not a directory" in capsys.readouterr().err
