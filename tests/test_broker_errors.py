"""Why a broker could not be used, in one short line, worded the same by the publisher
(``vmsam send``, the hook) and the consumer (``vmsam consume``): refused, unresolved, silent,
TLS certificates refused either way, a refused login (RabbitMQ and ActiveMQ), a refused
RabbitMQ virtual host with the hint to set ``[broker] vhost``, no receipt, and the broker's
own ERROR frame (its ``message`` header and its body)."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from broker.consumer import Consumer, ConsumerOptions
from tests.rabbitmq import RabbitMQ, rabbitmq_fixture  # noqa: F401 - the fixture
from tests.support.activemq import ActiveMQ
from tests.support.consumer import BIN, ConsumerProcess
from tests.support.net import free_port
from tests.test_publisher import PKI, _frames, _silent, fake_broker
from tests.test_tls_broker import PASSWORD, USER, other_pki, pki, tls_broker  # noqa: F401
from vmsam.shared.config import BrokerSettings
from vmsam.shared.stomp import Endpoint, connect_failure, refusal
from vmsam.vm.publisher import Publisher
from vmsam.vm.spool import Spool

EXIT_TEMPFAIL = 75
VHOST_HINT = '(set [broker] vhost, for RabbitMQ usually "/")'


# each side's first reason for giving a broker up


def published(settings: BrokerSettings, **options: float) -> str:
    """The publisher's reason (without the ``host:port: `` of the broker) for one broker."""
    report = Publisher(settings, **options).publish_direct(["a body"], time.monotonic() + 30)
    assert (report.sent, report.remaining) == (0, 1), report.errors
    (error,) = report.errors
    prefix = f"{settings.urls[0]}: "
    assert error.startswith(prefix), error
    return error.removeprefix(prefix)


