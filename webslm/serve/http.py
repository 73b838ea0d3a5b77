"""HTTP semantics for everything served: content types, validators and 304, byte ranges,
and gzip for text.

Caching policy: no URL served here is content-addressed (artifact files are named by model
id, the JavaScript by package name), so every response says `Cache-Control: no-cache` with a
strong ETag and browsers revalidate with a cheap 304. An artifact file's ETag is its sha256
from the build manifest, so a rebuild with identical bytes keeps every browser cache valid.
WebLLM keeps its own Cache API copy of a loaded model, so revalidation costs nothing there.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
from email.utils import formatdate, parsedate_to_datetime
from functools import lru_cache
from pathlib import Path

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

NO_CACHE = "no-cache"
CONTENT_TYPES = {
    ".wasm": "application/wasm",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".bin": "application/octet-stream",
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".ico": "image/x-icon",
    ".webp": "image/webp",
    ".woff2": "font/woff2",
}
# A model library is mostly WGSL source: gzip takes SmolLM2's from 5.5 MB to 0.9 MB.
_COMPRESSIBLE = ("text/", "application/json", "image/svg+xml", "application/wasm")
_GZIP_MIN = 512
_CHUNK = 1 << 18
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_BEYOND_ANY_FILE = 10**18


def content_type(name: str) -> str:
    return CONTENT_TYPES.get(os.path.splitext(name)[1].lower(), "application/octet-stream")


def compressible(ctype: str) -> bool:
    return ctype.startswith(_COMPRESSIBLE)


def accepts_gzip(request: Request) -> bool:
    for item in request.headers.get("accept-encoding", "").split(","):
        name, _, params = item.strip().partition(";")
        q = params.strip().removeprefix("q=") if params.strip().startswith("q=") else "1"
        if name.strip().lower() in ("gzip", "*") and _float(q) > 0:
            return True
    return False


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


def _gz_etag(etag: str) -> str:
    return etag[:-1] + '-gz"'


def not_modified(request: Request, etag: str, mtime: float | None) -> bool:
    """RFC 9110 13.2.2: If-None-Match wins over If-Modified-Since; weak comparison."""
    inm = request.headers.get("if-none-match")
    if inm is not None:
        tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
        return "*" in tags or etag in tags or _gz_etag(etag) in tags
    ims = request.headers.get("if-modified-since")
    if ims is None or mtime is None:
        return False
    try:
        return int(mtime) <= parsedate_to_datetime(ims).timestamp()
    except (TypeError, ValueError):
        return False


def byte_range(request: Request, size: int, etag: str, last_modified: str | None):
    """None (send it all), (start, end) inclusive, or "unsatisfiable"."""
    header = request.headers.get("range")
    if header is None or request.method not in ("GET", "HEAD"):
        return None
    if_range = request.headers.get("if-range")
    if if_range is not None and if_range.strip() not in (etag, last_modified):
        return None  # the client's copy is stale: it gets the whole new one
    match = _RANGE.match(header.strip())
    if match is None:
        return None  # multiple or malformed ranges: ignoring Range is always allowed
    first, last = (_position(g) for g in match.groups())
    if first is None and last is None:
        return None
    if first is None:
        start, end = max(0, size - last), size - 1
        if last == 0:
            return "unsatisfiable"
    else:
        start, end = first, min(size - 1 if last is None else last, size - 1)
    if start >= size or start > end:
        return "unsatisfiable"
    return start, end


def _position(digits: str) -> int | None:
    """A byte position; past 18 digits any number is beyond every file (RFC 9110 14.1.2), and
    int() of over 4,300 digits raises: such a number is read as 10**18, never parsed."""
    if digits == "":
        return None
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= 18 else _BEYOND_ANY_FILE


def _base_headers(ctype: str, etag: str, mtime: float | None, cache: str) -> dict[str, str]:
    headers = {"content-type": ctype, "etag": etag, "cache-control": cache,
               "accept-ranges": "bytes"}
    if mtime is not None:
        headers["last-modified"] = formatdate(mtime, usegmt=True)
    if compressible(ctype):
        headers["vary"] = "Accept-Encoding"
    return headers


class FileSlice(Response):
    """Streams bytes [start, start+length) of a file, read in a worker thread."""

    def __init__(self, path: Path, start: int, length: int, status: int,
                 headers: dict[str, str], send_body: bool):
        super().__init__(status_code=status, headers={**headers, "content-length": str(length)})
        self.path, self.start, self.length, self.send_body = path, start, length, send_body

    async def __call__(self, scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": self.status_code,
                    "headers": self.raw_headers})
        if not self.send_body or self.length == 0:
            await send({"type": "http.response.body", "body": b""})
            return
        # uvicorn drops the body of a client that left without telling the app: without this
        # watch, every aborted download went on reading its whole range (up to a 100 MB shard).
        async with anyio.create_task_group() as group:
            group.start_soon(_cancel_on_disconnect, receive, group.cancel_scope)
            await self._send_body(send)
            group.cancel_scope.cancel()

    async def _send_body(self, send) -> None:
        with open(self.path, "rb") as f:
            f.seek(self.start)
            remaining = self.length
            while remaining > 0:
                chunk = await run_in_threadpool(f.read, min(_CHUNK, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
                await send({"type": "http.response.body", "body": chunk,
                            "more_body": remaining > 0})
        if remaining > 0:  # the file shrank under us: end the body anyway
            await send({"type": "http.response.body", "body": b""})


async def _cancel_on_disconnect(receive, scope: anyio.CancelScope) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    scope.cancel()


def _finish(request: Request, status: int, headers: dict[str, str], body: bytes) -> Response:
    headers["content-length"] = str(len(body))
    return Response(b"" if request.method == "HEAD" else body, status, headers)


def _respond(request: Request, *, ctype: str, size: int, etag: str, mtime: float | None,
             cache: str, body: bytes | None, gzip_all, path: Path | None) -> Response:
    """Exactly one of body (generated content) and path (a file, streamed) is given."""
    headers = _base_headers(ctype, etag, mtime, cache)
    if not_modified(request, etag, mtime):
        return Response(status_code=304, headers={k: v for k, v in headers.items()
                                                   if k != "content-type"})
    wanted = byte_range(request, size, etag, headers.get("last-modified"))
    if wanted == "unsatisfiable":
        headers["content-range"] = f"bytes */{size}"
        return _finish(request, 416, headers, b"")
    if wanted is not None:
        start, end = wanted
        headers["content-range"] = f"bytes {start}-{end}/{size}"
        if path is not None:
            return FileSlice(path, start, end - start + 1, 206, headers, request.method == "GET")
        return _finish(request, 206, headers, body[start:end + 1])
    if compressible(ctype) and size >= _GZIP_MIN and accepts_gzip(request):
        headers.update({"content-encoding": "gzip", "etag": _gz_etag(etag)})
        return _finish(request, 200, headers, gzip_all())
    if path is not None:
        return FileSlice(path, 0, size, 200, headers, request.method == "GET")
    return _finish(request, 200, headers, body)


def _gzipped(body: bytes) -> bytes:
    return gzip.compress(body, compresslevel=6, mtime=0)


@lru_cache(maxsize=16)
def _file_gzip(path: str, mtime_ns: int, size: int) -> bytes:
    """gzip of a 3 MB tokenizer takes a tenth of a second: do it once per file version
    (mtime and size are in the cache key)."""
    return _gzipped(Path(path).read_bytes())


def file_response(request: Request, path: Path, *, sha256: str | None = None,
                  expected_bytes: int | None = None, cache: str = NO_CACHE) -> Response:
    """A file on disk. sha256 (from a manifest) becomes the ETag while the size still matches."""
    st = path.stat()
    if sha256 and expected_bytes == st.st_size:
        etag = f'"{sha256}"'
    else:
        etag = f'"{st.st_mtime_ns:x}-{st.st_size:x}"'
    key = (str(path), st.st_mtime_ns, st.st_size)
    return _respond(request, ctype=content_type(path.name), size=st.st_size, etag=etag,
                    mtime=st.st_mtime, cache=cache, path=path, body=None,
                    gzip_all=lambda: _file_gzip(*key))


def bytes_response(request: Request, body: bytes, ctype: str, *,
                   cache: str = NO_CACHE) -> Response:
    """Generated content (pages, JSON): the ETag is a hash of the body."""
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    return _respond(request, ctype=ctype, size=len(body), etag=etag, mtime=None, cache=cache,
                    body=body, gzip_all=lambda: _gzipped(body), path=None)
