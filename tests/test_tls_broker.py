"""TLS and the broker login end to end against the real ActiveMQ: ``vmsam send`` (the
publisher) and ``vmsam consume`` (the consumer) over ``stomp+ssl`` with a proxy-like client
certificate, a hashed CA directory or a CA file; a broker that requires client certificates;
untrusted CAs and a wrong password fail cleanly and leave the messages spooled."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.activemq import ActiveMQ, Secured
from tests.support.consumer import BIN, ConsumerProcess, counts, database, records, wait_until
from tests.test_publisher import PKI
from vmsam.vm.spool import Spool

STORE_PASSWORD = "changeit-vmsam"
USER, PASSWORD = "vmsam-vm", "s3cret-of-the-vms"
EXIT_TEMPFAIL = 75


def _stores(pki: PKI, root: Path) -> tuple[Path, Path]:
    """The broker's PKCS12 key store (its key, certificate and CA) and trust store (the CA)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import pkcs12

    pem = pki.server.read_bytes()
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    keystore = root / "broker.p12"
    keystore.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"broker",
            key,
            x509.load_pem_x509_certificate(pem),
            [x509.load_pem_x509_certificate(pki.ca_pem)],
            serialization.BestAvailableEncryption(STORE_PASSWORD.encode()),
        )
    )
    # Java trusts only certificates marked as trusted entries, which keytool writes
    truststore = root / "trust.p12"
    subprocess.run(
        [
            *("keytool", "-importcert", "-noprompt", "-alias", "ca", "-file", str(pki.ca_file)),
            *("-keystore", str(truststore), "-storetype", "PKCS12", "-storepass", STORE_PASSWORD),
        ],
        capture_output=True,
        check=True,
    )
    return keystore, truststore


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return PKI(tmp_path_factory.mktemp("tls") / "pki")


@pytest.fixture(scope="module")
def other_pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    """A CA that neither the broker nor the clients trust, with its own client and server."""
    return PKI(tmp_path_factory.mktemp("other") / "pki")


@pytest.fixture(scope="module")
def tls_broker(pki: PKI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ActiveMQ]:
    """A private ActiveMQ with a login, STOMP over TLS, and client certificates required."""
    keystore, truststore = _stores(pki, tmp_path_factory.mktemp("stores"))
    secured = Secured(keystore, truststore, STORE_PASSWORD, USER, PASSWORD, need_client_auth=True)
    with ActiveMQ(secured=secured) as broker:
        yield broker


def _queue() -> str:
    return f"/queue/vmsam.tls.{uuid.uuid4().hex}"


def _config(path: Path, broker: ActiveMQ, queue: str, **broker_keys: object) -> Path:
    """A config of ``[broker]`` (TLS port, the login unless overridden, ``broker_keys``),
    ``[paths] spool`` next to it and ``[consumer] destination`` (the same ``queue``)."""
    keys: dict[str, object] = {
        "urls": [broker.tls_address],
        "destination": queue,
        "user": USER,
        "password": PASSWORD,
        "ssl": True,
        **broker_keys,
    }
    lines = [f"{name} = {json.dumps(value)}" for name, value in keys.items()]
    spool = path.parent / "outgoing"
    path.write_text(
        "[broker]\n" + "\n".join(lines) + "\n\n"
        f"[paths]\nspool = {json.dumps(str(spool))}\n\n"
        f"[consumer]\ndestination = {json.dumps(queue)}\n"
    )
    return path


def _spooled(config: Path, count: int) -> list[str]:
    bodies = records(count)
    spool = Spool(config.parent / "outgoing")
    for body in bodies:
        spool.add(body)
    return bodies


def _left_in_spool(config: Path) -> int:
    spool = Spool(config.parent / "outgoing")
    names = [message.name for message in spool.claim()]
    for name in names:
        spool.release(name)
    return len(names)


def _send(config: Path) -> subprocess.CompletedProcess[str]:
    sent = subprocess.run(
        [str(BIN / "vmsam"), "send", "--config", str(config), "--budget", "30"],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert "Traceback" not in sent.stdout + sent.stderr, sent.stderr
    return sent


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: Any, tmp_path: Path) -> Iterator[str]:
    with database(request.param, tmp_path) as url:
        yield url


