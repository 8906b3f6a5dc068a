"""Signing in the VM and verifying on the server, without a broker: our signed messages
checked by ``openssl smime -verify`` (an outside parser), messages signed by
``openssl smime -sign`` as APEL's SSM makes them checked by ours, the opaque form, RSA and
EC keys, credentials that cannot be used, subjects in both forms, and garbage."""

from __future__ import annotations

import base64
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.consumer import BIN, record
from tests.support.testca import Credential, TestCA, one_line
from vmsam.server.gocdb import GocdbEndpoint, allow_list_lines
from vmsam.server.trust import AllowList, Verifier, normal_subject, receive
from vmsam.shared.config import Settings, read_settings
from vmsam.vm import signing

SITE, SPACE = "UKI-TEST-SITE", "vac01.example.org"


@pytest.fixture(scope="module", params=["rsa", "ec"])
def ca(request, tmp_path_factory) -> tuple[TestCA, Credential, Path, Verifier]:
    root = tmp_path_factory.mktemp(f"ca-{request.param}")
    authority = TestCA(ec_keys=request.param == "ec")
    host = authority.host(SPACE)
    authority.install(root / "certificates")
    allow = root / "allow-list"
    allow.write_text(f'"{one_line(host.subject)}" {SITE}\n')
    return authority, host, root, Verifier(root / "certificates", allow, "reject")


def signer_for(credential: Credential, path: Path) -> signing.Signer:
    return signing.Signer.load(signing.Credential(str(credential.write(path))))


