"""Signed messages through the real ActiveMQ broker and the real consumer: a test CA made
here with ``cryptography`` (host certificates for two sites, an expired one, a revoked one
with its CRL in the CA directory, a proxy, another CA nobody trusts), verified against the
CA directory and the allow-list; every forgery is dead-lettered with its reason and the
consumer keeps going. Storage on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import contextlib
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import stomp

from broker.consumer import Consumer, ConsumerOptions, trust_checks
from tests.support.consumer import (
    BIN,
    ConsumerProcess,
    database,
    record,
    send,
    wait_until,
    write_config,
)
from tests.support.testca import Credential, TestCA, one_line
from vmsam.demo.simulate import VMLayout, build_vm
from vmsam.demo.simulate import write_config as write_vm_config
from vmsam.server.store import Store
from vmsam.shared.config import BrokerSettings, ConsumerSettings
from vmsam.shared.errors import ConsumerError
from vmsam.vm import signing

SITE, SPACE = "UKI-TEST-SITE", "vac01.example.org"
OTHER_SITE, OTHER_SPACE = "UKI-OTHER-SITE", "vac02.other.org"


@dataclass
class Trust:
    """The consumer's side of a test CA: its CA directory and allow-list, and the
    credentials the tests sign with."""

    ca_dir: Path
    allow_list: Path
    host: Credential
    other_site: Credential
    expired: Credential
    revoked: Credential
    untrusted: Credential
    ca: TestCA

    def settings(self, unsigned: str = "flag") -> ConsumerSettings:
        return ConsumerSettings(
            ca_dir=str(self.ca_dir), allow_list=str(self.allow_list), unsigned=unsigned
        )


@pytest.fixture(scope="module")
def trust(tmp_path_factory: pytest.TempPathFactory) -> Trust:
    root = tmp_path_factory.mktemp("trust")
    ca = TestCA()
    now = datetime.now(UTC)
    host = ca.host(SPACE)
    other_site = ca.host(OTHER_SPACE)
    expired = ca.host(
        "old.example.org", not_before=now - timedelta(days=60), not_after=now - timedelta(days=1)
    )
    revoked = ca.host("stolen.example.org")
    ca.revoke(revoked)
    ca.install(root / "certificates")
    untrusted = TestCA("Nobody's CA").host("intruder.example.org")
    allow_list = root / "allow-list"
    # the host in OpenSSL's one-line form, the other site's in RFC 4514's
    allow_list.write_text(
        "# who may report for what\n"
        f'"{one_line(host.subject)}"  {SITE}/{SPACE}\n'
        f'"{other_site.subject.rfc4514_string()}"  {OTHER_SITE}\n'
        f'"{one_line(expired.subject)}"  {SITE}\n'
        f'"{one_line(revoked.subject)}"  {SITE}\n'
        f'"{one_line(untrusted.subject)}"  {SITE}\n'
    )
    return Trust(
        root / "certificates", allow_list, host, other_site, expired, revoked, untrusted, ca
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> Iterator[str]:
    with database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def queue_name() -> str:
    return f"/queue/vmsam.signatures.{uuid.uuid4().hex}"


def signed(credential: Credential, body: str, tmp_path: Path) -> str:
    path = credential.write(tmp_path / f"{uuid.uuid4().hex}.pem")
    return signing.Signer.load(signing.Credential(str(path))).sign(body)


def unique_record(*, site: str = SITE, endpoint: str = SPACE, summary: str = "") -> str:
    body = record(0, site=site, endpoint=endpoint, run=uuid.uuid4().hex)
    return body.replace("OK - message 0", summary) if summary else body


@contextlib.contextmanager
def consuming(
    address: str, url: str, queue: str, trust_settings: ConsumerSettings
) -> Iterator[Consumer]:
    consumer = Consumer(
        BrokerSettings(urls=(address,)),
        queue,
        options=ConsumerOptions(batch_size=50),
        verifier=trust_checks(trust_settings),
    )
    store = Store(url)
    worker = threading.Thread(target=consumer.run, args=(store,))
    worker.start()
    try:
        yield consumer
    finally:
        consumer.stop()
        worker.join(60)
        store.close()
    assert not worker.is_alive()


def settled(url: str, total: int) -> tuple[list, list]:
    """Every stored result and dead letter once ``total`` messages were dealt with."""
    store = Store(url)
    try:
        wait_until(
            lambda: store.results(limit=1)[0] + store.dead_letters(limit=1)[0] >= total,
            60,
            f"{total} messages stored or dead-lettered",
        )
        return store.results(limit=1000)[1], store.dead_letters(limit=1000)[1]
    finally:
        store.close()


def by_summary(results: list) -> dict[str, object]:
    return {r.summary: r for r in results}


def tamper_body(message: str) -> str:
    """The signed record's status changed from OK to CRITICAL, the signature left."""
    changed = message.replace("metricStatus: OK", "metricStatus: CRITICAL")
    assert changed != message
    return changed


