"""A loopback HTTP proxy in front of `webslm serve` that breaks chosen downloads off half-way,
the way a flaky network does: the status line and the full Content-Length are sent, then the
connection closes after half the body. Every request is logged with the body bytes sent, so
a test can see whether the browser resumed (a 206 answer to a Range request) or started
over, and how much a load downloaded."""

from __future__ import annotations

import http.client
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

FORWARDED = ("Range", "If-Range", "If-None-Match", "If-Modified-Since", "Accept-Encoding")
RETURNED = ("Content-Type", "Content-Length", "Content-Encoding", "Vary", "Content-Range",
            "Accept-Ranges", "ETag",
            "Last-Modified", "Cache-Control", "Cross-Origin-Opener-Policy",
            "Cross-Origin-Embedder-Policy", "Cross-Origin-Resource-Policy")


@contextmanager
def flaky_proxy(upstream: str, cut: set[str]):
    """Yields (base URL, log). Each path ending in a name in `cut` breaks off once."""
    target = urlsplit(upstream)
    log: list[dict] = []
    pending = set(cut)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):  # noqa: N802 - http.server's name
            conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
            conn.request("GET", self.path, headers={h: self.headers[h] for h in FORWARDED if h in self.headers})
            answer = conn.getresponse()
            name = self.path.rsplit("/", 1)[-1].split("?")[0]
            breaks = name in pending and answer.status == 200
            pending.discard(name)
            entry = {"path": self.path, "status": answer.status, "range": self.headers.get("Range"),
                     "cut": breaks, "bytes": 0}
            log.append(entry)
            self.send_response(answer.status)
            for header in RETURNED:
                if answer.getheader(header) is not None:
                    self.send_header(header, answer.getheader(header))
            self.end_headers()
            length = int(answer.getheader("Content-Length") or 0)
            limit = length // 2 if breaks else length
            sent = 0
            while sent < limit:
                chunk = answer.read(min(1 << 16, limit - sent))
                if not chunk:
                    break
                self.wfile.write(chunk)
                sent += len(chunk)
                entry["bytes"] = sent
            conn.close()
            if breaks:
                self.close_connection = True
                self.wfile.flush()
                self.connection.close()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", log
    finally:
        server.shutdown()
        server.server_close()