class _Events(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.changed = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self.changed:
            self.events.append((record.getMessage(), dict(getattr(record, "fields", {}))))
            self.changed.notify_all()


class _NoStore:
    def save(self, received: object) -> None:
        raise AssertionError("nothing may be stored")


def consumed(settings: BrokerSettings, connect_timeout: float = 10.0) -> str:
    """The consumer's reason for its first failed connection (its ``connect failed`` log)."""
    logger = logging.getLogger("vmsam.consume")
    events = _Events()
    level = logger.level
    logger.addHandler(events)
    logger.setLevel(logging.INFO)
    options = ConsumerOptions(
        connect_timeout=connect_timeout, reconnect_initial=30, reconnect_max=30
    )
    consumer = Consumer(settings, "/queue/vmsam.errors", options=options)
    worker = threading.Thread(target=consumer.run, args=(_NoStore(),))
    worker.start()
    try:
        with events.changed:
            found = events.changed.wait_for(
                lambda: any(name == "connect failed" for name, _ in events.events), 60
            )
    finally:
        consumer.stop()
        worker.join(60)
        logger.removeHandler(events)
        logger.setLevel(level)
    assert found, events.events
    assert not worker.is_alive()
    failures = [fields for name, fields in events.events if name == "connect failed"]
    assert failures[0]["broker"] == settings.urls[0]
    return str(failures[0]["error"])


def both(settings: BrokerSettings, connect_timeout: float = 10.0) -> str:
    """The one reason both sides give for ``settings``' broker."""
    publisher = published(settings, connect_timeout=connect_timeout)
    consumer = consumed(settings, connect_timeout=connect_timeout)
    assert publisher == consumer
    return publisher


def _plain(*urls: str, **keys: Any) -> BrokerSettings:
    return BrokerSettings(urls=urls, destination="/queue/vmsam.errors", **keys)


# the network


def test_connection_refused() -> None:
    assert both(_plain(f"127.0.0.1:{free_port()}")) == "connection refused"


def test_name_not_resolved() -> None:
    reason = both(_plain("nonexistent.invalid:61613"))
    assert reason.startswith("name not resolved: nonexistent.invalid (")


@contextlib.contextmanager
def _full_backlog() -> Iterator[str]:
    """A listening port whose accept queue is full: new TCP connections are never made."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    address = server.getsockname()
    held = []
    try:
        for _ in range(64):
            probe = socket.socket()
            probe.settimeout(0.5)
            try:
                probe.connect(address)
            except TimeoutError:
                probe.close()
                break
            held.append(probe)
        else:
            pytest.fail("the accept queue never filled")
        yield f"127.0.0.1:{address[1]}"
    finally:
        for probe in held:
            probe.close()
        server.close()


def test_timed_out_without_a_tcp_connection() -> None:
    with _full_backlog() as address:
        assert both(_plain(address), connect_timeout=1) == (
            "timed out: no TCP connection within 1 s"
        )


def test_timed_out_when_the_broker_says_nothing() -> None:
    with fake_broker(_silent) as hole:
        reason = both(_plain(hole.address), connect_timeout=1)
    assert reason == "timed out: no answer to CONNECT within 1 s"


def test_closed_before_connected() -> None:
    def hang_up(conn: socket.socket) -> None:
        for command, _ in _frames(conn):
            if command in ("STOMP", "CONNECT"):
                conn.close()
                return

    with fake_broker(hang_up) as broker:
        assert both(_plain(broker.address)) == "connection closed by the broker before CONNECTED"


# a fake broker's receipts and ERROR frames


def _connected(conn: socket.socket) -> None:
    conn.sendall(b"CONNECTED\nversion:1.2\n\n\x00")


def _answers(
    on_connect: Callable[[socket.socket], None], on_frame: Callable[[socket.socket], bool]
) -> Callable[[socket.socket], None]:
    """A broker that answers CONNECT with ``on_connect`` and each later frame (SEND or
    SUBSCRIBE) with ``on_frame``; when that returns True it closes the connection gracefully
    (a close with the client's frames unread would be a TCP reset, which may destroy what it
    wrote last)."""

    def behaviour(conn: socket.socket) -> None:
        for command, _ in _frames(conn):
            if command in ("STOMP", "CONNECT"):
                on_connect(conn)
            elif command in ("SEND", "SUBSCRIBE") and on_frame(conn):
                conn.shutdown(socket.SHUT_WR)
                conn.settimeout(5)
                with contextlib.suppress(OSError):
                    while conn.recv(65536):
                        pass
                conn.close()
                return

    return behaviour


def _error(frame: bytes) -> Callable[[socket.socket], bool]:
    def answer(conn: socket.socket) -> bool:
        conn.sendall(frame)
        return True

    return answer


def test_no_receipt() -> None:
    with fake_broker(_answers(_connected, lambda conn: False)) as broker:
        settings = _plain(broker.address)
        assert published(settings, receipt_timeout=1) == "no receipt within 1 s"
        assert consumed(settings, connect_timeout=1) == "no receipt for SUBSCRIBE within 1 s"


def test_broker_error_tells_its_message_and_its_body() -> None:
    frame = (
        b"ERROR\nmessage:not allowed\ncontent-type:text/plain\n\n"
        b"The destination /queue/vmsam.errors\n   is not\twritable\n\nby this user\n\x00"
    )
    with fake_broker(_answers(_connected, _error(frame))) as broker:
        reason = both(_plain(broker.address))
    assert reason == (
        "broker error: not allowed — The destination /queue/vmsam.errors is not writable"
        " by this user"
    )


def test_broker_error_without_a_body_or_without_a_message() -> None:
    with fake_broker(_answers(_connected, _error(b"ERROR\nmessage:quota\n\n\x00"))) as broker:
        assert both(_plain(broker.address)) == "broker error: quota"
    with fake_broker(_answers(_connected, _error(b"ERROR\n\nthe body only\n\x00"))) as broker:
        assert both(_plain(broker.address)) == "broker error: the body only"


def test_a_long_error_body_is_cut() -> None:
    frame = b"ERROR\nmessage:too big\n\n" + b"word " * 400 + b"\x00"
    with fake_broker(_answers(_connected, _error(frame))) as broker:
        reason = both(_plain(broker.address))
    assert reason.startswith("broker error: too big — word word")
    assert reason.endswith("…")
    assert len(reason) < 400
    assert "\n" not in reason


def test_error_in_answer_to_connect_about_the_login_is_a_refused_login() -> None:
    frame = b"ERROR\nmessage:Authentication failed\n\nbad passcode for vm\n\x00"

    def refuse(conn: socket.socket) -> None:
        _error(frame)(conn)

    with fake_broker(_answers(refuse, lambda conn: False)) as broker:
        reason = both(_plain(broker.address, user="vm", password="x"))
    assert reason == "login refused by the broker: Authentication failed — bad passcode for vm"


def test_error_frame_wording() -> None:
    # ActiveMQ: the message again in the body, then a Java stack trace
    java = (
        "java.lang.SecurityException: User name [vm] or password is invalid.\n"
        "\tat org.apache.activemq.security.JaasAuthenticationBroker.addConnection(X.java:1)\n"
        "\tat org.apache.activemq.broker.BrokerFilter.addConnection(Y.java:2)\n"
    )
    message = {"message": "User name [vm] or password is invalid."}
    assert refusal(message, java, connected=False, vhost="") == (
        "login refused by the broker: User name [vm] or password is invalid."
    )
    # after CONNECTED the same words are a broker error, not a login
    assert refusal(message, java, connected=True, vhost="").startswith("broker error: User")
    # a body that starts with the message says more
    assert refusal({"message": "Bad"}, b"Bad destination", connected=True, vhost="") == (
        "broker error: Bad destination"
    )
    assert refusal({}, None, connected=True, vhost="") == (
        "broker error: an ERROR frame without a message"
    )
    assert refusal({"message": "x" * 500}, "", connected=True, vhost="").endswith("x…")
    # RabbitMQ's refused virtual host, with and without [broker] vhost set
    rabbit = {"message": "Bad CONNECT"}
    denied = "Virtual host '/nope' access denied"
    assert refusal(rabbit, denied, connected=False, vhost="") == (
        f"login refused by the broker: Bad CONNECT — {denied} {VHOST_HINT}"
    )
    assert refusal(rabbit, denied, connected=False, vhost="/nope") == (
        f'login refused by the broker: Bad CONNECT — {denied} ([broker] vhost is "/nope";'
        ' for RabbitMQ usually "/")'
    )


def test_connect_failure_wording_for_other_errors() -> None:
    endpoint = Endpoint("broker.example", 61613)

    def word(error: BaseException | str) -> str:
        return connect_failure(error, endpoint, timeout=2.5, client_cert=False)

    assert word(TimeoutError("_ssl.c:990: The handshake operation timed out")) == (
        "timed out: no TLS handshake within 2.5 s"
    )
    assert word(ConnectionResetError(104, "Connection reset by peer")) == (
        "connection reset by the broker"
    )
    assert word(OSError(101, "Network is unreachable")) == "cannot connect: Network is unreachable"
    assert word("something odd") == "cannot connect: something odd"


# RabbitMQ


def _rabbit(broker: RabbitMQ, **keys: str) -> BrokerSettings:
    login = {"user": broker.user, "password": broker.password, "vhost": broker.vhost}
    return _plain(broker.address, **{**login, **keys})


def test_rabbitmq_without_vhost_says_why_and_how(rabbitmq: RabbitMQ) -> None:
    reason = both(_rabbit(rabbitmq, vhost=""))
    assert reason == (
        "login refused by the broker: Bad CONNECT — Virtual host '127.0.0.1' access denied "
        + VHOST_HINT
    )


def test_rabbitmq_wrong_password(rabbitmq: RabbitMQ) -> None:
    reason = both(_rabbit(rabbitmq, password="not-guest"))
    assert reason == "login refused by the broker: Bad CONNECT — Access refused for user 'guest'"


def test_vhost_is_the_stomp_host_header() -> None:
    """The setting replaces stomp.py's host header (the broker's host name), once."""
    heads: list[list[str]] = []

    def record(conn: socket.socket) -> None:
        data = b""
        while b"\n\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
        heads.append(data.split(b"\n\n", 1)[0].decode().split("\n"))
        _silent(conn)

    with fake_broker(record) as broker:
        for vhost in ("/", ""):
            settings = _plain(broker.address, vhost=vhost)
            Publisher(settings, connect_timeout=0.5).publish_direct(["x"], time.monotonic() + 10)
    with_vhost, without = ([line for line in head if line.startswith("host:")] for head in heads)
    assert with_vhost == ["host:/"]
    assert without == ["host:127.0.0.1"]


def _config(path: Path, keys: dict[str, object], queue: str) -> Path:
    lines = [f"{name} = {json.dumps(value)}" for name, value in keys.items()]
    path.write_text(
        "[broker]\n" + "\n".join(lines) + f"\ndestination = {json.dumps(queue)}\n\n"
        f"[paths]\nspool = {json.dumps(str(path.parent / 'outgoing'))}\n\n"
        f"[consumer]\ndestination = {json.dumps(queue)}\n"
    )
    return path


def test_rabbitmq_without_vhost_from_the_command_line(
    rabbitmq: RabbitMQ,
    tmp_path: Path,
) -> None:
    """What a new user sees from ``vmsam send`` and in ``vmsam consume``'s log."""
    keys: dict[str, object] = {
        "urls": [rabbitmq.address],
        "user": rabbitmq.user,
        "password": rabbitmq.password,
    }
    config = _config(tmp_path / "vmsam.toml", keys, rabbitmq.queue("errors"))
    Spool(tmp_path / "outgoing").add("a body")
    expected = (
        f"{rabbitmq.address}: login refused by the broker: Bad CONNECT — Virtual host"
        f" '127.0.0.1' access denied {VHOST_HINT}"
    )
    sent = subprocess.run(
        [str(BIN / "vmsam"), "send", "--config", str(config), "--budget", "20"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert sent.returncode == EXIT_TEMPFAIL
    assert sent.stderr == f"vmsam send: {expected}\n"
    with ConsumerProcess(config, db=f"sqlite:///{tmp_path / 'store.db'}") as consumer:
        consumer.wait_event("connect failed", timeout=60)
        assert consumer.terminate() == 0
    failed = consumer.events("connect failed")[0]
    assert f"{failed['broker']}: {failed['error']}" == expected
    assert not any("Traceback" in line for line in consumer.lines())


# ActiveMQ with a login and TLS that requires client certificates


def _activemq(broker: ActiveMQ, *, tls: bool, **keys: Any) -> BrokerSettings:
    login = {"user": USER, "password": PASSWORD}
    url = broker.tls_address if tls else broker.address
    return _plain(url, ssl=tls, **{**login, **keys})


def test_activemq_wrong_password(tls_broker: ActiveMQ) -> None:  # noqa: F811
    reason = both(_activemq(tls_broker, tls=False, password="not-the-password"))
    assert reason == f"login refused by the broker: User name [{USER}] or password is invalid."


def test_activemq_refuses_a_missing_client_certificate(
    tls_broker: ActiveMQ,  # noqa: F811
    pki: PKI,  # noqa: F811
) -> None:
    """TLS 1.3: the handshake succeeds on our side, the broker's alert comes after it."""
    reason = both(_activemq(tls_broker, tls=True, ca_file=str(pki.ca_file)))
    assert reason == (
        "TLS: certificate rejected by the broker: sslv3 alert bad certificate"
        " (no client certificate: set [broker] cert)"
    )


def test_activemq_refuses_a_client_certificate_of_an_unknown_ca(
    tls_broker: ActiveMQ,  # noqa: F811
    pki: PKI,  # noqa: F811
    other_pki: PKI,  # noqa: F811
) -> None:
    settings = _activemq(tls_broker, tls=True, ca_file=str(pki.ca_file), cert=str(other_pki.proxy))
    assert (
        both(settings) == "TLS: certificate rejected by the broker: sslv3 alert certificate unknown"
    )


def test_activemq_certificate_of_an_unknown_ca_is_rejected_by_us(
    tls_broker: ActiveMQ,  # noqa: F811
    pki: PKI,  # noqa: F811
    other_pki: PKI,  # noqa: F811
) -> None:
    settings = _activemq(tls_broker, tls=True, ca_file=str(other_pki.ca_file), cert=str(pki.proxy))
    assert both(settings) == (
        "TLS: broker certificate rejected: certificate verify failed:"
        " self-signed certificate in certificate chain"
    )


# TLS against a Python broker


def test_tls13_certificate_required_alert(pki: PKI) -> None:  # noqa: F811
    with fake_broker(_answers(_connected, lambda conn: False), tls=pki.server_context()) as broker:
        settings = _plain(broker.address, ssl=True, ca_file=str(pki.ca_file))
        assert both(settings) == (
            "TLS: certificate rejected by the broker: tlsv13 alert certificate required"
            " (no client certificate: set [broker] cert)"
        )


def _closes_after_handshake(conn: socket.socket) -> None:
    """Takes CONNECT, then closes without a word (and without a TCP reset)."""
    for command, _ in _frames(conn):
        if command in ("STOMP", "CONNECT"):
            conn.shutdown(socket.SHUT_RDWR)
            conn.close()
            return


@pytest.mark.parametrize("client_cert", [True, False])
def test_tls_broker_that_closes_after_the_handshake(
    pki: PKI,  # noqa: F811
    client_cert: bool,
) -> None:
    context = pki.server_context()
    context.verify_mode = ssl.CERT_OPTIONAL
    cert = {"cert": str(pki.proxy)} if client_cert else {}
    with fake_broker(_closes_after_handshake, tls=context) as broker:
        settings = _plain(broker.address, ssl=True, ca_file=str(pki.ca_file), **cert)
        reason = both(settings)
    prefix = "TLS: the broker closed the connection after the handshake: "
    if client_cert:
        assert reason == prefix + "client certificate probably rejected"
    else:
        assert reason == prefix + "it probably wants a client certificate (set [broker] cert)"


def test_tls_broker_that_goes_away_is_noticed(pki: PKI) -> None:  # noqa: F811
    """stomp.py never tells the end of a TLS connection: without our reads the publisher
    would wait for the receipt, here for 60 s."""
    context = pki.server_context()
    with fake_broker(_answers(_connected, lambda conn: True), tls=context) as broker:
        settings = _plain(broker.address, ssl=True, ca_file=str(pki.ca_file), cert=str(pki.proxy))
        assert published(settings, receipt_timeout=60) == "connection closed"
