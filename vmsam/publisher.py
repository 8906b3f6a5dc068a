"""Publish spooled metric messages to STOMP brokers, with confirmed delivery.

STOMP 1.2 through stomp.py's ``Connection12``, one broker at a time from ``[broker] urls``,
failing over to the next when one cannot be reached or drops the connection. Messages are
sent ``persistent:true`` in confirmed batches: the last message of each batch carries a
``receipt`` and, when the receipt arrives, the batch leaves the spool. A few batches are in
flight at once. Measured here on ActiveMQ with 1 KB messages: a receipt awaited for every
message gives about 800/s, and even pipelined a receipt on every message is held to
1,500-2,400/s by the broker's synchronous store; batches of 200 with 4 in flight match
stomp.py's raw rate with a receipt on the last only (bench/bench_publish.py: about
17,000/s without the spool). Delivery is at-least-once: what was sent but not confirmed
when a connection dies is sent again later, and the consumer drops duplicates
(ARCHITECTURE.md, store rules).

stomp.py 9 traps handled here (DOMAIN.md section 9): TCP_NODELAY is set from
``on_connecting``; ``connect()`` is never asked to wait (it would wait forever for a server
that accepts TCP and says nothing), the CONNECTED frame and every receipt are awaited with
deadlines of our own; a dropped connection fails the batches in flight over to the next
broker; and a watchdog shuts the socket at the caller's deadline so that no blocking send
outlives it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import re
import socket
import tempfile
import threading
import time
from collections import deque
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import stomp
import stomp.exception

from vmsam.config import BrokerSettings, Settings
from vmsam.spool import Spool, SpoolError

__all__ = ["DeliveryReport", "PublishError", "Publisher", "send_spool"]

HEADERS = {"persistent": "true", "content-type": "text/plain; charset=utf-8"}
# client heart-beats (ms): a broker that goes silent is noticed even between receipts
HEARTBEATS = (10_000, 10_000)
# a batch of this many messages is confirmed by one receipt; this many batches in flight
BATCH = 200
WINDOW = 4
# a broker that answers no receipt for this long is given up for the next one
RECEIPT_TIMEOUT = 10.0
# threads removing confirmed elements from the spool
REMOVERS = 4
# how long a clean DISCONNECT may take before the socket is simply closed
CLOSE_TIMEOUT = 1.0

_URL = re.compile(r"^(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<host>[^\s:/\[\]]+)):(?P<port>\d{1,5})$")
# the hashed names of a CA directory (openssl rehash / c_rehash): <hash>.<n>
_HASHED_CA = re.compile(r"^[0-9a-f]{8}\.\d+$")
_PEM_CERTIFICATE = re.compile(
    rb"-----BEGIN CERTIFICATE-----\s.*?-----END CERTIFICATE-----\s*", re.DOTALL
)


class PublishError(Exception):
    """The broker settings cannot work (no broker, a malformed URL, unreadable TLS files)."""


@dataclass
class DeliveryReport:
    sent: int = 0
    remaining: int = 0
    errors: list[str] = field(default_factory=list)


class _BrokerTrouble(Exception):
    """A broker could not be used any more on this connection; the reason is one line."""


@dataclass(frozen=True)
class _Endpoint:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def _endpoints(urls: Sequence[str]) -> list[_Endpoint]:
    if not urls:
        raise PublishError("no broker configured ([broker] urls is empty)")
    endpoints = []
    for url in urls:
        match = _URL.match(url.strip())
        port = int(match["port"]) if match else 0
        if not match or not 0 < port < 65536:
            raise PublishError(f"broker URL {url!r} is not host:port")
        endpoints.append(_Endpoint(match["ipv6"] or match["host"], port))
    return endpoints


class _StompLog(logging.Handler):
    """Keeps stomp.py's last warning per thread: the only place it says why a connect failed
    (refused, unreachable, certificate rejected). stomp.py's log goes nowhere else: it prints
    tracebacks for ordinary network errors, which the hook must never show."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self._last: dict[int | None, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        # "could not connect to host %s, port %s: %s" from the connecting thread
        if str(record.msg).startswith("could not connect") and isinstance(record.args, tuple):
            self._last[record.thread] = str(record.args[-1])

    def pop(self) -> str:
        return self._last.pop(threading.get_ident(), "")


def _stomp_log() -> _StompLog:
    logger = logging.getLogger("stomp.py")
    for handler in logger.handlers:
        if isinstance(handler, _StompLog):
            return handler
    handler = _StompLog()
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    logger.propagate = False
    return handler


