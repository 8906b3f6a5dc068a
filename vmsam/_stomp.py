"""What the publisher (in the VM) and the consumer (on the server) share to talk STOMP 1.2
to a broker of ``[broker]`` through stomp.py 9: the settings made usable, stomp.py's log
kept to ourselves, and one connection with deadlines of our own around stomp.py's.

stomp.py 9 traps handled here (DOMAIN.md section 9): TCP_NODELAY is set from
``on_connecting``; ``connect()`` is never asked to wait (it would wait forever for a server
that accepts TCP and says nothing); a watchdog shuts the socket at the caller's deadline so
that nothing blocking outlives it. stomp.py itself is imported only when a connection is
made: checking the settings must stay cheap on the VM.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from vmsam.config import BrokerSettings

__all__ = [
    "HEARTBEATS",
    "TLS",
    "BrokerConfigError",
    "BrokerTrouble",
    "Endpoint",
    "Link",
    "StompLog",
    "endpoints",
    "left",
    "stomp_log",
]

# client heart-beats (ms): a broker that goes silent is noticed and left for another
HEARTBEATS = (10_000, 10_000)

_URL = re.compile(r"^(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<host>[^\s:/\[\]]+)):(?P<port>\d{1,5})$")
# the hashed names of a CA directory (openssl rehash / c_rehash): <hash>.<n>
_HASHED_CA = re.compile(r"^[0-9a-f]{8}\.\d+$")
_PEM_CERTIFICATE = re.compile(
    rb"-----BEGIN CERTIFICATE-----\s.*?-----END CERTIFICATE-----\s*", re.DOTALL
)


class BrokerConfigError(Exception):
    """The ``[broker]`` settings cannot work (no broker, a malformed URL, unusable TLS files)."""


class BrokerTrouble(Exception):
    """A broker could not be used any more on this connection; the reason is one line."""


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def endpoints(urls: Sequence[str]) -> list[Endpoint]:
    """The brokers of ``[broker] urls``, each ``host:port`` or ``[ipv6]:port``."""
    if not urls:
        raise BrokerConfigError("no broker configured ([broker] urls is empty)")
    found = []
    for url in urls:
        match = _URL.match(url.strip())
        port = int(match["port"]) if match else 0
        if not match or not 0 < port < 65536:
            raise BrokerConfigError(f"broker URL {url!r} is not host:port")
        found.append(Endpoint(match["ipv6"] or match["host"], port))
    return found


def left(until: float) -> float:
    """Seconds from now to ``until`` (a ``time.monotonic()`` value), never negative."""
    return max(0.0, until - time.monotonic())


class StompLog(logging.Handler):
    """Keeps stomp.py's last warning per thread: the only place it says why a connect failed
    (refused, unreachable, certificate rejected). stomp.py's log goes nowhere else: it prints
    tracebacks for ordinary network errors, which must never reach a user."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self._last: dict[int | None, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        # "could not connect to host %s, port %s: %s" from the connecting thread
        if str(record.msg).startswith("could not connect") and isinstance(record.args, tuple):
            self._last[record.thread] = str(record.args[-1])

    def pop(self) -> str:
        return self._last.pop(threading.get_ident(), "")


def stomp_log() -> StompLog:
    """The one handler on stomp.py's logger, installed on first use."""
    logger = logging.getLogger("stomp.py")
    for handler in logger.handlers:
        if isinstance(handler, StompLog):
            return handler
    handler = StompLog()
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    logger.propagate = False
    return handler


class TLS:
    """The client's certificate (a host certificate or a proxy, which holds its key) and the
    CAs trusted for the broker: a CA file, a hashed CA directory, or both. Checked when made,
    so that settings that cannot work are told before any broker is tried."""

    def __init__(self, settings: BrokerSettings) -> None:
        self.cert = settings.cert or None
        self.key = settings.key or settings.cert or None
        if settings.key and not settings.cert:
            raise BrokerConfigError("[broker] key is set without cert")
        self.ca_file = settings.ca_file
        self.ca_dir = settings.ca_dir
        self._check()

    def _check(self) -> None:
        import ssl

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        try:
            if self.cert:
                context.load_cert_chain(self.cert, self.key)
            if self.ca_file or self.ca_dir:
                context.load_verify_locations(
                    cafile=self.ca_file or None, capath=self.ca_dir or None
                )
        except (OSError, ssl.SSLError) as exc:
            raise BrokerConfigError(f"TLS settings of [broker] do not work: {exc}") from exc
        if self.ca_dir and not self._ca_dir_certificates():
            raise BrokerConfigError(f"no hashed CA certificate in [broker] ca_dir {self.ca_dir}")

    def _ca_dir_certificates(self) -> bytes:
        try:
            names = sorted(os.listdir(self.ca_dir))
        except OSError as exc:
            raise BrokerConfigError(f"cannot read [broker] ca_dir: {exc}") from exc
        certificates = []
        for name in names:
            if _HASHED_CA.match(name):
                with contextlib.suppress(OSError):
                    pem = Path(self.ca_dir, name).read_bytes()
                    certificates.extend(_PEM_CERTIFICATE.findall(pem))
        return b"".join(certificates)

    @contextlib.contextmanager
    def ca_certs(self) -> Iterator[str | None]:
        """A CA file for stomp.py, whose ``set_ssl`` takes only a file: a CA directory is
        concatenated into a temporary one that lives as long as the context."""
        if not self.ca_dir:
            yield self.ca_file or None
            return
        bundle = self._ca_dir_certificates()
        if self.ca_file:
            try:
                bundle = Path(self.ca_file).read_bytes() + b"\n" + bundle
            except OSError as exc:
                raise BrokerConfigError(f"cannot read [broker] ca_file: {exc}") from exc
        with tempfile.NamedTemporaryFile(prefix="vmsam-ca-", suffix=".pem") as file:
            file.write(bundle)
            file.flush()
            yield file.name


