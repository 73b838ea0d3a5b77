"""The site `webslm serve` serves, plus what only the benchmark needs: its page (web/bench/),
wllama's files and the GGUF wllama reads. Runs uvicorn in a thread on a free port for the length of a `with` block."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from pathlib import Path

from fastapi import Request

from webslm import resources
from webslm.errors import WebslmError
from webslm.serve.app import create_app, not_found, tree_route
from webslm.serve.http import file_response
from webslm.serve.layout import default_web_root
from webslm.serve.server import bind, url_of
from webslm.source.gguf import gguf_shards

WLLAMA_DIR = resources.WLLAMA_ESM
PAGE_URL = "bench/page/bench.html"  # web/bench/: served by `webslm bench` only, never exported
GGUF_FOLDER = "bench/gguf/"  # the GGUF's folder: wllama finds a split file's other shards there


def gguf_url(gguf: Path) -> str:
    """Where bench_app serves `gguf` (its first shard), relative to the site root."""
    return GGUF_FOLDER + gguf.name


def bench_app(artifact_dirs: list[Path], gguf: Path | None):
    web_root = default_web_root()
    app = create_app(artifact_dirs, web_root)
    wllama = web_root / WLLAMA_DIR
    if not (wllama / "index.js").is_file():
        raise WebslmError(f"{wllama} is missing",
                          f"run `{resources.NPM_INSTALL}` (or `make install`)")
    app.add_api_route("/bench/wllama/{subpath:path}", tree_route(wllama), methods=["GET", "HEAD"])
    app.add_api_route("/bench/page/{subpath:path}", tree_route(web_root / "bench"),
                      methods=["GET", "HEAD"])
    if gguf is not None:
        app.add_api_route(f"/{GGUF_FOLDER}{{subpath:path}}", _gguf_route(gguf), methods=["GET", "HEAD"])
    return app


def _gguf_route(gguf: Path):
    """The file and, for a split one, its other shards, only."""
    files = {shard.name: shard for shard in gguf_shards(gguf)}

    def shard(request: Request, subpath: str):
        return file_response(request, files[subpath]) if subpath in files else not_found()
    return shard


@contextmanager
def running(app):
    """Serve app on 127.0.0.1 (a free port) in a daemon thread; yield its base URL."""
    import uvicorn

    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False,
                                          lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise WebslmError("the benchmark's HTTP server did not start", "see the log above")
        time.sleep(0.05)
    try:
        yield url_of(sock)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
