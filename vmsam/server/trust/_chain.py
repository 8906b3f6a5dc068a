"""Who signed: the certificate path from the signer up to a CA of the CA directory, with
RFC 3820 proxies, CRLs and validity times, and the end-entity subject that names the signer.

The CA directory has the IGTF layout (``/etc/grid-security/certificates``): certificates as
``<alias>.pem`` and ``<hash>.0`` links to them, CRLs as ``<hash>.r0``. It is read again when
a file in it changes (looked at once a minute: fetch-crl replaces CRLs a few times a day).
What a path is worth is cached per signer and certificate set until then, so that a known
signer costs no chain check; only validity times are compared per message.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import NameOID, ObjectIdentifier

from vmsam.shared.messages import format_timestamp

log = logging.getLogger("vmsam.consume")

RESCAN_SECONDS = 60.0
MAX_PATH = 10
MAX_CACHED = 10_000
_CERTIFICATE_FILE = re.compile(r"(?:\.pem|\.crt|\.\d+)$")
_CRL_FILE = re.compile(r"(?:\.r\d+|\.crl)$")
# RFC 3820 proxyCertInfo, and the pre-RFC draft's (GSI 3)
_PROXY_INFO = (ObjectIdentifier("1.3.6.1.5.5.7.1.14"), ObjectIdentifier("1.3.6.1.4.1.3536.1.222"))
# GSI 2 ("legacy") proxies say so only in their last CN
_LEGACY_PROXY_CN = ("proxy", "limited proxy")
# the short names OpenSSL's one-line form uses
_SHORT = {
    NameOID.COUNTRY_NAME: "C",
    NameOID.STATE_OR_PROVINCE_NAME: "ST",
    NameOID.LOCALITY_NAME: "L",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.COMMON_NAME: "CN",
    NameOID.DOMAIN_COMPONENT: "DC",
    NameOID.USER_ID: "UID",
    NameOID.EMAIL_ADDRESS: "emailAddress",
    NameOID.SERIAL_NUMBER: "serialNumber",
}


class ChainError(ValueError):
    """Why the signer is not trusted (one line)."""


# the signer's certificate and the others a message carries
Certificates = tuple[x509.Certificate, Sequence[x509.Certificate]]


def one_line(name: x509.Name) -> str:
    """A name in OpenSSL's one-line form, ``/DC=ch/DC=cern/CN=host``: the form grid
    allow-lists, GOCDB's HOSTDN and the dead-letter reasons use."""
    parts = []
    for attribute in name:
        label = _SHORT.get(attribute.oid, attribute.oid.dotted_string)
        parts.append(f"{label}={attribute.value!s}")
    return "/" + "/".join(parts)