class _TLS:
    """The client's certificate (a host certificate or a proxy, which holds its key) and the
    CAs trusted for the broker: a CA file, a hashed CA directory, or both."""

    def __init__(self, settings: BrokerSettings) -> None:
        self.cert = settings.cert or None
        self.key = settings.key or settings.cert or None
        if settings.key and not settings.cert:
            raise PublishError("[broker] key is set without cert")
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
            raise PublishError(f"TLS settings of [broker] do not work: {exc}") from exc
        if self.ca_dir and not self._ca_dir_certificates():
            raise PublishError(f"no hashed CA certificate in [broker] ca_dir {self.ca_dir}")

    def _ca_dir_certificates(self) -> bytes:
        certificates = []
        for name in sorted(os.listdir(self.ca_dir)):
            if _HASHED_CA.match(name):
                with contextlib.suppress(OSError):
                    pem = Path(self.ca_dir, name).read_bytes()
                    certificates.extend(_PEM_CERTIFICATE.findall(pem))
        return b"".join(certificates)

    @contextlib.contextmanager
    def ca_certs(self) -> Iterator[str | None]:
        """A CA file for stomp.py, whose ``set_ssl`` takes only a file: a CA directory is
        concatenated into a temporary one that lives as long as the delivery."""
        if not self.ca_dir:
            yield self.ca_file or None
            return
        bundle = self._ca_dir_certificates()
        if self.ca_file:
            try:
                bundle = Path(self.ca_file).read_bytes() + b"\n" + bundle
            except OSError as exc:
                raise PublishError(f"cannot read [broker] ca_file: {exc}") from exc
        with tempfile.NamedTemporaryFile(prefix="vmsam-ca-", suffix=".pem") as file:
            file.write(bundle)
            file.flush()
            yield file.name


class _Connection:
    """One STOMP connection to one broker, with deadlines of our own around stomp.py's.

    Also the connection's listener: stomp.py calls its ``on_*`` methods from its I/O thread.
    """

    def __init__(
        self,
        endpoint: _Endpoint,
        settings: BrokerSettings,
        ca_certs: str | None,
        tls: _TLS | None,
        tcp_timeout: float,
    ) -> None:
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
        )
        if tls is not None:
            self._conn.set_ssl(
                for_hosts=[address], key_file=tls.key, cert_file=tls.cert, ca_certs=ca_certs
            )
        self._conn.set_listener("vmsam", self)
        self._condition = threading.Condition()
        self._connected = False
        self._failure = ""
        self._receipts: list[str] = []
        self._watchdog: threading.Timer | None = None
        self._next_receipt = 0

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

    def on_receipt(self, frame: Any) -> None:
        with self._condition:
            self._receipts.append(str(frame.headers.get("receipt-id", "")))
            self._condition.notify_all()

    def on_error(self, frame: Any) -> None:
        message = frame.headers.get("message") or str(frame.body or "").strip()
        self._fail(f"broker error: {' '.join(str(message).split())[:200]}")

    def on_disconnected(self) -> None:
        self._fail("connection closed")

    def on_heartbeat_timeout(self) -> None:
        self._fail("no heart-beat from the broker")

    def on_send(self, frame: Any) -> None:
        """Present so that stomp.py does not raise and catch AttributeError for every frame."""

    def _fail(self, reason: str) -> None:
        with self._condition:
            self._failure = self._failure or reason
            self._condition.notify_all()

    # our side

    def open(self, until: float, deadline: float, log: _StompLog) -> None:
        """Connect and wait for CONNECTED until ``until``; after ``deadline`` the socket is
        shut whatever we are doing."""
        self._watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), self.abort)
        self._watchdog.daemon = True
        self._watchdog.start()
        user = self._settings.user or None
        password = self._settings.password or None
        try:
            self._conn.connect(username=user, passcode=password, wait=False)
        except (stomp.exception.StompException, OSError) as exc:
            reason = log.pop() or str(exc) or type(exc).__name__
            raise _BrokerTrouble(f"cannot connect: {reason}") from exc
        with self._condition:
            self._condition.wait_for(lambda: self._connected or bool(self._failure), _left(until))
            if not self._connected:
                raise _BrokerTrouble(self._failure or "no answer to CONNECT in time")

    def send(self, data: bytes, receipt: bool) -> str | None:
        """Send one message; with ``receipt``, return the receipt id that will confirm it."""
        headers = dict(HEADERS)
        receipt_id = None
        if receipt:
            self._next_receipt += 1
            receipt_id = headers["receipt"] = f"vmsam-{self._next_receipt}"
        if self._failure:
            raise _BrokerTrouble(self._failure)
        try:
            self._conn.send(self._settings.destination, data, headers=headers)
        except (stomp.exception.StompException, OSError) as exc:
            raise _BrokerTrouble(self._failure or f"send failed: {exc}") from exc
        return receipt_id

    def receipts(self, until: float, block: bool, late: str) -> list[str]:
        """Receipts that arrived; with ``block``, wait for one until ``until`` and then fail
        with ``late`` as the reason."""
        if not block and not self._receipts:
            return []  # the common case, without taking the lock the I/O thread needs
        with self._condition:
            if block:
                self._condition.wait_for(
                    lambda: bool(self._receipts) or bool(self._failure), _left(until)
                )
            arrived, self._receipts = self._receipts, []
            if arrived or not block:
                return arrived
            raise _BrokerTrouble(self._failure or late)

    def close(self, until: float) -> None:
        """DISCONNECT cleanly if the broker answers in time, then shut the socket anyway."""
        with contextlib.suppress(stomp.exception.StompException, OSError):
            self._conn.disconnect()
            with self._condition:
                self._condition.wait_for(lambda: bool(self._failure), _left(until))
        self.abort()

    def abort(self) -> None:
        """Shut the socket: stomp.py's I/O thread and any blocked send wake up and end."""
        if self._watchdog is not None:
            self._watchdog.cancel()
        self._fail("given up at the deadline")
        transport = self._conn.transport
        transport.running = False
        sock = transport.socket
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _left(until: float) -> float:
    return max(0.0, until - time.monotonic())


