"""The STOMP publisher against the real ActiveMQ, dead and silent brokers, and TLS."""

from __future__ import annotations

import contextlib
import socket
import ssl
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Generator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import requires_root
from tests.support.net import free_port
from tests.support.subscriber import Subscriber
from vmsam.shared.config import BrokerSettings, PathSettings, Settings
from vmsam.vm.publisher import Publisher, PublishError, send_spool
from vmsam.vm.spool import Spool, SpooledMessage, SpoolError


def _body(i: int) -> str:
    return f"serviceURI: vm{i}.example\nsummaryData: é ✓ {i}\ndetailsData: line\nEOT\n"


@pytest.fixture
def destination() -> str:
    return f"/queue/test.vmsam.{uuid.uuid4().hex[:12]}"


@pytest.fixture
def subscriber(activemq: Any, destination: str) -> Iterator[Subscriber]:
    sub = Subscriber(activemq.address, destination)
    yield sub
    sub.close()


def _settings(destination: str, *urls: str) -> BrokerSettings:
    return BrokerSettings(urls=urls, destination=destination)


def _spool(tmp_path: Path, count: int) -> tuple[Spool, dict[str, str]]:
    spool = Spool(tmp_path / "outgoing")
    return spool, {spool.add(_body(i)): _body(i) for i in range(count)}


def _assert_all_unlocked(spool: Spool, count: int) -> None:
    claimed = list(Spool(spool.path).claim())
    assert len(claimed) == count
    for message in claimed:
        spool.release(message.name)


def _closed_port() -> str:
    return f"127.0.0.1:{free_port()}"


# delivery to the real broker


def test_delivers_exactly_the_spooled_messages(
    activemq: Any, destination: str, subscriber: Subscriber, tmp_path: Path
) -> None:
    spool, bodies = _spool(tmp_path, 25)
    report = Publisher(_settings(destination, activemq.address)).deliver(
        spool, time.monotonic() + 30
    )
    assert (report.sent, report.remaining, report.errors) == (25, 0, [])
    received = subscriber.drain()  # a 26th, a duplicate, would be here too
    assert Counter(received) == Counter(bodies.values())
    assert received[0] == _body(0)  # oldest first
    assert spool.count() == 0
    for frame in subscriber.frames:
        assert frame.headers["persistent"] == "true"
        assert frame.headers["content-type"] == "text/plain; charset=utf-8"


def test_many_batches_with_a_small_window(
    activemq: Any, destination: str, subscriber: Subscriber, tmp_path: Path
) -> None:
    spool, bodies = _spool(tmp_path, 103)
    publisher = Publisher(_settings(destination, activemq.address), batch=10, window=2)
    report = publisher.deliver(spool, time.monotonic() + 30)
    assert (report.sent, report.remaining) == (103, 0)
    assert Counter(subscriber.drain()) == Counter(bodies.values())


def test_empty_spool_needs_no_broker(tmp_path: Path) -> None:
    report = Publisher(_settings("/queue/x", _closed_port())).deliver(
        Spool(tmp_path), time.monotonic() + 5
    )
    assert (report.sent, report.remaining, report.errors) == (0, 0, [])


def test_messages_locked_by_another_sender_are_left_alone(
    activemq: Any, destination: str, subscriber: Subscriber, tmp_path: Path
) -> None:
    spool, _ = _spool(tmp_path, 4)
    other = Spool(spool.path)
    held = next(other.claim())
    report = Publisher(_settings(destination, activemq.address)).deliver(
        spool, time.monotonic() + 30
    )
    assert (report.sent, report.remaining) == (3, 1)
    assert held.body not in subscriber.wait_for(3)
    other.release(held.name)


def test_publish_direct(activemq: Any, destination: str, subscriber: Subscriber) -> None:
    bodies = [_body(i) for i in range(7)]
    report = Publisher(_settings(destination, activemq.address)).publish_direct(
        bodies, time.monotonic() + 30
    )
    assert (report.sent, report.remaining) == (7, 0)
    assert Counter(subscriber.wait_for(7)) == Counter(bodies)


def test_publish_direct_with_no_broker_counts_what_was_lost() -> None:
    report = Publisher(_settings("/queue/x", _closed_port())).publish_direct(
        ["a", "b"], time.monotonic() + 5
    )
    assert (report.sent, report.remaining) == (0, 2)
    assert report.errors[0].endswith(": connection refused")