def _is_proxy(certificate: x509.Certificate) -> bool:
    extensions = {extension.oid for extension in certificate.extensions}
    if any(oid in extensions for oid in _PROXY_INFO):
        return True
    last = list(certificate.subject)[-1:] if len(certificate.subject) else []
    return bool(
        last
        and last[0].oid == NameOID.COMMON_NAME
        and last[0].value in _LEGACY_PROXY_CN
        and certificate.subject.rdns[:-1] == certificate.issuer.rdns
    )


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        return bool(certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _files(directory: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as entries:
            return sorted(entries, key=lambda entry: entry.name)
    except OSError as exc:
        raise ChainError(f"cannot read the CA directory {directory}: {exc.strerror}") from None


def _generation(entries: Iterable[os.DirEntry[str]]) -> tuple[tuple[str, int, int], ...]:
    """What changes when a certificate or CRL file of the directory does."""
    found = []
    for entry in entries:
        if _CERTIFICATE_FILE.search(entry.name) or _CRL_FILE.search(entry.name):
            stat = entry.stat()
            found.append((entry.name, stat.st_mtime_ns, stat.st_size))
    return tuple(found)


def _load_certificates(data: bytes) -> list[x509.Certificate]:
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificates(data)
    return [x509.load_der_x509_certificate(data)]


def _load_crl(data: bytes) -> x509.CertificateRevocationList:
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_crl(data)
    return x509.load_der_x509_crl(data)


@dataclass(frozen=True)
class _Window:
    """When a whole path is valid, and which certificate ends (or starts) it."""

    not_before: datetime
    first_subject: str
    not_after: datetime
    last_subject: str

    def problem(self, now: datetime) -> str | None:
        if now > self.not_after:
            return (
                f"certificate expired (notAfter {format_timestamp(self.not_after)}):"
                f" {self.last_subject}"
            )
        if now < self.not_before:
            return (
                f"certificate not yet valid (notBefore {format_timestamp(self.not_before)}):"
                f" {self.first_subject}"
            )
        return None


@dataclass(frozen=True)
class Trusted:
    """A signer whose path reached a CA: its key, its identity (the end-entity subject: a
    proxy's is that of the certificate it was made from) and when the path is valid."""

    public_key: CertificatePublicKeyTypes
    identity: str
    window: _Window


class Anchors:
    """The CAs and CRLs of one reading of the CA directory."""

    def __init__(self, directory: Path) -> None:
        self.by_subject: dict[x509.Name, list[x509.Certificate]] = {}
        self.fingerprints: set[bytes] = set()
        self.crls: dict[x509.Name, x509.CertificateRevocationList] = {}
        entries = _files(directory)
        self.generation = _generation(entries)
        crls: list[tuple[str, x509.CertificateRevocationList]] = []
        for entry in entries:
            try:
                if _CRL_FILE.search(entry.name):
                    crls.append((entry.name, _load_crl(Path(entry.path).read_bytes())))
                elif _CERTIFICATE_FILE.search(entry.name):
                    for certificate in _load_certificates(Path(entry.path).read_bytes()):
                        self._add(certificate)
            except (OSError, ValueError) as exc:
                log.warning(
                    "unreadable file in the CA directory",
                    extra={"fields": {"file": entry.path, "error": str(exc)[:200]}},
                )
        if not self.by_subject:
            raise ChainError(f"no CA certificate in {directory}")
        for name, crl in crls:
            self._add_crl(name, crl)

    def _add(self, certificate: x509.Certificate) -> None:
        fingerprint = certificate.fingerprint(hashes.SHA256())
        if fingerprint not in self.fingerprints:
            self.fingerprints.add(fingerprint)
            self.by_subject.setdefault(certificate.subject, []).append(certificate)

    def _add_crl(self, name: str, crl: x509.CertificateRevocationList) -> None:
        issuers = self.by_subject.get(crl.issuer, [])
        if not any(crl.is_signature_valid(ca.public_key()) for ca in issuers):  # type: ignore[arg-type]
            log.warning(
                "CRL ignored: not signed by a CA of the directory",
                extra={"fields": {"file": name, "issuer": one_line(crl.issuer)}},
            )
            return
        self.crls[crl.issuer] = crl

    def trusted(self, certificate: x509.Certificate) -> bool:
        return certificate.fingerprint(hashes.SHA256()) in self.fingerprints

    def revoked(self, certificate: x509.Certificate) -> str | None:
        crl = self.crls.get(certificate.issuer)
        if (
            crl is None
            or crl.get_revoked_certificate_by_serial_number(certificate.serial_number) is None
        ):
            return None
        return (
            f"certificate revoked by CRL of {one_line(crl.issuer)}:"
            f" {one_line(certificate.subject)} (serial {certificate.serial_number:#x})"
        )


def _issued(child: x509.Certificate, parent: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _window(path: Sequence[x509.Certificate]) -> _Window:
    first = max(path, key=lambda certificate: certificate.not_valid_before_utc)
    last = min(path, key=lambda certificate: certificate.not_valid_after_utc)
    return _Window(
        first.not_valid_before_utc,
        one_line(first.subject),
        last.not_valid_after_utc,
        one_line(last.subject),
    )


def _issuer(
    child: x509.Certificate, carried: Iterable[x509.Certificate], anchors: Anchors
) -> x509.Certificate:
    """The certificate that issued ``child``: one the message carries or a CA of the
    directory, whose signature on ``child`` verifies."""
    candidates = [c for c in carried if c.subject == child.issuer]
    candidates += anchors.by_subject.get(child.issuer, [])
    for candidate in candidates:
        if _issued(child, candidate):
            return candidate
    if candidates:
        raise ChainError(
            f"certificate signature invalid: {one_line(child.subject)} is not signed by"
            f" {one_line(child.issuer)}"
        )
    raise ChainError(f"unknown CA {one_line(child.issuer)} (issuer of {one_line(child.subject)})")


def validate(
    signer: x509.Certificate, carried: Sequence[x509.Certificate], anchors: Anchors
) -> Trusted:
    """The path from ``signer`` up to a CA of ``anchors``; ``ChainError`` says why there is
    none. Times are not checked here (they change by the second): see ``Trusted.window``."""
    path = [signer]
    identity: x509.Certificate | None = None
    current = signer
    while not anchors.trusted(current):
        if len(path) > MAX_PATH:
            raise ChainError(f"certificate path longer than {MAX_PATH}: {one_line(signer.subject)}")
        proxy = _is_proxy(current)
        if proxy and current.subject.rdns[:-1] != current.issuer.rdns:
            raise ChainError(
                f"malformed proxy (its subject does not extend its issuer's): "
                f"{one_line(current.subject)}"
            )
        if not proxy and identity is None:
            identity = current
        issuer = _issuer(current, carried, anchors)
        if identity is not None and not anchors.trusted(issuer) and not _is_ca(issuer):
            raise ChainError(
                f"{one_line(issuer.subject)} is not a CA but issued {one_line(current.subject)}"
            )
        revoked = anchors.revoked(current)
        if revoked:
            raise ChainError(revoked)
        path.append(issuer)
        current = issuer
    if identity is None:
        raise ChainError(f"no end-entity certificate in the path of {one_line(signer.subject)}")
    return Trusted(signer.public_key(), one_line(identity.subject), _window(path))


class Chains:
    """Path checks against the CA directory, cached per signer and certificate set, the
    directory read again when it changed."""

    def __init__(self, directory: str | Path) -> None:
        self._directory = Path(directory)
        self._anchors = Anchors(self._directory)
        self._checked = time.monotonic()
        self._cache: dict[bytes, Trusted | ChainError] = {}

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._checked < RESCAN_SECONDS:
            return
        self._checked = now
        try:
            if _generation(_files(self._directory)) != self._anchors.generation:
                self._anchors = Anchors(self._directory)
                self._cache.clear()
                log.info(
                    "CA directory read again", extra={"fields": {"path": str(self._directory)}}
                )
        except (ChainError, OSError) as exc:
            log.warning("CA directory kept as it was", extra={"fields": {"error": str(exc)}})

    def trusted(self, key: bytes, certificates: Callable[[], Certificates]) -> Trusted:
        """``validate`` of the signer and the certificates carried that ``certificates``
        gives (it is called only when ``key``, which identifies them, is not cached)."""
        self._refresh()
        known = self._cache.get(key)
        if known is None:
            try:
                signer, carried = certificates()
                known = validate(signer, carried, self._anchors)
            except ChainError as exc:
                known = exc
            if len(self._cache) >= MAX_CACHED:
                self._cache.clear()
            self._cache[key] = known
        if isinstance(known, ChainError):
            raise known
        return known
