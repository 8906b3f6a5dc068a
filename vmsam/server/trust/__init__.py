"""Authenticity of received messages, as APEL's SSM does it for accounting: a VM signs each
record (S/MIME, CMS) with its host certificate or proxy, and the consumer verifies the
signature against a CA directory (with its CRLs) and an allow-list of who may report for
which site and space (docs/messages.md, "Signed messages").

Everything that decides where a result counts is in the signed record; nothing is taken
from the STOMP headers, so a header changed on the way moves nothing.

Cost per message once a signer is known: the S/MIME split, a lazy CMS parse, one digest
and one signature check (the certificate path is checked once per signer and CA-directory
reading). Without ``[consumer] ca_dir`` nothing is verified: a signed body is only unwrapped
(``receive`` with no verifier), and a record as before costs one ``startswith``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509

from vmsam.server.store import Received
from vmsam.server.trust import _cms, _smime
from vmsam.server.trust._allow import AllowList, AllowListError, normal_subject
from vmsam.server.trust._chain import Certificates, ChainError, Chains, one_line
from vmsam.server.trust._cms import SignatureMismatch
from vmsam.server.trust._smime import SmimeError, looks_signed

__all__ = [
    "UNSIGNED",
    "UNSIGNED_POLICIES",
    "VERIFIED",
    "AllowList",
    "SmimeError",
    "TrustError",
    "Verifier",
    "looks_signed",
    "normal_subject",
    "one_line",
    "receive",
    "unwrapped",
]

UNSIGNED_POLICIES = ("accept", "flag", "reject")
# the ``signature`` of a stored result; None: not checked (no CA directory, or an unsigned
# message under the policy ``accept``)
VERIFIED = "verified"
UNSIGNED = "unsigned"


class TrustError(ValueError):
    """The trust settings cannot work (one line)."""


@dataclass(frozen=True)
class _Verdict:
    """What a body is worth: the record to decode and how it was signed, or why not."""

    content: bytes
    signature: str | None = None
    signer: str | None = None
    error: str | None = None


def _opaque_content(info: _cms.SignerInfo) -> bytes:
    if info.content is None:
        raise SmimeError("a pkcs7-mime message without its content")
    return info.content


def unwrapped(body: bytes) -> bytes:
    """The record of a signed body, unverified (where no CA directory is configured, and
    for ``vmsam ingest`` of a spool); ``SmimeError`` when it is not a signed message."""
    signed = _smime.parse(body)
    entity = signed.entity if signed.entity is not None else _opaque_content(_cms.read(signed.cms))
    return _smime.content_of(entity)


def _certificates(info: _cms.SignerInfo) -> Certificates:
    try:
        carried = [x509.load_der_x509_certificate(der) for der in info.certificates]
    except ValueError as exc:
        raise ChainError(f"a certificate of the message is not valid ({exc})") from None
    for certificate in carried:
        if info.serial is not None:
            if (
                certificate.serial_number == info.serial
                and certificate.issuer.public_bytes() == info.issuer
            ):
                return certificate, carried
        elif info.key_id is not None:
            try:
                extension = certificate.extensions.get_extension_for_class(
                    x509.SubjectKeyIdentifier
                )
            except x509.ExtensionNotFound:
                continue
            if extension.value.digest == info.key_id:
                return certificate, carried
    raise ChainError("the signer's certificate is not in the message")


class Verifier:
    """Checks bodies against one CA directory and one allow-list, under a policy for
    unsigned messages (``accept``, ``flag`` or ``reject``)."""

    def __init__(self, ca_dir: str | Path, allow_list: str | Path, unsigned: str = "flag") -> None:
        if unsigned not in UNSIGNED_POLICIES:
            raise TrustError(
                f"[consumer] unsigned = {unsigned!r} is not one of {', '.join(UNSIGNED_POLICIES)}"
            )
        if not str(allow_list).strip():
            raise TrustError("[consumer] ca_dir is set but allow_list is not: who may report?")
        self._unsigned = unsigned
        try:
            self._chains = Chains(ca_dir)
            self._allowed = AllowList(allow_list)
        except (ChainError, AllowListError) as exc:
            raise TrustError(str(exc)) from None

    def _verify(self, body: bytes, now: datetime) -> _Verdict:
        if not looks_signed(body):
            if self._unsigned == "reject":
                return _Verdict(body, error="unsigned message refused (policy reject)")
            return _Verdict(body, UNSIGNED if self._unsigned == "flag" else None)
        try:
            signed = _smime.parse(body)
            info = _cms.read(signed.cms)
            entity = signed.entity if signed.entity is not None else _opaque_content(info)
            trusted = self._chains.trusted(info.chain_key, lambda: _certificates(info))
            expired = trusted.window.problem(now)
            if expired:
                return _Verdict(body, error=expired)
            _cms.check(info, trusted.public_key, entity)
            return _Verdict(_smime.content_of(entity), VERIFIED, trusted.identity)
        except SmimeError as exc:
            return _Verdict(body, error=f"not a valid signed message: {exc}")
        except (ChainError, SignatureMismatch) as exc:
            return _Verdict(body, error=str(exc))

    def receive(
        self, body: bytes, headers: Mapping[str, str], now: datetime | None = None
    ) -> Received:
        """``body`` checked, decoded and validated: a result with how it was signed, or the
        reason it goes to the dead letters (the body kept as it arrived)."""
        moment = now or datetime.now(UTC)
        verdict = self._verify(body, moment)
        if verdict.error is not None:
            return Received(body, dict(headers), moment, error=verdict.error)
        received = Received.parse(verdict.content, headers, now=moment)
        result = received.result
        if result is not None and verdict.signer is not None:
            problem = self._allowed.problem(verdict.signer, result.site_name, result.host_name)
            if problem is not None:
                return Received(body, dict(headers), moment, error=problem)
        return replace(received, body=body, signature=verdict.signature, signer=verdict.signer)


def receive(
    body: bytes,
    headers: Mapping[str, str],
    verifier: Verifier | None,
    now: datetime | None = None,
) -> Received:
    """A received body as the store takes it: checked by ``verifier``, or, without one,
    unwrapped when it is signed and taken as it is otherwise; received ``now``."""
    if verifier is not None:
        return verifier.receive(body, headers, now)
    if not looks_signed(body):
        return Received.parse(body, headers, now=now)
    now = now or datetime.now(UTC)
    try:
        content = unwrapped(body)
    except SmimeError as exc:
        return Received(body, dict(headers), now, error=f"not a valid signed message: {exc}")
    return replace(Received.parse(content, headers, now=now), body=body)