def garbage_smime(message: str) -> str:
    """The multipart/signed frame kept, the signature replaced by base64 of junk."""
    head, _, _ = message.rpartition('filename="smime.p7s"\r\n\r\n')
    boundary = message.split('boundary="', 1)[1].split('"', 1)[0]
    junk = base64.encodebytes(b"\x30\x82\x01\x00 not a CMS structure at all").decode()
    return f'{head}filename="smime.p7s"\r\n\r\n{junk}\r\n--{boundary}--\r\n'


def test_signed_messages_are_verified_and_forgeries_dead_lettered(
    activemq, db_url, queue_name, tmp_path, trust
):
    valid = signed(trust.host, unique_record(summary="valid"), tmp_path)
    proxy = trust.ca.proxy(trust.host)
    bodies = [
        valid,
        signed(proxy, unique_record(summary="by proxy"), tmp_path),
        signed(
            trust.other_site,
            unique_record(site=OTHER_SITE, endpoint=OTHER_SPACE, summary="other site, own space"),
            tmp_path,
        ),
        tamper_body(signed(trust.host, unique_record(summary="tampered"), tmp_path)),
        signed(trust.other_site, unique_record(summary="wrong site"), tmp_path),
        signed(
            trust.host, unique_record(endpoint="vac09.example.org", summary="wrong space"), tmp_path
        ),
        signed(trust.expired, unique_record(summary="expired"), tmp_path),
        signed(trust.revoked, unique_record(summary="revoked"), tmp_path),
        signed(trust.untrusted, unique_record(summary="unknown CA"), tmp_path),
        garbage_smime(valid),
        unique_record(summary="unsigned"),
    ]
    with consuming(activemq.address, db_url, queue_name, trust.settings("flag")):
        send(activemq.address, queue_name, bodies)
        results, letters = settled(db_url, len(bodies))
    stored = by_summary(results)
    assert set(stored) == {"valid", "by proxy", "other site, own space", "unsigned"}
    host_dn = "/DC=org/DC=example/O=vmsam test/CN=vac01.example.org"
    assert (stored["valid"].signature, stored["valid"].signer) == ("verified", host_dn)
    # a proxy signs for the certificate it was made from
    assert (stored["by proxy"].signature, stored["by proxy"].signer) == ("verified", host_dn)
    assert stored["other site, own space"].site == OTHER_SITE
    assert stored["other site, own space"].signature == "verified"
    assert (stored["unsigned"].signature, stored["unsigned"].signer) == ("unsigned", None)
    reasons = sorted(letter.reason for letter in letters)
    other_dn = "/DC=org/DC=example/O=vmsam test/CN=vac02.other.org"
    expected = [
        "certificate expired (notAfter",
        "certificate revoked by CRL of /DC=org/DC=example/O=vmsam test/CN=vmsam Test CA:"
        " /DC=org/DC=example/O=vmsam test/CN=stolen.example.org (serial",
        "not a valid signed message: ",
        "signature does not match the content",
        f"signer {host_dn} not allowed to report for space vac09.example.org of site {SITE}",
        f"signer {other_dn} not allowed to report for site {SITE}",
        "unknown CA /DC=org/DC=example/O=vmsam test/CN=Nobody's CA",
    ]
    assert len(reasons) == len(expected)
    for reason, start in zip(reasons, expected, strict=True):
        assert reason.startswith(start), (reason, start)
        assert "\n" not in reason
    # the dead letter keeps the message as it arrived, signature and all
    assert all(letter.body.startswith("MIME-Version: 1.0") for letter in letters)


def test_headers_cannot_move_a_signed_result(db_url, queue_name, tmp_path, trust, activemq):
    """Everything that decides where a result counts is in the signed record: headers
    claiming another site, space or destination change nothing."""
    body = signed(trust.host, unique_record(summary="with lying headers"), tmp_path)
    with consuming(activemq.address, db_url, queue_name, trust.settings()):
        conn = stomp.Connection12([tuple_address(activemq.address)], heartbeats=(0, 0))
        conn.connect(wait=True)
        try:
            conn.send(
                queue_name,
                body,
                headers={
                    "persistent": "true",
                    "siteName": OTHER_SITE,
                    "hostName": OTHER_SPACE,
                    "destination": "/queue/somewhere.else",
                },
            )
        finally:
            # DISCONNECT's receipt comes after the broker took the SEND before it
            conn.disconnect()
        results, letters = settled(db_url, 1)
    assert letters == []
    (result,) = results
    assert (result.site, result.endpoint, result.signature) == (SITE, SPACE, "verified")


def tuple_address(address: str) -> tuple[str, int]:
    host, port = address.rsplit(":", 1)
    return host, int(port)


