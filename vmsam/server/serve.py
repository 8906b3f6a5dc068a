"""``vmsam serve``: the dashboard API and its page, served by uvicorn.

One process serves every request on one event loop (the routes compute in its threads).
On PostgreSQL, several processes can share the load: uvicorn starts them with the factory

    VMSAM_CONFIG=/etc/vmsam/vmsam.toml uvicorn --factory --workers 4 \
        --host 127.0.0.1 --port 8080 vmsam.server.serve:app_from_environment

Each process has its own cache of answers (vmsam.server.api._cache), kept current through
``Store.version()``, so a write through one process shows in the others' next answers.
"""

from __future__ import annotations

import errno
import socket

import uvicorn
from fastapi import FastAPI

from vmsam.server.api import create_app
from vmsam.server.availability import Profiles
from vmsam.server.collector import freeze_startup
from vmsam.server.store import Store
from vmsam.shared.config import Settings, load_settings
from vmsam.shared.errors import ServeError

__all__ = ["ServeError", "app_from_environment", "serve"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


def _bind(host: str, port: int) -> socket.socket:
    # bound here rather than by uvicorn, so that a taken port is a clear error, not a log line
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, not left 0: asyncio sets TCP_NODELAY only on accepted sockets whose
    # proto says TCP, and without it an answer written in two parts (uvicorn's h11 writes
    # the head, then the body) waits for the client's delayed ACK: 40 ms on Linux
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
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
    freeze_startup()
    config = uvicorn.Config(app, log_level="info", access_log=True, proxy_headers=False)
    uvicorn.Server(config).run(sockets=[sock])


def app_from_environment() -> FastAPI:
    """The app for ``uvicorn --factory vmsam.server.serve:app_from_environment``: the
    configuration of ``$VMSAM_CONFIG`` (else /etc/vmsam/vmsam.toml), the database of
    ``$VMSAM_DB`` (else ``[consumer] db``), the shipped A/R profiles. The schema is brought
    up to date first (several processes at once take turns)."""
    settings = load_settings()
    store = Store(settings.consumer.db or None)
    store.upgrade()
    app = create_app(store, settings)
    freeze_startup()
    return app
