"""What the publisher (in the VM) and the consumer (on the server) share to talk STOMP 1.2
to a broker of ``[broker]`` through stomp.py 9: the settings made usable, stomp.py's log
kept to ourselves, and one connection with deadlines of our own around stomp.py's.

stomp.py 9 traps handled here: TCP_NODELAY is set (else each reply waits on Nagle) from
``on_connecting``; ``connect()`` is never asked to wait (it would wait forever for a server
that accepts TCP and says nothing); a watchdog shuts the socket at the caller's deadline so
that nothing blocking outlives it; its socket reads are our own (``Link._receive``): stomp.py
drops every read error before CONNECTED (a TLS 1.3 broker refuses a client certificate only
then, with an alert after the handshake) and, over TLS, never notices the end of the
connection (it spins on the empty reads until a heart-beat is missed). The STOMP ``host``
header is ``[broker] vhost`` when set: RabbitMQ reads it as its virtual host.

Why a broker could not be used is told in one short line, the same for the publisher and
the consumer (``connect_failure``, ``read_failure``, ``refusal``, ``no_connected``).
stomp.py itself is imported only when a connection is made: checking the settings must stay
cheap on the VM.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import socket
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from vmsam.shared.config import BrokerSettings, parse_broker_url
from vmsam.shared.deadline import left
from vmsam.shared.errors import BrokerConfigError, BrokerTrouble

__all__ = [
    "HEARTBEATS",
    "TLS",
    "BrokerConfigError",
    "BrokerTrouble",
    "Endpoint",
    "Link",
    "StompLog",
    "connect_failure",
    "endpoints",
    "no_connected",
    "read_failure",
    "refusal",
    "stomp_log",
]

# client heart-beats (ms): a broker that goes silent is noticed and left for another
HEARTBEATS = (10_000, 10_000)

# the hashed names of a CA directory (openssl rehash / c_rehash): <hash>.<n>
_HASHED_CA = re.compile(r"^[0-9a-f]{8}\.\d+$")
_PEM_CERTIFICATE = re.compile(
    rb"-----BEGIN CERTIFICATE-----\s.*?-----END CERTIFICATE-----\s*", re.DOTALL
)
# an ERROR frame in answer to CONNECT that says the login was refused (ActiveMQ: "User name
# [u] or password is invalid."; RabbitMQ: "Access refused for user 'u'", and a virtual host
# it refuses: "Virtual host 'h' access denied")
_LOGIN_REFUSED = re.compile(
    r"access refused|access denied|password|passcode|login|authenticat|credential"
    r"|not authori[sz]ed|unauthori[sz]ed|virtual host",
    re.IGNORECASE,
)
_VHOST_REFUSED = re.compile(r"virtual host|vhost", re.IGNORECASE)
# a line of a Java stack trace in an ERROR body (ActiveMQ): what follows is no reason
_STACK_FRAME = re.compile(r"^\s+at \S|^\s*\.\.\. \d+ more|^Caused by:")
# OpenSSL's decoration of its messages: "[SSL: REASON] text (_ssl.c:1006)"
_SSL_DECORATION = re.compile(r"^\[[A-Z0-9_]+: [A-Z0-9_]+\]\s*|\s*\(_ssl\.c:\d+\)$")
# an ERROR's message and body are cut at these lengths
MESSAGE_LIMIT = 200
BODY_LIMIT = 300


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
        parsed = parse_broker_url(url)
        if parsed is None:
            raise BrokerConfigError(f"broker URL {url!r} is not host:port")
        found.append(Endpoint(*parsed))
    return found


class StompLog(logging.Handler):
    """Keeps stomp.py's last warning per thread: the only place it says why a connect failed
    (refused, unreachable, certificate rejected). stomp.py's log goes nowhere else: it prints
    tracebacks for ordinary network errors, which must never reach a user."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self._last: dict[int | None, object] = {}

    def emit(self, record: logging.LogRecord) -> None:
        # "could not connect to host %s, port %s: %s" from the connecting thread, the last
        # argument being the exception
        if str(record.msg).startswith("could not connect") and isinstance(record.args, tuple):
            self._last[record.thread] = record.args[-1]

    def pop_error(self) -> BaseException | str:
        """The exception of this thread's last connect failure (or its text), and forget it."""
        error = self._last.pop(threading.get_ident(), "")
        return error if isinstance(error, BaseException) else str(error)

    def pop(self) -> str:
        return str(self.pop_error())


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


