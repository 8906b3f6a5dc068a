"""Tools for the consumer's tests: valid records, a publisher that retries, a TCP proxy
that can cut or swallow traffic, fresh databases, and ``vmsam consume`` as a subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import stomp

from tests.support.net import free_port
from tests.support.subscriber import Subscriber
from vmsam.shared import messages

BIN = Path(sys.executable).parent


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


def record(
    i: int,
    *,
    site: str = "UKI-TEST-SITE",
    endpoint: str = "vac01.example.org",
    run: str = "",
    status: str = "OK",
    when: datetime | None = None,
) -> str:
    """A valid record, distinct for each ``(run, i)`` (the VM UUID and gatheredAt differ)."""
    moment = (when or datetime.now(UTC)).replace(microsecond=0) - timedelta(seconds=i % 3600)
    vm = uuid.uuid5(uuid.NAMESPACE_URL, f"{run}/{i}")
    return messages.encode(
        messages.MetricResult(
            service_uri=endpoint,
            host_name=endpoint,
            service_flavour="uk.ac.gridpp.vac",
            site_name=site,
            status=status,
            metric_name="org.lhcb.WN-cvmfs",
            summary=f"OK - message {i}",
            gathered_at=f"vm-{i}.{endpoint}",
            timestamp=moment,
            service_type="uk.ac.gridpp.vac",
            nagios_name="org.lhcb.WN-cvmfs-/lhcb",
            role="site",
            vo_name="lhcb",
            vo_fqan="/lhcb",
            vm_uuid=str(vm),
            details=f"message {i} of run {run}",
        )
    )


def records(count: int, *, start: int = 0, run: str | None = None) -> list[str]:
    run = run or uuid.uuid4().hex
    return [record(i, run=run) for i in range(start, start + count)]


class _Confirmations:
    def __init__(self, conn: stomp.Connection12) -> None:
        self.conn = conn
        self.condition = threading.Condition()
        self.receipts: set[str] = set()
        self.connected = False
        self.dropped = False

    def on_connecting(self, host_and_port: tuple[str, int]) -> None:
        self.conn.transport.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def on_connected(self, frame: Any) -> None:
        with self.condition:
            self.connected = True
            self.condition.notify_all()

    def wait_connected(self, timeout: float) -> None:
        with self.condition:
            self.condition.wait_for(lambda: self.connected or self.dropped, timeout)

    def on_receipt(self, frame: Any) -> None:
        with self.condition:
            self.receipts.add(frame.headers["receipt-id"])
            self.condition.notify_all()

    def on_disconnected(self) -> None:
        with self.condition:
            self.dropped = True
            self.condition.notify_all()

    def on_error(self, frame: Any) -> None:
        self.on_disconnected()


class Sender:
    """Persistent sends in chunks, each confirmed by a receipt on its last message; a chunk
    that is not confirmed (the broker went away) is sent again on a new connection. At
    least once, as real publishers are."""

    def __init__(self, address: str, destination: str, chunk: int = 200) -> None:
        host, port = address.rsplit(":", 1)
        self.address = (host, int(port))
        self.destination = destination
        self.chunk = chunk
        self.sent = 0
        self._conn: stomp.Connection12 | None = None
        self._listener: _Confirmations | None = None
        self._next = 0

    def _connect(self, deadline: float) -> tuple[stomp.Connection12, _Confirmations]:
        while True:
            if self._conn is not None and self._listener and not self._listener.dropped:
                return self._conn, self._listener
            self.close()
            conn = stomp.Connection12([self.address], reconnect_attempts_max=1, heartbeats=(0, 0))
            listener = _Confirmations(conn)
            conn.set_listener("sender", listener)
            with contextlib.suppress(stomp.exception.StompException, OSError):
                conn.connect(wait=False)
                listener.wait_connected(5)
                if listener.connected and not listener.dropped:
                    self._conn, self._listener = conn, listener
                    continue
            with contextlib.suppress(Exception):
                conn.transport.disconnect_socket()
            if time.monotonic() > deadline:
                raise AssertionError("the sender could not reach the broker")
            time.sleep(0.3)

    def send(
        self, bodies: Sequence[str | bytes], *, timeout: float = 120, pause: float = 0
    ) -> None:
        deadline = time.monotonic() + timeout
        for start in range(0, len(bodies), self.chunk):
            part = bodies[start : start + self.chunk]
            while not self._send_chunk(part, deadline):
                self.close()
            self.sent += len(part)
            if pause:
                time.sleep(pause)

    def _send_chunk(self, part: Sequence[str | bytes], deadline: float) -> bool:
        conn, listener = self._connect(deadline)
        self._next += 1
        receipt = f"chunk-{self._next}"
        try:
            for i, body in enumerate(part):
                headers = {"persistent": "true"}
                if i == len(part) - 1:
                    headers["receipt"] = receipt
                conn.send(self.destination, body, headers=headers)
        except (stomp.exception.StompException, OSError):
            return False
        with listener.condition:
            listener.condition.wait_for(
                lambda: receipt in listener.receipts or listener.dropped, 20
            )
            return receipt in listener.receipts

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.disconnect()
            with contextlib.suppress(Exception):
                self._conn.transport.disconnect_socket()
        self._conn = self._listener = None


def send(address: str, destination: str, bodies: Sequence[str | bytes]) -> None:
    sender = Sender(address, destination)
    try:
        sender.send(bodies)
    finally:
        sender.close()


class Drain(Subscriber):
    """What is left on a queue: a bare client that takes (and acks) everything there."""

    def __init__(self, address: str, destination: str) -> None:
        super().__init__(address, destination, auto_decode=False)

    def collect(self) -> list[bytes]:
        """Everything the queue held: all of it comes before a marker sent now."""
        try:
            return self.drain()
        finally:
            self.close()


class Proxy:
    """A loopback TCP forwarder to ``upstream`` that a test can turn against its client:
    ``cut()`` drops every connection and every new one at once (the server is gone),
    ``swallow()`` keeps the connections but throws away what the client sends (its frames
    never arrive), ``restore()`` forwards normally again."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = free_port()
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._mode = "forward"
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if self._mode == "cut":
                client.close()
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._pairs.append((client, server))
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, from_client: bool) -> None:
        try:
            while data := source.recv(65536):
                if from_client and self._mode == "swallow":
                    continue
                target.sendall(data)
        except OSError:
            pass
        for sock in (source, target):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self._mode = "cut"
        self._drop_all()

    def swallow(self) -> None:
        self._mode = "swallow"

    def restore(self) -> None:
        self._mode = "forward"

    def _drop_all(self) -> None:
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for sock in pair:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._server.close()
        self._drop_all()