class _Outbox(Protocol):
    def claim(self) -> Generator[tuple[str, bytes]]: ...
    def confirm(self, name: str) -> None: ...
    def release(self, name: str) -> None: ...
    def finish(self) -> None: ...
    def remaining(self) -> int: ...


class _SpoolOutbox:
    """Confirmed elements are removed by threads of their own: freeing a written file costs
    about as much as sending it (ext4: 40-60 us), and removals overlap with sending and with
    each other. Until removed, an element stays locked by us, so a new claim after a
    failover does not send it again."""

    def __init__(self, spool: Spool) -> None:
        self._spool = spool
        self._confirmed: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._error: SpoolError | None = None
        self._removers: list[threading.Thread] = []

    def _remove(self) -> None:
        while (name := self._confirmed.get()) is not None:
            if self._error is None:
                try:
                    self._spool.remove(name)
                except SpoolError as exc:
                    self._error = exc

    def claim(self) -> Generator[tuple[str, bytes]]:
        for message in self._spool.claim():
            yield message.name, message.data

    def confirm(self, name: str) -> None:
        if self._error is not None:
            raise self._error
        if not self._removers:
            self._removers = [
                threading.Thread(target=self._remove, name=f"vmsam-spool-remover-{i}")
                for i in range(REMOVERS)
            ]
            for remover in self._removers:
                remover.start()
        self._confirmed.put(name)

    def release(self, name: str) -> None:
        self._spool.release(name)

    def finish(self) -> None:
        """Wait until every confirmed element is removed; the first failure is raised."""
        for _ in self._removers:
            self._confirmed.put(None)
        for remover in self._removers:
            remover.join()
        self._removers = []
        if self._error is not None:
            raise self._error

    def remaining(self) -> int:
        return self._spool.count()


class _MemoryOutbox:
    def __init__(self, bodies: Sequence[str]) -> None:
        self._waiting = {str(i): body.encode("utf-8") for i, body in enumerate(bodies)}

    def claim(self) -> Generator[tuple[str, bytes]]:
        yield from list(self._waiting.items())

    def confirm(self, name: str) -> None:
        del self._waiting[name]

    def release(self, name: str) -> None:
        """Nothing to unlock: the message simply stays waiting."""

    def finish(self) -> None:
        """Nothing pending: confirmation is immediate."""

    def remaining(self) -> int:
        return len(self._waiting)