def test_send_spool_uses_the_settings(
    activemq: Any, destination: str, subscriber: Subscriber, tmp_path: Path
) -> None:
    spool, bodies = _spool(tmp_path, 3)
    settings = Settings(
        paths=PathSettings(spool=spool.path), broker=_settings(destination, activemq.address)
    )
    report = send_spool(settings, budget=30)
    assert (report.sent, report.remaining) == (3, 0)
    assert Counter(subscriber.wait_for(3)) == Counter(bodies.values())


# a broker that is not there


def test_closed_port_returns_at_once_and_keeps_everything(
    activemq: Any,
    destination: str,
    subscriber: Subscriber,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    spool, bodies = _spool(tmp_path, 10)
    start = time.monotonic()
    report = Publisher(_settings(destination, _closed_port())).deliver(spool, start + 10)
    assert time.monotonic() - start < 5
    assert (report.sent, report.remaining) == (0, 10)
    assert len(report.errors) == 1
    assert report.errors[0].endswith(": connection refused")
    assert spool.count() == 10
    _assert_all_unlocked(spool, 10)
    # stomp.py's own logging (with tracebacks) must not reach the terminal
    assert capfd.readouterr().err == ""

    report = Publisher(_settings(destination, activemq.address)).deliver(
        spool, time.monotonic() + 30
    )
    assert (report.sent, report.remaining) == (10, 0)
    assert Counter(subscriber.drain()) == Counter(bodies.values())


def test_stopped_broker_then_started_again_delivers_exactly_once(
    activemq: Any, destination: str, tmp_path: Path
) -> None:
    spool, bodies = _spool(tmp_path, 20)
    publisher = Publisher(_settings(destination, activemq.address))
    activemq.stop()
    try:
        start = time.monotonic()
        report = publisher.deliver(spool, start + 8)
        assert time.monotonic() - start < 8 + 1
        assert (report.sent, report.remaining) == (0, 20)
        assert spool.count() == 20
    finally:
        activemq.start()
    report = publisher.deliver(spool, time.monotonic() + 30)
    assert (report.sent, report.remaining) == (20, 0)
    subscriber = Subscriber(activemq.address, destination)
    try:
        assert Counter(subscriber.drain()) == Counter(bodies.values())
    finally:
        subscriber.close()


def test_failover_to_the_second_broker(
    activemq: Any, destination: str, subscriber: Subscriber, tmp_path: Path
) -> None:
    spool, bodies = _spool(tmp_path, 5)
    dead = _closed_port()
    report = Publisher(_settings(destination, dead, activemq.address)).deliver(
        spool, time.monotonic() + 30
    )
    assert (report.sent, report.remaining) == (5, 0)
    assert report.errors[0].startswith(dead)
    assert Counter(subscriber.wait_for(5)) == Counter(bodies.values())


class KillingSpool(Spool):
    """Kills the broker from inside the send loop once receipts have come back, so that the
    kill lands in the middle of the send whatever the machine's speed."""

    def __init__(self, path: str, kill: Callable[[], None], after: int) -> None:
        super().__init__(path)
        self.removed: list[str] = []
        self._kill, self._after = kill, after

    def remove(self, name: str) -> None:
        super().remove(name)
        self.removed.append(name)

    def claim(self) -> Generator[SpooledMessage]:
        for given, message in enumerate(super().claim()):
            if given == self._after:
                end = time.monotonic() + 30
                while not self.removed and time.monotonic() < end:
                    time.sleep(0.001)
                self._kill()
            yield message


def test_broker_killed_in_the_middle_loses_nothing(
    activemq: Any, destination: str, tmp_path: Path
) -> None:
    total = 2000
    spool, bodies = _spool(tmp_path, total)
    killing = KillingSpool(spool.path, activemq.kill, after=total // 2)
    publisher = Publisher(_settings(destination, activemq.address))
    try:
        start = time.monotonic()
        report = publisher.deliver(killing, start + 60)
        assert time.monotonic() - start < 60
    finally:
        activemq.start()
    confirmed = {bodies[name] for name in killing.removed}
    assert 0 < report.sent == len(confirmed) < total
    still_spooled = {bodies[name] for name in bodies if (tmp_path / "outgoing" / name).exists()}
    assert report.remaining == len(still_spooled) == total - len(confirmed)
    assert not confirmed & still_spooled

    subscriber = Subscriber(activemq.address, destination)
    try:
        stored = subscriber.drain()
        # every confirmed message survived the kill; every message is somewhere
        assert confirmed <= set(stored)
        assert set(stored) | still_spooled == set(bodies.values())

        report = publisher.deliver(spool, time.monotonic() + 60)
        assert (report.sent, report.remaining) == (len(still_spooled), 0)
        counts = Counter(subscriber.drain())
        assert set(counts) == set(bodies.values())
        # duplicates only where the broker stored a message whose receipt never came
        assert all(counts[body] == 1 for body in confirmed)
    finally:
        subscriber.close()


@requires_root
@pytest.mark.root
def test_read_only_spool_is_a_spool_error(
    activemq: Any, destination: str, subscriber: Subscriber, tmp_path: Path
) -> None:
    spool, _ = _spool(tmp_path, 3)
    view = tmp_path / "view"
    view.mkdir()
    subprocess.run(["mount", "--bind", "-o", "ro", spool.path, str(view)], check=True)
    try:
        with pytest.raises(SpoolError, match="Read-only file system"):
            Publisher(_settings(destination, activemq.address)).deliver(
                Spool(view), time.monotonic() + 10
            )
    finally:
        subprocess.run(["umount", "-l", str(view)], check=False)
    assert spool.count() == 3
    assert subscriber.drain() == []


# brokers that accept but misbehave


class FakeBroker:
    """A TCP server on a free loopback port; ``behaviour`` runs for every connection."""

    def __init__(
        self, behaviour: Callable[[socket.socket], None], tls: ssl.SSLContext | None = None
    ) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self._server.getsockname()[1]}"
        self._behaviour, self._tls = behaviour, tls
        self.connections: list[socket.socket] = []
        self.errors: list[str] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            self.connections.append(conn)
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        try:
            if self._tls is not None:
                conn = self._tls.wrap_socket(conn, server_side=True)
            self._behaviour(conn)
        except (OSError, ssl.SSLError) as exc:
            self.errors.append(str(exc))

    def close(self) -> None:
        self._server.close()
        for conn in self.connections:
            with contextlib.suppress(OSError):
                conn.close()


def _frames(conn: socket.socket) -> Iterator[tuple[str, dict[str, str]]]:
    buffer = b""
    while True:
        while b"\x00" not in buffer:
            data = conn.recv(65536)
            if not data:
                return
            buffer += data
        frame, buffer = buffer.split(b"\x00", 1)
        head = frame.lstrip(b"\r\n").split(b"\n\n", 1)[0].decode()
        if head:
            command, *lines = head.split("\n")
            yield command, dict(line.split(":", 1) for line in lines if ":" in line)


def _silent(conn: socket.socket) -> None:
    while conn.recv(65536):
        pass


def _connects_then_never_confirms(conn: socket.socket) -> None:
    for command, _ in _frames(conn):
        if command in ("STOMP", "CONNECT"):
            conn.sendall(b"CONNECTED\nversion:1.2\n\n\x00")


def _connects_then_stops_reading(conn: socket.socket) -> None:
    for command, _ in _frames(conn):
        if command in ("STOMP", "CONNECT"):
            conn.sendall(b"CONNECTED\nversion:1.2\n\n\x00")
            time.sleep(60)
            return


def _rejects_sends(conn: socket.socket) -> None:
    for command, _ in _frames(conn):
        if command in ("STOMP", "CONNECT"):
            conn.sendall(b"CONNECTED\nversion:1.2\n\n\x00")
        elif command == "SEND":
            conn.sendall(b"ERROR\nmessage:User vm is not authorized to write\n\n\x00")
            # a graceful close: closing with the client's frames unread would send a TCP
            # reset, which may destroy the ERROR frame before the client reads it
            conn.shutdown(socket.SHUT_WR)
            conn.settimeout(5)
            with contextlib.suppress(OSError):
                while conn.recv(65536):
                    pass
            conn.close()
            return


def _confirms(received: list[dict[str, str]]) -> Callable[[socket.socket], None]:
    def behaviour(conn: socket.socket) -> None:
        for command, headers in _frames(conn):
            if command in ("STOMP", "CONNECT"):
                received.append(headers)
                conn.sendall(b"CONNECTED\nversion:1.2\n\n\x00")
            elif command in ("SEND", "DISCONNECT"):
                received.append(headers)
                if "receipt" in headers:
                    conn.sendall(f"RECEIPT\nreceipt-id:{headers['receipt']}\n\n\x00".encode())

    return behaviour


@contextlib.contextmanager
def fake_broker(
    behaviour: Callable[[socket.socket], None], tls: ssl.SSLContext | None = None
) -> Iterator[FakeBroker]:
    broker = FakeBroker(behaviour, tls)
    try:
        yield broker
    finally:
        broker.close()


def test_black_hole_gives_up_at_the_connect_timeout(tmp_path: Path) -> None:
    spool, _ = _spool(tmp_path, 3)
    with fake_broker(_silent) as hole:
        start = time.monotonic()
        report = Publisher(_settings("/queue/x", hole.address), connect_timeout=1.5).deliver(
            spool, start + 30
        )
        elapsed = time.monotonic() - start
    assert 1.4 < elapsed < 5
    assert (report.sent, report.remaining) == (0, 3)
    assert "no answer to CONNECT" in report.errors[0]
    _assert_all_unlocked(spool, 3)


def test_black_hole_gives_up_at_the_deadline(tmp_path: Path) -> None:
    spool, _ = _spool(tmp_path, 3)
    with fake_broker(_silent) as hole:
        start = time.monotonic()
        report = Publisher(_settings("/queue/x", hole.address, hole.address)).deliver(
            spool, start + 2
        )
        elapsed = time.monotonic() - start
    assert elapsed < 2 + 1
    assert (report.sent, report.remaining) == (0, 3)


def test_broker_that_never_confirms(tmp_path: Path) -> None:
    spool, _ = _spool(tmp_path, 50)
    with fake_broker(_connects_then_never_confirms) as broker:
        start = time.monotonic()
        report = Publisher(_settings("/queue/x", broker.address), receipt_timeout=1).deliver(
            spool, start + 30
        )
        elapsed = time.monotonic() - start
    assert elapsed < 5
    assert (report.sent, report.remaining) == (0, 50)
    assert "no receipt within 1 s" in report.errors[0]
    _assert_all_unlocked(spool, 50)


def test_send_blocked_by_a_broker_that_stops_reading_ends_at_the_deadline(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path / "outgoing")
    for i in range(40):
        spool.add(f"{i} " + "x" * 1_000_000)
    with fake_broker(_connects_then_stops_reading) as broker:
        start = time.monotonic()
        report = Publisher(_settings("/queue/x", broker.address), receipt_timeout=60).deliver(
            spool, start + 3
        )
        elapsed = time.monotonic() - start
    assert elapsed < 3 + 1.5
    assert (report.sent, report.remaining) == (0, 40)
    _assert_all_unlocked(spool, 40)


def test_broker_error_frame_is_reported(tmp_path: Path) -> None:
    spool, _ = _spool(tmp_path, 5)
    with fake_broker(_rejects_sends) as broker:
        report = Publisher(_settings("/queue/x", broker.address)).deliver(
            spool, time.monotonic() + 10
        )
    assert (report.sent, report.remaining) == (0, 5)
    assert "not authorized to write" in report.errors[0]


def test_frames_carry_credentials_and_headers(tmp_path: Path) -> None:
    spool, _ = _spool(tmp_path, 3)
    received: list[dict[str, str]] = []
    with fake_broker(_confirms(received)) as broker:
        settings = _settings("/queue/custom", broker.address)._replace(user="vm", password="secret")
        report = Publisher(settings).deliver(spool, time.monotonic() + 10)
    assert (report.sent, report.remaining) == (3, 0)
    connect, *sends = received
    assert connect["login"] == "vm"
    assert connect["passcode"] == "secret"
    assert connect["accept-version"] == "1.2"
    assert connect["heart-beat"] == "10000,10000"
    sends = [s for s in sends if s.get("destination")]
    assert [s["destination"] for s in sends] == ["/queue/custom"] * 3
    assert all(s["persistent"] == "true" for s in sends)
    assert "receipt" in sends[-1]  # the last message is always confirmed


# settings


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        (BrokerSettings(), "no broker configured"),
        (BrokerSettings(urls=("broker.example",)), "not host:port"),
        (BrokerSettings(urls=("broker.example:99999",)), "not host:port"),
        (BrokerSettings(urls=("h:1",), ssl=True, cert="/nonexistent/proxy"), "TLS settings"),
        (BrokerSettings(urls=("h:1",), ssl=True, key="/some/key"), "key is set without cert"),
        (BrokerSettings(urls=("h:1",), ssl=True, ca_dir="/"), "no hashed CA certificate"),
    ],
)
def test_unusable_settings_are_a_publish_error(settings: BrokerSettings, reason: str) -> None:
    with pytest.raises(PublishError, match=reason):
        Publisher(settings)


