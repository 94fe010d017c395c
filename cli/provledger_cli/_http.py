"""What the HTTP servers (`witness serve`, `serve`) share: --listen, a socket
bound before the URL is printed (so port 0 works), and uvicorn.

uvicorn is imported only when a server runs.
"""

from __future__ import annotations

import socket
import sys
from typing import Any

import click

#: uvicorn's log levels, for --log-level.
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (an IPv6 host in brackets) as (host, port).

    Raises:
        click.BadParameter: not HOST:PORT.
    """
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise click.BadParameter("expected HOST:PORT, e.g. 127.0.0.1:8080 or [::1]:8080",
                                 param_hint="--listen")
    return host.removeprefix("[").removesuffix("]"), int(port)


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (0: a free port).

    Raises:
        OSError: the address cannot be bound.
    """
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def base_url(host: str, sock: socket.socket, path: str = "") -> str:
    """The ``http://`` URL ``sock`` serves ``path`` at."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{sock.getsockname()[1]}{path}"


def run(app: Any, sock: socket.socket, *, log_level: str) -> None:
    """Serve the ASGI ``app`` on ``sock`` until interrupted; stdout is flushed
    first, so that whoever started the server reads what it printed."""
    import uvicorn

    sys.stdout.flush()
    config = uvicorn.Config(app, log_level=log_level, timeout_graceful_shutdown=5)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
