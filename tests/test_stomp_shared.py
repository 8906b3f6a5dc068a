"""The broker settings and stomp.py log handling shared by the publisher and the consumer."""

from __future__ import annotations

import logging
import os
import ssl
import threading
from pathlib import Path

import pytest

from broker.consumer import Consumer, ConsumerError
from tests.test_publisher import PKI
from vmsam.shared.config import BrokerSettings
from vmsam.shared.stomp import TLS, BrokerConfigError, Endpoint, endpoints, stomp_log
from vmsam.vm.publisher import Publisher, PublishError


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return PKI(tmp_path_factory.mktemp("tls") / "pki")


@pytest.fixture(scope="module")
def other(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return PKI(tmp_path_factory.mktemp("other") / "pki")


def _tls(**settings: str) -> TLS:
    return TLS(BrokerSettings(urls=("h:1",), ssl=True, **settings))


# broker URLs


def test_urls_become_endpoints_in_order() -> None:
    found = endpoints([" broker.example:61613 ", "10.0.0.1:65535", "[2001:db8::1]:1"])
    assert found == [
        Endpoint("broker.example", 61613),
        Endpoint("10.0.0.1", 65535),
        Endpoint("2001:db8::1", 1),
    ]
    assert [str(e) for e in found] == ["broker.example:61613", "10.0.0.1:65535", "[2001:db8::1]:1"]


def test_no_url_is_an_error() -> None:
    with pytest.raises(BrokerConfigError, match=r"no broker configured \(\[broker\] urls is empty"):
        endpoints([])


@pytest.mark.parametrize(
    "url",
    [
        "",
        "broker.example",
        "broker.example:",
        ":61613",
        "broker.example:0",
        "broker.example:65536",
        "broker.example:123456",
        "broker.example:port",
        "stomp://broker.example:61613",
        "broker.example:61613/queue",
        "broker example:61613",
        "::1:61613",
        "[::1:61613",
        "[broker.example]:61613",
    ],
)
def test_malformed_url_is_named_in_the_error(url: str) -> None:
    with pytest.raises(BrokerConfigError, match="is not host:port") as caught:
        endpoints(["good.example:61613", url])
    assert repr(url) in str(caught.value)


def test_each_side_raises_its_own_error_for_a_bad_url() -> None:
    settings = BrokerSettings(urls=("no-port",))
    with pytest.raises(PublishError, match="is not host:port") as published:
        Publisher(settings)
    assert isinstance(published.value, BrokerConfigError)
    with pytest.raises(ConsumerError, match="is not host:port") as consumed:
        Consumer(settings, "/queue/x")
    assert not isinstance(consumed.value, BrokerConfigError)


# TLS settings


def test_key_without_cert(pki: PKI) -> None:
    with pytest.raises(BrokerConfigError, match=r"\[broker\] key is set without cert"):
        _tls(key=str(pki.proxy))


@pytest.mark.parametrize(
    ("field", "content"),
    [
        ("cert", None),
        ("cert", b"not a certificate\n"),
        ("ca_file", None),
        ("ca_file", b"not a certificate\n"),
    ],
)
def test_unusable_tls_file(tmp_path: Path, field: str, content: bytes | None) -> None:
    path = tmp_path / "file.pem"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(BrokerConfigError, match=r"TLS settings of \[broker\] do not work"):
        _tls(**{field: str(path)})


def test_cert_whose_key_is_elsewhere_and_missing(pki: PKI, tmp_path: Path) -> None:
    with pytest.raises(BrokerConfigError, match="TLS settings"):
        _tls(cert=str(pki.proxy), key=str(tmp_path / "missing.key"))


def test_missing_ca_dir_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    with pytest.raises(BrokerConfigError, match=r"cannot read \[broker\] ca_dir"):
        _tls(ca_dir=str(tmp_path / "missing"))


def test_ca_dir_without_hashed_certificates(pki: PKI, tmp_path: Path) -> None:
    ca_dir = tmp_path / "certificates"
    ca_dir.mkdir()
    # a certificate under an unhashed name, and a hashed name without a certificate
    (ca_dir / "ca.pem").write_bytes(pki.ca_pem)
    (ca_dir / "0123abcd.0").write_text("access_id_CA X509\n")
    with pytest.raises(BrokerConfigError, match="no hashed CA certificate"):
        _tls(ca_dir=str(ca_dir))


def test_proxy_is_certificate_and_key(pki: PKI) -> None:
    tls = _tls(cert=str(pki.proxy), ca_file=str(pki.ca_file))
    assert (tls.cert, tls.key) == (str(pki.proxy), str(pki.proxy))


# the CA file handed to stomp.py


def _loaded_cas(bundle: str) -> int:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=bundle)
    return len(context.get_ca_certs())