class Publisher:
    """Sends messages to the first broker of ``settings.urls`` that works.

    ``PublishError`` when the settings cannot work; broker trouble is never raised but
    reported, and ``SpoolError`` passes through when the spool itself fails.
    """

    def __init__(
        self,
        settings: BrokerSettings,
        *,
        connect_timeout: float = 10.0,
        receipt_timeout: float = RECEIPT_TIMEOUT,
        batch: int = BATCH,
        window: int = WINDOW,
    ) -> None:
        self._settings = settings
        self._endpoints = _endpoints(settings.urls)
        self._tls = _TLS(settings) if settings.ssl else None
        self._connect_timeout = connect_timeout
        self._receipt_timeout = receipt_timeout
        self._batch = max(1, batch)
        self._window = max(1, window)
        self._log = _stomp_log()

    def deliver(self, spool: Spool, deadline: float) -> DeliveryReport:
        """Send everything claimable in ``spool`` until ``deadline`` (a ``time.monotonic()``
        value); each message leaves the spool only once the broker confirmed it."""
        spool.purge()
        return self._run(_SpoolOutbox(spool), deadline)

    def publish_direct(self, bodies: Sequence[str], deadline: float) -> DeliveryReport:
        """Best effort without a spool (it cannot be written): what is not confirmed by the
        deadline is lost, and counted in ``remaining``."""
        return self._run(_MemoryOutbox(bodies), deadline)

    def _run(self, outbox: _Outbox, deadline: float) -> DeliveryReport:
        report = DeliveryReport()
        if outbox.remaining() == 0:
            return report
        try:
            self._failover(outbox, deadline, report)
        finally:
            outbox.finish()
        report.remaining = outbox.remaining()
        return report

    def _failover(self, outbox: _Outbox, deadline: float, report: DeliveryReport) -> None:
        with self._tls.ca_certs() if self._tls else contextlib.nullcontext() as ca_certs:
            failures, turn = 0, 0
            # go round the brokers while one of them makes progress
            while failures < len(self._endpoints):
                if time.monotonic() >= deadline:
                    report.errors.append("deadline reached; the rest stays for a later send")
                    break
                endpoint = self._endpoints[turn % len(self._endpoints)]
                turn += 1
                before = report.sent
                try:
                    self._attempt(endpoint, ca_certs, outbox, deadline, report)
                    break
                except _BrokerTrouble as exc:
                    report.errors.append(f"{endpoint}: {exc}")
                failures = 0 if report.sent > before else failures + 1

    def _attempt(
        self,
        endpoint: _Endpoint,
        ca_certs: str | None,
        outbox: _Outbox,
        deadline: float,
        report: DeliveryReport,
    ) -> None:
        connect_until = min(deadline, time.monotonic() + self._connect_timeout)
        connection = _Connection(
            endpoint, self._settings, ca_certs, self._tls, max(0.1, _left(connect_until))
        )
        try:
            connection.open(connect_until, deadline, self._log)
            self._pump(connection, outbox, deadline, report)
            connection.close(min(deadline, time.monotonic() + CLOSE_TIMEOUT))
        finally:
            connection.abort()

    def _pump(
        self, connection: _Connection, outbox: _Outbox, deadline: float, report: DeliveryReport
    ) -> None:
        """Send every claimable message, ``window`` batches in flight, each batch confirmed by
        the receipt on its last message; what is not confirmed is released on failure."""
        held: dict[str, None] = {}
        in_flight: deque[tuple[str, list[str]]] = deque()
        batch: list[str] = []

        def settle(block: bool) -> None:
            stall = time.monotonic() + self._receipt_timeout
            late = f"no receipt within {self._receipt_timeout:g} s"
            if deadline < stall:
                late = "deadline reached waiting for receipts"
            for receipt in connection.receipts(min(deadline, stall), block, late):
                if all(receipt != r for r, _ in in_flight):
                    continue  # the DISCONNECT's, or a batch already settled
                # a receipt also covers every batch sent before it (STOMP is a stream)
                while True:
                    batch_receipt, names = in_flight.popleft()
                    for name in names:
                        outbox.confirm(name)
                        del held[name]
                        report.sent += 1
                    if batch_receipt == receipt:
                        break

        items = outbox.claim()
        try:
            current = next(items, None)
            while current is not None:
                name, data = current
                held[name] = None
                # looking one ahead tells which message is the last, to carry a receipt
                current = next(items, None)
                if current is not None:
                    held[current[0]] = None
                if time.monotonic() >= deadline:
                    raise _BrokerTrouble("deadline reached while sending")
                batch.append(name)
                closes_batch = len(batch) >= self._batch or current is None
                receipt = connection.send(data, receipt=closes_batch)
                if receipt is not None:
                    in_flight.append((receipt, batch))
                    batch = []
                settle(block=len(in_flight) >= self._window)
            while in_flight:
                settle(block=True)
        finally:
            items.close()
            for name in held:
                # the spool error that brought us here, if any, is the one to report
                with contextlib.suppress(SpoolError):
                    outbox.release(name)


def send_spool(settings: Settings, *, budget: float) -> DeliveryReport:
    """``vmsam send``: flush the spool within ``budget`` seconds.

    Raises ``SpoolError`` when the spool cannot be used and ``PublishError`` when the broker
    settings cannot work.
    """
    deadline = time.monotonic() + budget
    spool = Spool(settings.paths.spool)
    return Publisher(settings.broker).deliver(spool, deadline)
