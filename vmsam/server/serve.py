"""``vmsam serve``: the dashboard API and its page, served by uvicorn."""

from __future__ import annotations

import errno
import socket

import uvicorn

from vmsam.server.api import create_app
from vmsam.server.availability import Profiles
from vmsam.server.store import Store
from vmsam.shared.config import Settings
from vmsam.shared.errors import ServeError

__all__ = ["ServeError", "serve"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


def _bind(host: str, port: int) -> socket.socket:
    # bound here rather than by uvicorn, so that a taken port is a clear error, not a log line
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OverflowError:
        sock.close()
        raise ServeError(f"port {port} is not within 0..65535") from None
    except OSError as exc:
        sock.close()
        reason = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise ServeError(f"cannot listen on {host}:{port}: {reason}") from None
    return sock


def serve(
    store: Store,
    settings: Settings,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    profiles: Profiles | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM. The schema is brought up to date before listening."""
    store.upgrade()
    sock = _bind(host, port)
    app = create_app(store, settings, profiles=profiles)
    config = uvicorn.Config(app, log_level="info", access_log=True, proxy_headers=False)
    uvicorn.Server(config).run(sockets=[sock])
