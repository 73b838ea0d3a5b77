"""The benchmark's server: the serve app plus the bench page, wllama and the GGUF, nothing else."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serve"))
from serve_helpers import make_artifact  # noqa: E402

from webslm.bench.server import PAGE_URL, bench_app, gguf_url, running  # noqa: E402


@pytest.fixture
def client(tmp_path):
    from fastapi.testclient import TestClient

    artifact = make_artifact(tmp_path / "dist", "tiny-q4f32_1")
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF" + bytes(1000))
    (tmp_path / "secret.txt").write_text("secret")
    with TestClient(bench_app([artifact], gguf)) as c:
        yield c


def test_page_wllama_gguf_and_the_model_are_served(client):
    assert "bench-page.js" in client.get(f"/{PAGE_URL}").text
    assert "runBench" in client.get(f"/{PAGE_URL.rsplit('/', 1)[0]}/bench-page.js").text
    assert client.get("/bench/page/engines.js").headers["content-type"].startswith("text/javascript")
    wasm = client.get("/bench/wllama/wasm/wllama.wasm")
    assert wasm.status_code == 200 and wasm.headers["content-type"] == "application/wasm"
    gguf = client.get(f"/{gguf_url(Path('model.gguf'))}", headers={"range": "bytes=0-3"})
    assert gguf.status_code == 206 and gguf.content == b"GGUF"
    assert client.get("/models/tiny-q4f32_1/resolve/main/mlc-chat-config.json").status_code == 200
    assert client.get(f"/{PAGE_URL}").headers["cross-origin-embedder-policy"] == "require-corp"


@pytest.mark.parametrize("path", ["/bench/page/../../secret.txt", "/bench/page/%2e%2e/secret.txt",
                                  "/bench/wllama/../../../../secret.txt", "/bench/other.gguf",
                                  "/bench/gguf/other.gguf", "/bench/gguf/../secret.txt"])
def test_nothing_outside_is_served(client, path):
    assert client.get(path).status_code == 404


def test_a_split_gguf_is_served_shard_by_shard(tmp_path):
    """wllama fetches the other shards of a split file from the first one's folder."""
    from fastapi.testclient import TestClient

    artifact = make_artifact(tmp_path / "dist", "tiny-q4f32_1")
    shards = [tmp_path / f"model.Q8_0-0000{i}-of-00002.gguf" for i in (1, 2)]
    for i, shard in enumerate(shards):
        shard.write_bytes(b"GGUF" + bytes([i]))
    (tmp_path / "model.Q4_0.gguf").write_bytes(b"GGUF")
    with TestClient(bench_app([artifact], shards[0])) as c:
        assert [c.get(f"/{gguf_url(s)}").content for s in shards] == [b"GGUF\x00", b"GGUF\x01"]
        assert c.get("/bench/gguf/model.Q4_0.gguf").status_code == 404


def test_running_serves_on_a_free_port(tmp_path):
    import urllib.request

    artifact = make_artifact(tmp_path / "dist", "tiny-q4f32_1")
    with running(bench_app([artifact], None)) as base:
        assert base.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(base + PAGE_URL) as response:
            assert b"bench-page.js" in response.read()