@contextlib.contextmanager
def database(kind: str, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a new database on the test PostgreSQL
    server (dropped afterwards), so that totals can be compared exactly."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'consumer.db'}"
        return
    from tests.support.postgres import fresh_database

    with fresh_database("vmsam_consumer") as url:
        yield url


def via_proxy(url: str, proxy: Proxy) -> str:
    """``url`` (a PostgreSQL URL on 127.0.0.1) reaching its server through ``proxy``."""
    import sqlalchemy as sa

    return sa.make_url(url).set(host="127.0.0.1", port=proxy.port).render_as_string(False)


def pg_server(url: str) -> tuple[str, int]:
    import sqlalchemy as sa

    parsed = sa.make_url(url)
    return parsed.host or "127.0.0.1", parsed.port or 5432


def counts(url: str) -> tuple[int, int]:
    """(stored results, dead letters) in the store at ``url``."""
    from vmsam.server.store import Store

    store = Store(url)
    try:
        return store.results(limit=1)[0], store.dead_letters(limit=1)[0]
    finally:
        store.close()


@contextlib.contextmanager
def sqlite_locked(url: str) -> Iterator[None]:
    """Another connection holds SQLite's exclusive lock: no one else can write (or read)."""
    import sqlite3

    path = url.removeprefix("sqlite:///")
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


def write_config(path: Path, brokers: Sequence[str], destination: str, db: str = "") -> Path:
    urls = ", ".join(json.dumps(url) for url in brokers)
    path.write_text(
        f"[broker]\nurls = [{urls}]\n\n[consumer]\n"
        f"destination = {json.dumps(destination)}\ndb = {json.dumps(db)}\n"
    )
    return path


class ConsumerProcess:
    """``vmsam consume`` as a real process; its JSON log lines are kept in a file."""

    def __init__(
        self,
        config: Path,
        *,
        db: str | None = None,
        env: dict[str, str] | None = None,
        metrics: bool = True,
    ) -> None:
        self.log_path = config.with_suffix(f".{uuid.uuid4().hex[:6]}.log")
        self.metrics_port = free_port() if metrics else None
        command = [str(BIN / "vmsam"), "consume", "--config", str(config)]
        if db is not None:
            command += ["--db", db]
        if self.metrics_port is not None:
            command += ["--metrics-port", str(self.metrics_port), "--metrics-host", "127.0.0.1"]
        environment = {k: v for k, v in os.environ.items() if k != "VMSAM_DB"}
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**environment, **(env or {})},
            )

    def __enter__(self) -> ConsumerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()

    def lines(self) -> list[str]:
        return self.log_path.read_text(errors="replace").splitlines()

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        found = []
        for line in self.lines():
            event = json.loads(line)
            if name is None or event["event"] == name:
                found.append(event)
        return found

    def wait_event(self, name: str, count: int = 1, timeout: float = 30) -> None:
        wait_until(
            lambda: len(self.events(name)) >= count, timeout, f"{count} {name!r} log line(s)"
        )

    def metric(self, name: str) -> float:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise AssertionError(f"no metric {name} in /metrics")

    def alive(self) -> bool:
        return self.process.poll() is None

    def terminate(self, timeout: float = 60) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