def _seconds(value: float) -> str:
    return f"{round(value, 1):g} s"


def _bounded(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _ssl_text(exc: OSError) -> str:
    """OpenSSL's message without its decoration: ``sslv3 alert bad certificate``."""
    text = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], str) else str(exc)
    return _SSL_DECORATION.sub("", text).strip() or type(exc).__name__


def _tls_failure(exc: OSError, client_cert: bool) -> str:
    import ssl

    if isinstance(exc, ssl.SSLCertVerificationError):
        # ours refused the broker's: "certificate verify failed: unable to get local issuer
        # certificate" (a CA of [broker] ca_file / ca_dir did not sign it), a name mismatch
        reason = exc.verify_message or _ssl_text(exc)
        return f"TLS: broker certificate rejected: certificate verify failed: {reason}"
    reason = str(getattr(exc, "reason", "") or "")
    if "ALERT" in reason and ("CERTIFICATE" in reason or "UNKNOWN_CA" in reason):
        # the broker's alert about ours: TLSV13_ALERT_CERTIFICATE_REQUIRED,
        # SSLV3_ALERT_BAD_CERTIFICATE (Java, also for none), SSLV3_ALERT_CERTIFICATE_UNKNOWN,
        # TLSV1_ALERT_UNKNOWN_CA, ..._CERTIFICATE_EXPIRED, ..._CERTIFICATE_REVOKED
        hint = "" if client_cert else " (no client certificate: set [broker] cert)"
        return f"TLS: certificate rejected by the broker: {_ssl_text(exc)}{hint}"
    return f"TLS: {_ssl_text(exc)}"


def _socket_failure(exc: OSError, otherwise: str) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset by the broker"
    return f"{otherwise}: {exc.strerror or exc or type(exc).__name__}"


def connect_failure(
    error: BaseException | str, endpoint: Endpoint, *, timeout: float, client_cert: bool
) -> str:
    """Why the TCP connection or the TLS handshake to ``endpoint`` failed, from the exception
    stomp.py logged (or its text): ``connection refused``, ``name not resolved: <host>``..."""
    import ssl

    if isinstance(error, ssl.SSLError):
        return _tls_failure(error, client_cert)
    if isinstance(error, socket.gaierror):
        return f"name not resolved: {endpoint.host} ({error.strerror or error})"
    if isinstance(error, TimeoutError):
        what = "TLS handshake" if "handshake" in str(error) else "TCP connection"
        return f"timed out: no {what} within {_seconds(timeout)}"
    if isinstance(error, OSError):
        return _socket_failure(error, "cannot connect")
    return f"cannot connect: {error or type(error).__name__}"


def read_failure(exc: OSError, *, client_cert: bool) -> str:
    """Why reading from an open connection failed: a TLS alert (a broker that refuses the
    client certificate after a TLS 1.3 handshake), a reset, another socket error."""
    import ssl

    if isinstance(exc, ssl.SSLError):
        return _tls_failure(exc, client_cert)
    return _socket_failure(exc, "connection lost")


def no_connected(waited: float) -> str:
    """A broker that took the TCP connection (and the TLS handshake) but did not answer."""
    return f"timed out: no answer to CONNECT within {_seconds(waited)}"