def test_openssl_verifies_our_signed_message(ca, tmp_path):
    _, host, root, _ = ca
    body = record(1, site=SITE, endpoint=SPACE)
    message = tmp_path / "message.txt"
    message.write_text(signer_for(host, tmp_path / "host.pem").sign(body))
    done = subprocess.run(
        [
            "openssl",
            "smime",
            "-verify",
            "-in",
            str(message),
            "-text",
            "-CAfile",
            str(root / "certificates" / "vmsam-test-ca.pem"),
            "-purpose",
            "any",
        ],
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert b"Verification successful" in done.stderr
    assert done.stdout.replace(b"\r\n", b"\n") == body.encode()


def openssl_signed(host: Credential, body: str, tmp_path: Path, *options: str) -> bytes:
    """``body`` signed by ``openssl smime -sign -text`` (APEL SSM's way) with ``host``."""
    (tmp_path / "body.txt").write_text(body)
    (tmp_path / "cert.pem").write_bytes(host.certificate.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        host.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    command = ["openssl", "smime", "-sign", "-text", "-in", str(tmp_path / "body.txt")]
    command += ["-signer", str(tmp_path / "cert.pem"), "-inkey", str(tmp_path / "key.pem")]
    return subprocess.run([*command, *options], capture_output=True, check=True).stdout


def test_a_message_signed_by_openssl_as_ssm_does_is_verified(ca, tmp_path):
    _, host, _, verifier = ca
    signed = openssl_signed(host, record(2, site=SITE, endpoint=SPACE), tmp_path)
    received = verifier.receive(signed, {})
    assert received.error is None
    assert received.signature == "verified"
    assert received.result is not None and received.result.summary == "OK - message 2"


def test_the_opaque_form_is_verified_too(ca, tmp_path):
    _, host, _, verifier = ca
    opaque = openssl_signed(host, record(3, site=SITE, endpoint=SPACE), tmp_path, "-nodetach")
    assert b"Content-Type: application/x-pkcs7-mime" in opaque
    received = verifier.receive(opaque, {})
    assert (received.error, received.signature) == (None, "verified")
    assert received.result is not None and received.result.summary == "OK - message 3"
    # the record inside the CMS structure changed: the digest no longer matches
    header, _, encoded = opaque.partition(b"\n\n")
    data = base64.b64decode(encoded)
    assert b"OK - message 3" in data
    forged = base64.encodebytes(data.replace(b"OK - message 3", b"OK - message 9"))
    tampered = verifier.receive(header + b"\n\n" + forged, {})
    assert tampered.error == "signature does not match the content"


def test_line_ends_changed_on_the_way_still_verify(ca, tmp_path):
    _, host, _, verifier = ca
    message = signer_for(host, tmp_path / "host.pem").sign(record(4, site=SITE, endpoint=SPACE))
    received = verifier.receive(message.replace("\r\n", "\n").encode(), {})
    assert received.signature == "verified"


def test_without_a_ca_directory_a_signed_message_is_unwrapped_unchecked(ca, tmp_path):
    _, host, _, _ = ca
    message = signer_for(host, tmp_path / "host.pem").sign(record(5, site=SITE, endpoint=SPACE))
    received = receive(message.encode(), {}, None)
    assert received.result is not None and received.result.site_name == SITE
    assert (received.signature, received.signer) == (None, None)
    assert received.body == message.encode()  # as it arrived


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.sampled_from(["multipart/signed", "application/pkcs7-mime"]))
def test_garbage_that_looks_signed_is_a_one_line_reason(ca, tail, kind):
    verifier = ca[3]
    body = f'MIME-Version: 1.0\r\nContent-Type: {kind}; boundary="b"\r\n\r\n'.encode() + tail
    received = verifier.receive(body, {})
    assert received.result is None
    assert received.error and "\n" not in received.error


def test_the_same_subject_in_both_forms_is_one_subject():
    openssl = "/DC=ch/DC=cern/OU=computers/CN=host/vac01.example.org"
    rfc4514 = "CN=host/vac01.example.org,OU=computers,DC=cern,DC=ch"
    assert normal_subject(openssl) == normal_subject(rfc4514) == openssl
    assert normal_subject("/dc=ch/cn=x/emailAddress=a@b") == "/DC=ch/CN=x/emailAddress=a@b"


def _settings(**broker: str) -> Settings:
    """Settings of a VM that signs (``sign = auto``) unless ``broker`` says otherwise."""
    defaults = Settings()
    return defaults._replace(broker=defaults.broker._replace(**{"sign": "auto", **broker}))


def test_a_garbled_credential_leaves_the_messages_unsigned_with_the_reason(tmp_path):
    garbled = tmp_path / "proxy.pem"
    garbled.write_text(
        "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n"
    )
    bodies = [record(1), record(2)]
    out, notes = signing.sign_all(bodies, _settings(sign_cert=str(garbled)))
    assert out == bodies
    assert notes == [f"messages not signed: no PEM certificate in {garbled}"]


def test_a_key_that_is_not_the_certificates_is_refused(tmp_path):
    authority = TestCA()
    one, two = authority.host("one.example.org"), authority.host("two.example.org")
    mixed = Credential(one.certificate, two.key).write(tmp_path / "mixed.pem")
    with pytest.raises(signing.SigningError, match="matches the signing key"):
        signing.Signer.load(signing.Credential(str(mixed)))


def test_an_unreadable_key_file_is_one_line(tmp_path):
    authority = TestCA()
    host = authority.host("one.example.org").write(tmp_path / "host.pem")
    with pytest.raises(signing.SigningError, match="cannot read the signing key /nonexistent"):
        signing.Signer.load(signing.Credential(str(host), "/nonexistent/key.pem"))


@pytest.mark.parametrize(
    ("broker", "paths", "expected"),
    [
        (
            {"sign_cert": "/a.pem", "sign_key": "/a.key", "cert": "/tls.pem"},
            {},
            ("/a.pem", "/a.key"),
        ),
        ({"cert": "/tls.pem", "key": "/tls.key"}, {"proxy": "/p.pem"}, ("/tls.pem", "/tls.key")),
        ({}, {"proxy": "/root/x509proxy.pem"}, ("/root/x509proxy.pem", "")),
        ({}, {}, None),
    ],
)
def test_the_credential_is_the_signing_one_else_the_tls_one_else_the_proxy(broker, paths, expected):
    defaults = Settings()
    chosen = defaults._replace(
        broker=defaults.broker._replace(**broker), paths=defaults.paths._replace(**paths)
    )
    found = signing.credential(chosen)
    assert (tuple(found) if found else None) == expected


def test_without_a_credential_auto_and_yes_say_so_and_no_says_nothing():
    bodies = [record(1)]
    assert signing.sign_all(bodies, _settings(sign="no")) == (bodies, [])
    _, auto = signing.sign_all(bodies, _settings(sign="auto"))
    _, yes = signing.sign_all(bodies, _settings(sign="yes"))
    assert auto == [
        "messages not signed: no credential ([broker] sign_cert, cert or [paths] proxy)"
    ]
    assert yes == ["messages not signed although [broker] sign = yes: no credential found"]


def test_sign_and_unsigned_take_only_their_words(tmp_path):
    config = tmp_path / "vmsam.toml"
    config.write_text('[broker]\nsign = "maybe"\n[consumer]\nunsigned = "FLAG"\n')
    configuration = read_settings(str(config))
    assert configuration.settings.broker.sign == "no"  # the default: plain WLCG records
    assert configuration.settings.consumer.unsigned == "flag"
    (problem,) = configuration.errors
    assert problem.key == "[broker] sign"
    assert "expected one of auto, yes, no, got 'maybe'" in problem.message


def test_a_signed_message_carries_its_time_of_receipt_check(ca, tmp_path):
    """Validity is judged at receipt: the same message is refused once its certificate
    has expired."""
    _, host, _, verifier = ca
    message = signer_for(host, tmp_path / "host.pem").sign(record(6, site=SITE, endpoint=SPACE))
    later = host.certificate.not_valid_after_utc + timedelta(days=1)
    refused = verifier.receive(message.encode(), {}, now=later)
    assert refused.error is not None
    assert refused.error.startswith("certificate expired (notAfter ")


GOCDB_ENDPOINTS = """<?xml version="1.0" encoding="UTF-8"?>
<results>
  <SERVICE_ENDPOINT PRIMARY_KEY="1G0">
    <HOSTNAME>{space}</HOSTNAME>
    <HOSTDN>{dn}</HOSTDN>
    <SITENAME>{site}</SITENAME>
    <SERVICE_TYPE>uk.ac.gridpp.vac</SERVICE_TYPE>
  </SERVICE_ENDPOINT>
  <SERVICE_ENDPOINT PRIMARY_KEY="2G0">
    <HOSTNAME>ce01.example.org</HOSTNAME>
    <HOSTDN>/DC=org/DC=example/CN=ce01.example.org</HOSTDN>
    <SITENAME>{site}</SITENAME>
    <SERVICE_TYPE>ARC-CE</SERVICE_TYPE>
  </SERVICE_ENDPOINT>
  <SERVICE_ENDPOINT PRIMARY_KEY="3G0">
    <HOSTNAME>vac02.example.org</HOSTNAME>
    <SITENAME>{site}</SITENAME>
    <SERVICE_TYPE>uk.ac.gridpp.vac</SERVICE_TYPE>
  </SERVICE_ENDPOINT>
</results>
"""


def test_the_allow_list_made_from_gocdb_lets_each_host_report_for_its_space(ca, tmp_path):
    _, host, root, _ = ca
    gocdb = tmp_path / "endpoints.xml"
    gocdb.write_text(GOCDB_ENDPOINTS.format(space=SPACE, dn=one_line(host.subject), site=SITE))
    done = subprocess.run(
        [
            str(BIN / "vmsam"),
            "trust",
            "from-gocdb",
            "--service-type",
            "uk.ac.gridpp.vac",
            str(gocdb),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"# from {gocdb}: 1 service endpoint(s); 1 without a HOSTDN left out",
        f'"{one_line(host.subject)}"  {SITE}/{SPACE}',
    ]
    allow = tmp_path / "allow-list"
    allow.write_text(done.stdout)
    verifier = Verifier(root / "certificates", allow, "reject")
    signer = signer_for(host, tmp_path / "host.pem")
    mine = verifier.receive(signer.sign(record(7, site=SITE, endpoint=SPACE)).encode(), {})
    assert mine.signature == "verified"
    elsewhere = verifier.receive(
        signer.sign(record(8, site=SITE, endpoint="vac02.example.org")).encode(), {}
    )
    assert elsewhere.error == (
        f"signer {one_line(host.subject)} not allowed to report for space vac02.example.org"
        f" of site {SITE}"
    )


def test_a_subject_with_quotes_survives_the_allow_list(tmp_path):
    subject = '/DC=org/CN=say "hi" \\ there'
    (line,) = allow_list_lines([GocdbEndpoint(subject, SITE, SPACE, "uk.ac.gridpp.vac")])
    path = tmp_path / "allow-list"
    path.write_text(line + "\n")
    assert AllowList(path).problem(subject, SITE, SPACE) is None