def test_ipv6_literal_url() -> None:
    Publisher(BrokerSettings(urls=("[::1]:61613",)))


# TLS: a proxy file as certificate and key, a hashed CA directory


class PKI:
    def __init__(self, root: Path) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        def name(cn: str) -> x509.Name:
            return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

        now = datetime.now(UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = (
            x509.CertificateBuilder()
            .subject_name(name("vmsam test CA"))
            .issuer_name(name("vmsam test CA"))
            .public_key(ca_key.public_key())
            .serial_number(1)
            .not_valid_before(now - timedelta(hours=1))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )

        def issue(cn: str, san: x509.GeneralName | None) -> tuple[bytes, bytes]:
            key = ec.generate_private_key(ec.SECP256R1())
            builder = (
                x509.CertificateBuilder()
                .subject_name(name(cn))
                .issuer_name(ca.subject)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - timedelta(hours=1))
                .not_valid_after(now + timedelta(days=1))
                .add_extension(
                    x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                    critical=False,
                )
            )
            if san is not None:
                builder = builder.add_extension(x509.SubjectAlternativeName([san]), False)
            cert = builder.sign(ca_key, hashes.SHA256())
            key_pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            return cert.public_bytes(serialization.Encoding.PEM), key_pem

        import ipaddress

        root.mkdir()
        self.ca_pem = ca.public_bytes(serialization.Encoding.PEM)
        self.ca_file = root / "ca.pem"
        self.ca_file.write_bytes(self.ca_pem)
        # a hashed CA directory as IGTF installs it: <subject hash>.0 plus other files
        self.ca_dir = root / "certificates"
        self.ca_dir.mkdir()
        subject_hash = subprocess.run(
            ["openssl", "x509", "-hash", "-noout", "-in", str(self.ca_file)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        (self.ca_dir / f"{subject_hash}.0").write_bytes(self.ca_pem)
        (self.ca_dir / f"{subject_hash}.signing_policy").write_text("access_id_CA X509\n")
        server_cert, server_key = issue("broker", x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
        self.server = root / "server.pem"
        self.server.write_bytes(server_cert + server_key)
        client_cert, client_key = issue("vm proxy", None)
        # a proxy file holds the certificate and its key together
        self.proxy = root / "x509up_u0"
        self.proxy.write_bytes(client_cert + client_key)

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.server)
        context.load_verify_locations(cafile=str(self.ca_file))
        context.verify_mode = ssl.CERT_REQUIRED
        return context


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return PKI(tmp_path_factory.mktemp("tls") / "pki")


def test_tls_with_a_proxy_and_a_hashed_ca_directory(pki: PKI, tmp_path: Path) -> None:
    spool, _ = _spool(tmp_path, 4)
    received: list[dict[str, str]] = []
    with fake_broker(_confirms(received), tls=pki.server_context()) as broker:
        settings = BrokerSettings(
            urls=(broker.address,),
            ssl=True,
            cert=str(pki.proxy),
            key=str(pki.proxy),
            ca_dir=str(pki.ca_dir),
        )
        report = Publisher(settings).deliver(spool, time.monotonic() + 10)
    assert (report.sent, report.remaining, report.errors) == (4, 0, [])
    assert broker.errors == []


def test_tls_with_a_ca_file(pki: PKI, tmp_path: Path) -> None:
    spool, _ = _spool(tmp_path, 2)
    with fake_broker(_confirms([]), tls=pki.server_context()) as broker:
        settings = BrokerSettings(
            urls=(broker.address,), ssl=True, cert=str(pki.proxy), ca_file=str(pki.ca_file)
        )
        report = Publisher(settings).deliver(spool, time.monotonic() + 10)
    assert (report.sent, report.remaining) == (2, 0)


def test_tls_rejects_a_broker_signed_by_an_unknown_ca(
    pki: PKI, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    other = PKI(tmp_path_factory.mktemp("other") / "pki")
    spool, _ = _spool(tmp_path, 2)
    with fake_broker(_confirms([]), tls=pki.server_context()) as broker:
        settings = BrokerSettings(
            urls=(broker.address,), ssl=True, cert=str(pki.proxy), ca_dir=str(other.ca_dir)
        )
        report = Publisher(settings).deliver(spool, time.monotonic() + 10)
    assert (report.sent, report.remaining) == (0, 2)
    assert "certificate verify failed" in report.errors[0]


def test_tls_broker_that_never_answers(pki: PKI, tmp_path: Path) -> None:
    """A TLS port that accepts TCP and never completes the handshake."""
    spool, _ = _spool(tmp_path, 2)
    with fake_broker(_silent) as hole:
        settings = BrokerSettings(urls=(hole.address,), ssl=True, ca_file=str(pki.ca_file))
        start = time.monotonic()
        report = Publisher(settings, connect_timeout=1).deliver(spool, start + 30)
        assert time.monotonic() - start < 4
    assert (report.sent, report.remaining) == (0, 2)
