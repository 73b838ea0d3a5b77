"""HTTP semantics of `webslm serve`: content types, validators, ranges, gzip, isolation."""

from __future__ import annotations

import gzip

import pytest

ART = "/models/tiny-q4f32_1/resolve/main/"
SHARD = ART + "params_shard_0.bin"


@pytest.mark.parametrize("url,ctype", [
    (ART + "tiny-q4f32_1-webgpu.wasm", "application/wasm"),
    (ART + "mlc-chat-config.json", "application/json"),
    (ART + "tensor-cache.json", "application/json"),
    (SHARD, "application/octet-stream"),
    ("/webslm.js", "text/javascript"),
    ("/vendor/web-llm/index.js", "text/javascript"),
    ("/static/app.css", "text/css"),
    ("/", "text/html"),
    ("/api/models", "application/json"),
])
def test_content_types(client, url, ctype):
    r = client.get(url)
    assert r.status_code == 200
    assert r.headers["content-type"].split(";")[0] == ctype


@pytest.mark.parametrize("url", ["/", "/form.html", "/api/models.json", SHARD, "/nope", "/static/",
                                 "/static/app.css", "/webslm.js", "/vendor/web-llm/index.js"])
def test_every_response_is_cross_origin_isolated_and_unframeable(client, url):
    r = client.get(url)
    assert r.headers["cross-origin-opener-policy"] == "same-origin"
    assert r.headers["cross-origin-embedder-policy"] == "require-corp"
    assert r.headers["cross-origin-resource-policy"] == "cross-origin"
    policy = dict(d.strip().split(" ", 1) for d in r.headers["content-security-policy"].split(";"))
    assert policy["frame-ancestors"] == "'none'"  # no clickjacking "Delete cached files" (issue 31)
    assert policy["default-src"] == "'self'" and policy["object-src"] == "'none'"
    assert "'unsafe-inline'" not in str(policy) and "'unsafe-eval'" not in str(policy)


def test_artifact_etag_is_the_manifest_sha256(client, site_dirs):
    import json

    manifest = json.loads((site_dirs["dist"] / "tiny-q4f32_1" / "webslm-manifest.json").read_text())
    r = client.get(SHARD)
    assert r.headers["etag"] == f'"{manifest["files"]["params_shard_0.bin"]["sha256"]}"'
    assert r.headers["cache-control"] == "no-cache"  # named by model id, not content-addressed
    assert "last-modified" in r.headers


@pytest.mark.parametrize("url", [SHARD, "/webslm.js", "/", "/api/models"])
def test_if_none_match_gives_304(client, url):
    etag = client.get(url).headers["etag"]
    r = client.get(url, headers={"If-None-Match": etag})
    assert r.status_code == 304 and r.content == b""
    assert r.headers["etag"] and r.headers["cross-origin-embedder-policy"] == "require-corp"
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200


def test_if_modified_since_gives_304(client):
    last = client.get(SHARD).headers["last-modified"]
    assert client.get(SHARD, headers={"If-Modified-Since": last}).status_code == 304
    old = "Mon, 01 Jan 2001 00:00:00 GMT"
    assert client.get(SHARD, headers={"If-Modified-Since": old}).status_code == 200


def test_range_gives_206(client, site_dirs):
    data = (site_dirs["dist"] / "tiny-q4f32_1" / "params_shard_0.bin").read_bytes()
    size = len(data)
    for header, start, end in [("bytes=10-19", 10, 19), ("bytes=100-", 100, size - 1),
                               ("bytes=-5", size - 5, size - 1),
                               ("bytes=0-999999999", 0, size - 1)]:
        r = client.get(SHARD, headers={"Range": header})
        assert r.status_code == 206, header
        assert r.headers["content-range"] == f"bytes {start}-{end}/{size}"
        assert r.content == data[start:end + 1]
        assert int(r.headers["content-length"]) == end - start + 1


def test_unsatisfiable_range_gives_416(client, site_dirs):
    size = (site_dirs["dist"] / "tiny-q4f32_1" / "params_shard_0.bin").stat().st_size
    for header in (f"bytes={size}-", f"bytes={size + 10}-{size + 20}", "bytes=-0"):
        r = client.get(SHARD, headers={"Range": header})
        assert r.status_code == 416, header
        assert r.headers["content-range"] == f"bytes */{size}"


def test_absurd_range_numbers_are_answered_not_500(client, site_dirs):
    """int() refuses over 4,300 digits (it was a 500); a number that long is past any file."""
    data = (site_dirs["dist"] / "tiny-q4f32_1" / "params_shard_0.bin").read_bytes()
    size, huge = len(data), "9" * 5000
    for header, status, body in [(f"bytes={huge}-", 416, b""), (f"bytes={huge}-{huge}", 416, b""),
                                 (f"bytes=0-{huge}", 206, data), (f"bytes=-{huge}", 206, data),
                                 (f"bytes={'0' * 5000}5-9", 206, data[5:10])]:
        r = client.get(SHARD, headers={"Range": header})
        assert (r.status_code, r.content) == (status, body), header[:20]
        assert r.headers["content-range"].endswith(f"/{size}")


def test_stale_if_range_gets_the_whole_file(client):
    r = client.get(SHARD, headers={"Range": "bytes=0-9", "If-Range": '"stale"'})
    assert r.status_code == 200 and len(r.content) == 102400


def test_text_and_libraries_are_gzipped_weights_are_not(client):
    r = client.get(ART + "tokenizer.json", headers={"Accept-Encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip" and r.headers["vary"] == "Accept-Encoding"
    assert r.json()["vocab"]["tok3"] == 3  # httpx decodes it
    lib = ART + "tiny-q4f32_1-webgpu.wasm"
    r = client.get(lib, headers={"Accept-Encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip"
    assert r.content == client.get(lib, headers={"Accept-Encoding": "identity"}).content
    assert "content-encoding" not in client.get(SHARD, headers={"Accept-Encoding": "gzip"}).headers
    plain = client.get(ART + "tokenizer.json", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers


def test_gzip_body_is_real_gzip(app):
    from serve_helpers import raw_get

    status, headers, body = raw_get(app, b"/webslm.js", {"Accept-Encoding": "gzip"})
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert gzip.decompress(body).startswith(b"export function createChat")
    assert int(headers["content-length"]) == len(body)


def test_head_has_headers_and_no_body(client):
    r = client.head(SHARD)
    assert r.status_code == 200 and r.content == b""
    assert r.headers["content-length"] == "102400"


def test_only_get_and_head(client):
    assert client.post("/api/models").status_code == 405


def test_ranges_of_text_and_generated_content_are_identity(client):
    whole = client.get("/api/models.json", headers={"Accept-Encoding": "identity"}).content
    r = client.get("/api/models.json", headers={"Range": "bytes=0-9", "Accept-Encoding": "gzip"})
    assert r.status_code == 206 and r.content == whole[:10]
    assert "content-encoding" not in r.headers
    r = client.get(ART + "tokenizer.json", headers={"Range": "bytes=2-5", "Accept-Encoding": "gzip"})
    assert r.status_code == 206 and r.content == b'voca' and "content-encoding" not in r.headers
