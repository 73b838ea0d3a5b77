"""Which Host headers a server bound to loopback answers (DNS rebinding).

A web page anywhere can point a name it controls at 127.0.0.1 after the browser looked it up
once ("DNS rebinding"); the browser then treats the local server as that page's own origin
and lets the page read every file it serves, private fine-tunes included. The one thing that
page cannot change is the Host header, which still names the attacker's domain. So a server
bound to loopback answers only the loopback names and the address it was bound to, with any
port, and 421 Misdirected Request to anything else. A server bound to another address is
meant for other machines, whose names it cannot know: it answers every Host.
"""

from __future__ import annotations

import ipaddress

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")


def is_loopback(host: str) -> bool:
    """True for the address `--host` binds when it is loopback (localhost, 127.x.y.z, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _without_port(host_header: str) -> str:
    """The name in a Host header: "[::1]:8000" -> "[::1]", "localhost:80" -> "localhost"."""
    name = host_header.strip().lower()
    if name.startswith("["):
        return name[: name.find("]") + 1] if "]" in name else name
    return name.rsplit(":", 1)[0] if name.count(":") == 1 else name


def allowed_names(bind_host: str) -> frozenset[str]:
    bound = bind_host.lower()
    return frozenset({*LOOPBACK_NAMES, f"[{bound}]" if ":" in bound else bound})


class LoopbackHostGuard:
    """ASGI middleware: 421 for a request whose Host is not one of `allowed_names`. A request
    without a Host header (HTTP/1.0) is no browser's, so rebinding cannot send it: it passes."""

    def __init__(self, app, bind_host: str):
        self.app = app
        self.names = allowed_names(bind_host)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            hosts = [v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"host"]
            if any(_without_port(h) not in self.names for h in hosts):
                body = b"misdirected request: this server answers only its loopback names\n"
                await send({"type": "http.response.start", "status": 421, "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def guard_hosts(app, bind_host: str):
    """`app` behind LoopbackHostGuard when bound to loopback, else `app` itself."""
    return LoopbackHostGuard(app, bind_host) if is_loopback(bind_host) else app
