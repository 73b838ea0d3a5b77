"""Run the app with uvicorn on a socket bound here first, so a busy port is a clear error and
the printed URL is the one actually listening (port 0 picks a free port)."""

from __future__ import annotations

import ipaddress
import socket
from typing import Callable

from webslm.errors import WebslmError
from webslm.serve.hosts import guard_hosts, is_loopback


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise WebslmError(f"cannot listen on {host}:{port} ({err.strerror or err})",
                          "pass another --port, or stop what is using it") from err
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        pass
    return f"http://{host}:{port}/"


def serve(app, host: str, port: int, say: Callable[[str], None] = print) -> None:
    """Serve until interrupted; bound to loopback, only to loopback Host names (hosts.py)."""
    import uvicorn

    sock = bind(host, port)
    say(f"serving on {url_of(sock)}")
    if not is_loopback(host):
        say(f"note: bound to {host}, so other machines can reach this server")
    config = uvicorn.Config(guard_hosts(app, host), log_level="warning", access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])
