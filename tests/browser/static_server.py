"""A tiny threaded static file server on 127.0.0.1 for browser tests.

WebLLM needs a real http origin: 127.0.0.1 counts as a secure context, so navigator.gpu
and the Cache API exist there, which they do not on file:// or about:blank. Module scripts
and WebAssembly.instantiateStreaming insist on the right MIME types, so they are fixed
here rather than left to the machine's mime.types. Every request is recorded, so a test
can show which file the browser failed to get.
"""

from __future__ import annotations

import os
import re
import threading
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

MIME_TYPES = {
    ".wasm": "application/wasm",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".json": "application/json",
    ".html": "text/html; charset=utf-8",
    ".bin": "application/octet-stream",
    ".map": "application/json",
    "": "application/octet-stream",
}
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class _Handler(SimpleHTTPRequestHandler):
    extensions_map = MIME_TYPES

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        self.send_header("Accept-Ranges", "bytes")
        super().end_headers()

    def log_request(self, code="-", size="-"):
        code = getattr(code, "value", code)
        self.server.requests.append((self.command, self.path, code))

    def log_message(self, format, *args):  # noqa: A002 - keep test output quiet
        pass

    def do_GET(self):
        path = self.translate_path(self.path)
        match = _RANGE.match(self.headers.get("Range", "").strip())
        if match is None or not os.path.isfile(path):
            return super().do_GET()
        size = os.path.getsize(path)
        first, last = match.groups()
        if first == "":  # suffix range: the last N bytes
            start, end = max(0, size - int(last or 0)), size - 1
        else:
            start, end = int(first), min(int(last) if last else size - 1, size - 1)
        if start >= size or start > end:
            self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        self.send_response(HTTPStatus.PARTIAL_CONTENT)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        with open(path, "rb") as f:
            f.seek(start)
            remaining = end - start + 1
            while remaining > 0:
                chunk = f.read(min(1 << 20, remaining))
                if not chunk:
                    break
                self.wfile.write(chunk)
                remaining -= len(chunk)
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # the browser dropping a connection is not a test failure


class StaticServer:
    """Serve `root` at http://127.0.0.1:<free port>/ until stop() (or the with-block ends)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._httpd = _Server(("127.0.0.1", 0), partial(_Handler, directory=str(self.root)))
        self._httpd.requests = []
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def requests(self) -> list[tuple[str, str, int]]:
        """(method, path, status) of every request so far."""
        return list(self._httpd.requests)

    def start(self) -> StaticServer:
        self._thread.start()
        return self

    def stop(self):
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> StaticServer:
        return self.start()

    def __exit__(self, *exc):
        self.stop()