class Link:
    """One STOMP 1.2 connection to one broker, and its stomp.py listener: stomp.py calls the
    ``on_*`` methods from its I/O thread. ``failure`` is the first reason the connection
    ended, and ``ended`` is set with it; ``_condition`` is notified on every change."""

    # the failure recorded when our side shuts the socket; each side words its own
    ABORTED: ClassVar[str]

    def __init__(
        self,
        endpoint: Endpoint,
        settings: BrokerSettings,
        *,
        tls: TLS | None,
        ca_certs: str | None,
        tcp_timeout: float,
        auto_decode: bool = True,
    ) -> None:
        import stomp

        self.endpoint = endpoint
        self._settings = settings
        address = (endpoint.host, endpoint.port)
        self._conn = stomp.Connection12(
            [address],
            prefer_localhost=False,
            # stomp.py would add 127.0.0.1 for "localhost", without the TLS settings of it
            try_loopback_connect=False,
            reconnect_sleep_initial=0,
            reconnect_attempts_max=1,
            timeout=tcp_timeout,
            heartbeats=HEARTBEATS,
            auto_decode=auto_decode,
        )
        if tls is not None:
            self._conn.set_ssl(
                for_hosts=[address], key_file=tls.key, cert_file=tls.cert, ca_certs=ca_certs
            )
        self._conn.set_listener("vmsam", self)
        self._condition = threading.Condition()
        self._connected = False
        self._watchdog: threading.Timer | None = None
        self.failure = ""
        self.ended = threading.Event()

    # stomp.py listener interface

    def on_connecting(self, host_and_port: tuple[str, int]) -> None:
        # without it every send-then-wait costs a delayed ACK (about 44 ms)
        sock = self._conn.transport.socket
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def on_connected(self, frame: Any) -> None:
        with self._condition:
            self._connected = True
            self._condition.notify_all()

    def on_error(self, frame: Any) -> None:
        body = frame.body or ""
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        message = frame.headers.get("message") or str(body).strip()
        self._fail(f"broker error: {' '.join(str(message).split())[:200]}")

    def on_disconnected(self) -> None:
        self._fail("connection closed")

    def on_heartbeat_timeout(self) -> None:
        self._fail("no heart-beat from the broker")

    def on_send(self, frame: Any) -> None:
        """Present so that stomp.py does not raise and catch AttributeError for every frame."""

    def _fail(self, reason: str) -> None:
        with self._condition:
            self.failure = self.failure or reason
            self._condition.notify_all()
        self.ended.set()

    # our side

    def _arm(self, until: float) -> None:
        """Shut the socket at ``until`` whatever stomp.py is doing: its TCP connect, a send
        blocked on a full socket and a silent broker have no deadline of their own."""
        self._watchdog = threading.Timer(left(until), self.abort)
        self._watchdog.daemon = True
        self._watchdog.start()

    def _disarm(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()

    def _connect(self, log: StompLog) -> None:
        """Send CONNECT; the caller waits for CONNECTED with a deadline of its own."""
        from stomp.exception import StompException

        user = self._settings.user or None
        password = self._settings.password or None
        try:
            self._conn.connect(username=user, passcode=password, wait=False)
        except (StompException, OSError) as exc:
            reason = log.pop() or str(exc) or type(exc).__name__
            raise BrokerTrouble(self.failure or f"cannot connect: {reason}") from exc

    def close(self, until: float) -> None:
        """DISCONNECT cleanly if the broker answers in time, then shut the socket anyway."""
        from stomp.exception import StompException

        with contextlib.suppress(StompException, OSError):
            self._conn.disconnect()
            self.ended.wait(left(until))
        self.abort()

    def abort(self) -> None:
        """Shut the socket: stomp.py's I/O thread and any blocked send wake up and end."""
        self._disarm()
        self._fail(self.ABORTED)
        transport = self._conn.transport
        transport.running = False
        sock = transport.socket
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