@pytest.mark.parametrize("trust", ["ca_dir", "ca_file"])
def test_sent_over_tls_and_stored_by_the_consumer_over_tls(
    tls_broker: ActiveMQ, pki: PKI, db_url: str, tmp_path: Path, trust: str
) -> None:
    queue = _queue()
    # the VM: a proxy file holds the certificate and its key, so key is not set
    vm = tmp_path / "vm"
    vm.mkdir()
    vm_config = _config(
        vm / "vmsam.toml",
        tls_broker,
        queue,
        cert=str(pki.proxy),
        **{trust: str(pki.ca_dir if trust == "ca_dir" else pki.ca_file)},
    )
    bodies = _spooled(vm_config, 25)
    server = tmp_path / "server"
    server.mkdir()
    consumer_config = _config(
        server / "consumer.toml",
        tls_broker,
        queue,
        cert=str(pki.proxy),
        key=str(pki.proxy),
        ca_dir=str(pki.ca_dir),
    )
    with ConsumerProcess(consumer_config, db=db_url) as consumer:
        consumer.wait_event("subscribed", timeout=60)
        assert consumer.events("subscribed")[0]["broker"] == tls_broker.tls_address

        sent = _send(vm_config)
        assert sent.returncode == 0, sent.stderr
        assert "sent 25 message(s), 0 left in the spool" in sent.stdout
        assert _left_in_spool(vm_config) == 0

        wait_until(lambda: counts(db_url)[0] == len(bodies), 60, "25 stored results")
        assert counts(db_url) == (25, 0)
        assert consumer.terminate() == 0
    assert consumer.events("connect failed") == []


def test_broker_signed_by_an_untrusted_ca_is_refused_by_both_sides(
    tls_broker: ActiveMQ, pki: PKI, other_pki: PKI, tmp_path: Path
) -> None:
    config = _config(
        tmp_path / "vmsam.toml",
        tls_broker,
        _queue(),
        cert=str(pki.proxy),
        ca_dir=str(other_pki.ca_dir),
    )
    _spooled(config, 3)
    sent = _send(config)
    assert sent.returncode == EXIT_TEMPFAIL
    assert "certificate verify failed" in sent.stderr
    assert "sent 0 message(s), 3 left in the spool" in sent.stdout
    assert _left_in_spool(config) == 3

    with ConsumerProcess(config, db=f"sqlite:///{tmp_path / 'store.db'}") as consumer:
        consumer.wait_event("connect failed", count=2, timeout=60)
        assert consumer.alive()  # it keeps trying, as for any broker trouble
        assert consumer.terminate() == 0
    failures = consumer.events("connect failed")
    assert all("certificate verify failed" in event["error"] for event in failures)
    assert consumer.events("subscribed") == []
    assert not any("Traceback" in line for line in consumer.lines())


@pytest.mark.parametrize("client", ["no certificate", "certificate of an untrusted CA"])
def test_broker_requiring_client_certificates_refuses_others(
    tls_broker: ActiveMQ, pki: PKI, other_pki: PKI, tmp_path: Path, client: str
) -> None:
    cert = {} if client == "no certificate" else {"cert": str(other_pki.proxy)}
    config = _config(
        tmp_path / "vmsam.toml", tls_broker, _queue(), ca_file=str(pki.ca_file), **cert
    )
    _spooled(config, 3)
    sent = _send(config)
    assert sent.returncode == EXIT_TEMPFAIL
    assert f"vmsam send: {tls_broker.tls_address}: " in sent.stderr
    assert "TLS: certificate rejected by the broker" in sent.stderr
    assert "sent 0 message(s), 3 left in the spool" in sent.stdout
    assert _left_in_spool(config) == 3


def test_wrong_password_is_a_broker_error_and_keeps_the_messages(
    tls_broker: ActiveMQ, pki: PKI, tmp_path: Path
) -> None:
    config = _config(
        tmp_path / "vmsam.toml",
        tls_broker,
        _queue(),
        password="not-the-password",
        cert=str(pki.proxy),
        ca_file=str(pki.ca_file),
    )
    _spooled(config, 3)
    sent = _send(config)
    assert sent.returncode == EXIT_TEMPFAIL
    assert "login refused by the broker" in sent.stderr
    assert "password" in sent.stderr.lower()
    assert _left_in_spool(config) == 3