def test_ca_file_alone_is_handed_over_as_is(pki: PKI) -> None:
    with _tls(ca_file=str(pki.ca_file)).ca_certs() as bundle:
        assert bundle == str(pki.ca_file)
    with _tls().ca_certs() as bundle:
        assert bundle is None


def test_ca_dir_bundle_holds_the_hashed_certificates_only(
    pki: PKI, other: PKI, tmp_path: Path
) -> None:
    ca_dir = tmp_path / "certificates"
    ca_dir.mkdir()
    (ca_dir / "aaaaaaaa.0").write_bytes(b"comment before\n" + pki.ca_pem + b"comment after\n")
    (ca_dir / "aaaaaaaa.1").write_bytes(other.ca_pem + pki.ca_pem)
    (ca_dir / "aaaaaaaa.signing_policy").write_text("access_id_CA X509\n")
    (ca_dir / "aaaaaaaa.r0").write_bytes(other.ca_pem)  # a CRL's name: not a CA
    (ca_dir / "other.pem").write_bytes(other.ca_pem)
    (ca_dir / "bbbbbbbb.0").mkdir()  # unreadable as a file: passed over
    with _tls(ca_dir=str(ca_dir)).ca_certs() as bundle:
        assert bundle is not None
        content = Path(bundle).read_bytes()
        assert content == pki.ca_pem + other.ca_pem + pki.ca_pem
        assert b"comment" not in content
        assert _loaded_cas(bundle) == 2  # the same CA twice counts once
    assert not os.path.exists(bundle)


def test_ca_file_comes_first_in_the_bundle(pki: PKI, other: PKI) -> None:
    with _tls(ca_file=str(other.ca_file), ca_dir=str(pki.ca_dir)).ca_certs() as bundle:
        assert bundle is not None
        assert Path(bundle).read_bytes() == other.ca_pem + b"\n" + pki.ca_pem
    assert not os.path.exists(bundle)


def test_ca_file_gone_after_the_check(pki: PKI, tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(pki.ca_pem)
    tls = _tls(ca_file=str(ca_file), ca_dir=str(pki.ca_dir))
    ca_file.unlink()
    with pytest.raises(BrokerConfigError, match=r"cannot read \[broker\] ca_file"), tls.ca_certs():
        pytest.fail("no bundle without the CA file")


# stomp.py's log


def test_stomp_log_keeps_the_last_connect_failure_per_thread() -> None:
    handler = stomp_log()
    assert stomp_log() is handler
    logger = logging.getLogger("stomp.py")
    assert logger.handlers.count(handler) == 1
    assert not logger.propagate

    def fail_elsewhere() -> None:
        logger.warning("could not connect to host %s, port %s: %s", "b", 2, "refused")

    logger.warning("could not connect to host %s, port %s: %s", "a", 1, "timed out")
    logger.warning("something else: %s", "ignored")
    other = threading.Thread(target=fail_elsewhere)
    other.start()
    other.join()
    assert handler.pop() == "timed out"
    assert handler.pop() == ""