@pytest.mark.parametrize(
    "case",
    [
        ("accept", None, None),
        ("flag", "unsigned", None),
        ("reject", None, "unsigned message refused (policy reject)"),
    ],
    ids=["accept", "flag", "reject"],
)
def test_unsigned_messages_under_each_policy(
    activemq, db_url, queue_name, tmp_path, *, trust, case
):
    policy, signature, reason = case
    bodies = [
        unique_record(summary="unsigned"),
        signed(trust.host, unique_record(summary="signed"), tmp_path),
    ]
    with consuming(activemq.address, db_url, queue_name, trust.settings(policy)):
        send(activemq.address, queue_name, bodies)
        results, letters = settled(db_url, 2)
    stored = by_summary(results)
    assert stored["signed"].signature == "verified"
    if reason is None:
        assert stored["unsigned"].signature == signature
        assert letters == []
    else:
        assert "unsigned" not in stored
        assert [letter.reason for letter in letters] == [reason]


def test_the_allow_list_is_read_again_when_it_changes(activemq, tmp_path, queue_name, trust):
    url = f"sqlite:///{tmp_path / 'reload.db'}"
    allow_list = tmp_path / "allow-list"
    allow_list.write_text(f'"{one_line(trust.host.subject)}"  {OTHER_SITE}\n')
    settings = ConsumerSettings(ca_dir=str(trust.ca_dir), allow_list=str(allow_list))
    with consuming(activemq.address, url, queue_name, settings):
        send(
            activemq.address,
            queue_name,
            [signed(trust.host, unique_record(summary="before"), tmp_path)],
        )
        results, letters = settled(url, 1)
        assert (results, len(letters)) == ([], 1)
        allow_list.write_text(f'"{one_line(trust.host.subject)}"  {OTHER_SITE}  {SITE}\n')
        time.sleep(1.2)  # the file is looked at once a second
        send(
            activemq.address,
            queue_name,
            [signed(trust.host, unique_record(summary="after"), tmp_path)],
        )
        results, _ = settled(url, 2)
    assert [r.summary for r in results] == ["after"]


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        (ConsumerSettings(allow_list="/etc/vmsam/allow"), "allow_list is set but ca_dir is not"),
        (ConsumerSettings(ca_dir="/nonexistent/ca"), "allow_list is not"),
        (
            ConsumerSettings(ca_dir="/nonexistent/ca", allow_list="/x"),
            "cannot read the CA directory",
        ),
    ],
)
def test_trust_settings_that_cannot_work_are_one_line_errors(settings, words):
    with pytest.raises(ConsumerError, match=words) as caught:
        trust_checks(settings)
    assert "\n" not in str(caught.value)


def test_a_bad_allow_list_line_is_named(tmp_path, trust):
    allow_list = tmp_path / "allow-list"
    allow_list.write_text('# fine\n"/DC=org/CN=x" SITE\n"/DC=org/CN=y"\n')
    with pytest.raises(ConsumerError, match=r"allow-list:3: expected a quoted subject"):
        trust_checks(ConsumerSettings(ca_dir=str(trust.ca_dir), allow_list=str(allow_list)))


def test_the_hook_signs_with_the_contextualised_proxy_end_to_end(
    activemq, tmp_path, trust, queue_name
):
    """The VM's proxy (where Vac injects it) signs every message and ``vmsam consume``
    verifies them all; a garbled credential on another VM still publishes, unsigned, and
    the hook says why."""
    url = f"sqlite:///{tmp_path / 'hook.db'}"
    allow_list = tmp_path / "allow-list"
    # a space's site is its name without the first label (Vac's rule)
    allow_list.write_text(f'"{one_line(trust.host.subject)}"  example.org/{SPACE}\n')
    config = write_config(tmp_path / "consumer.toml", [activemq.address], queue_name, url)
    config.write_text(
        config.read_text() + f'ca_dir = "{trust.ca_dir}"\nallow_list = "{allow_list}"\n'
    )
    proxy = trust.ca.proxy(trust.host).write(tmp_path / "proxy.pem").read_bytes()
    garbage = b"-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n"
    with ConsumerProcess(config) as consumer:
        consumer.wait_event("subscribed")
        for index, credential in enumerate((proxy, garbage)):
            layout = VMLayout(
                tmp_path / f"vm{index}",
                space=SPACE,
                uuid=str(uuid.uuid4()),
                hostname=f"vm{index}.{SPACE}",
            )
            with build_vm(layout, healthy=True) as vm:
                layout.proxy.write_bytes(credential)
                vm_config = write_vm_config(
                    vm, broker_urls=[activemq.address], destination=queue_name
                )
                hook = subprocess.run(
                    [str(BIN / "vmsam"), "init-hook", "--config", str(vm_config)],
                    capture_output=True,
                    text=True,
                    timeout=120,
                    check=False,
                )
            assert hook.returncode == 0, hook.stdout + hook.stderr
            assert "published 4 message(s)" in hook.stdout
            if credential is garbage:
                assert f"messages not signed: no PEM certificate in {layout.proxy}" in hook.stdout
        results, letters = settled(url, 8)
        assert consumer.terminate() == 0
    assert letters == []
    signatures: dict[str, set[str | None]] = {}
    for result in results:
        signatures.setdefault(result.gathered_at, set()).add(result.signature)
    assert signatures == {f"vm0.{SPACE}": {"verified"}, f"vm1.{SPACE}": {"unsigned"}}