def refusal(
    headers: Mapping[str, str], body: str | bytes | None, *, connected: bool, vhost: str
) -> str:
    """An ERROR frame in one line: ``broker error: <message> — <body>``, or ``login refused by
    the broker: ...`` when it answers CONNECT about the login; a refused RabbitMQ virtual host
    gets a hint about ``[broker] vhost``. The body loses its Java stack trace (ActiveMQ) and
    is not repeated when it only says the message again."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    reason = []
    for line in (body or "").splitlines():
        if _STACK_FRAME.match(line):
            break
        reason.append(line)
    message = _bounded(str(headers.get("message", "")), MESSAGE_LIMIT)
    text = _bounded(" ".join(reason), BODY_LIMIT)
    if not text or text == message or (message and text.endswith(message)):
        detail = message  # "java.lang.SecurityException: <message>" says nothing more
    elif not message or text.startswith(message):
        detail = text
    else:
        detail = f"{message} — {text}"
    detail = detail or "an ERROR frame without a message"
    said = f"{message} {text}"
    if _VHOST_REFUSED.search(said):
        if vhost:
            detail += f' ([broker] vhost is "{vhost}"; for RabbitMQ usually "/")'
        else:
            detail += ' (set [broker] vhost, for RabbitMQ usually "/")'
    if not connected and _LOGIN_REFUSED.search(said):
        return f"login refused by the broker: {detail}"
    return f"broker error: {detail}"


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
        self._tls = tls is not None
        self._client_cert = tls is not None and bool(tls.cert)
        self._tcp_timeout = tcp_timeout
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
            # the CONNECT frame's host header (stomp.py's own is the broker's host name, which
            # a header passed to connect() would not replace)
            vhost=settings.vhost or None,
        )
        if tls is not None:
            self._conn.set_ssl(
                for_hosts=[address], key_file=tls.key, cert_file=tls.cert, ca_certs=ca_certs
            )
        transport = self._conn.transport
        self._recv_bytes = int(getattr(transport, "_Transport__recv_bytes", 1024))
        transport.receive = self._receive
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
        self._fail(
            refusal(
                frame.headers,
                frame.body,
                connected=self._connected,
                vhost=self._settings.vhost,
            )
        )

    def on_disconnected(self) -> None:
        self._fail("connection closed" if self._connected else self._closed_early())

    def on_heartbeat_timeout(self) -> None:
        self._fail("no heart-beat from the broker")

    def on_send(self, frame: Any) -> None:
        """Present so that stomp.py does not raise and catch AttributeError for every frame."""

    def _fail(self, reason: str) -> None:
        with self._condition:
            self.failure = self.failure or reason
            self._condition.notify_all()
        self.ended.set()

    def _closed_early(self) -> str:
        """The broker's end of the connection before CONNECTED."""
        if not self._tls:
            return "connection closed by the broker before CONNECTED"
        # what a TLS 1.3 broker that refuses the client certificate looks like without its
        # alert (lost when our CONNECT was written into the closed connection first)
        if self._client_cert:
            reason = "client certificate probably rejected"
        else:
            reason = "it probably wants a client certificate (set [broker] cert)"
        return f"TLS: the broker closed the connection after the handshake: {reason}"

    def _receive(self) -> bytes | None:
        """stomp.py's ``Transport.receive``, called by its I/O thread, which does not tell
        why a connection ends: read errors before CONNECTED are dropped (among them the TLS
        alert by which a TLS 1.3 broker refuses a client certificate) and, over TLS, the
        empty read of a closed connection is taken for "no data yet" forever. Here every
        read error is the failure, and the end of the connection ends stomp.py's loop."""
        transport = self._conn.transport
        sock = transport.socket
        if sock is None:
            transport.running = False
            return None
        try:
            data: bytes = sock.recv(self._recv_bytes)
        except OSError as exc:
            import ssl

            if isinstance(exc, (ssl.SSLWantReadError, ssl.SSLWantWriteError)):
                raise
            if exc.errno in (errno.EAGAIN, errno.EINTR):
                from stomp.exception import InterruptedException

                raise InterruptedException() from exc
            if self._tls and not self._connected and not isinstance(exc, ssl.SSLError):
                self._fail(self._closed_early())
            self._fail(read_failure(exc, client_cert=self._client_cert))
            transport.running = False
            raise
        if not data and self._tls:
            # the end of a TLS connection, which stomp.py takes for "no data yet" (it sees
            # the end of a plain one itself)
            transport.running = False
        return data

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
            error = log.pop_error() or exc
            reason = connect_failure(
                error, self.endpoint, timeout=self._tcp_timeout, client_cert=self._client_cert
            )
            raise BrokerTrouble(self.reason(reason)) from exc

    def reason(self, otherwise: str) -> str:
        """The failure, unless it is only our watchdog's (``ABORTED``): then ``otherwise``,
        what the watchdog cut short, tells more."""
        failure = self.failure
        return failure if failure and failure != self.ABORTED else otherwise

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
