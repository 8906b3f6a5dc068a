"""The grid middleware of a simulated VM: an IGTF trust store, VOMS files, a setup script
and the RFC 3820 proxy Vac/Vcycle inject, all made with ``cryptography``.

The healthy tree is what grid.cern.ch serves; the unhealthy one carries the faults the
probe must find: a CRL past its nextUpdate, a CA whose CRL was never fetched, no vomses
entry for the VO and an expired proxy.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from vmsam.demo.simulate import VMLayout
from vmsam.demo.simulate._mounts import Mounter

HOUR = timedelta(hours=1)
# Longer than any simulated VM lives (MJF's shutdowntime is a few hours ahead)
HEALTHY_PROXY_LIFETIME = 48 * HOUR
SETUP_SCRIPT = "umd-4/etc/profile.d/setup-wn-example.sh"
VOMS_PORT = 15003

# RFC 3820: id-pe-proxyCertInfo, and its value for a full-rights proxy:
# SEQUENCE { proxyPolicy SEQUENCE { policyLanguage id-ppl-inheritAll } }
PROXY_CERT_INFO = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.14")
INHERIT_ALL = bytes.fromhex("300c300a06082b06010505071501")


def now() -> datetime:
    return datetime.now(UTC)


# --- the OpenSSL subject hash: the names of <hash>.0 and <hash>.r0 --------------------------

# The string types OpenSSL canonicalises (x509_name_canon): tag -> codec of their contents.
_CANON_STRINGS = {
    0x0C: "utf-8",  # UTF8String
    0x13: "latin-1",  # PrintableString
    0x14: "latin-1",  # T61String, read by OpenSSL as Latin-1
    0x16: "latin-1",  # IA5String
    0x1A: "latin-1",  # VisibleString
    0x1C: "utf-32-be",  # UniversalString
    0x1E: "utf-16-be",  # BMPString
}
_UTF8STRING = 0x0C
_ASCII_SPACE = " \t\n\v\f\r"
_ASCII_SPACES = re.compile(f"[{_ASCII_SPACE}]+")


def subject_hash(name: x509.Name) -> str:
    """OpenSSL's ``X509_NAME_hash``: SHA-1 of the canonical name, first 4 bytes little-endian.

    The canonical name is the DER of each RDN SET, concatenated without the outer SEQUENCE,
    with string values re-encoded as UTF8String, trimmed, spaces folded and ASCII lowercased.
    """
    canonical = b"".join(_canonical_rdn(rdn) for rdn in _elements(_value(name.public_bytes())))
    digest = hashlib.sha1(canonical, usedforsecurity=False).digest()
    return f"{int.from_bytes(digest[:4], 'little'):08x}"


def _canonical_rdn(rdn: bytes) -> bytes:
    attributes = []
    for attribute in _elements(_value(rdn)):
        oid, value = _elements(_value(attribute))
        attributes.append(_tlv(0x30, oid + _canonical_value(value)))
    # DER orders the members of a SET OF by their encodings
    return _tlv(0x31, b"".join(sorted(attributes)))


def _canonical_value(tlv: bytes) -> bytes:
    codec = _CANON_STRINGS.get(tlv[0])
    if codec is None:
        return tlv
    text = _ASCII_SPACES.sub(" ", _value(tlv).decode(codec).strip(_ASCII_SPACE))
    lowered = "".join(c.lower() if c.isascii() else c for c in text)
    return _tlv(_UTF8STRING, lowered.encode("utf-8"))


def _header(der: bytes) -> tuple[int, int]:
    """Offset of the contents and their length, for the TLV at the start of ``der``."""
    first = der[1]
    if first < 0x80:
        return 2, first
    count = first & 0x7F
    return 2 + count, int.from_bytes(der[2 : 2 + count], "big")


def _value(tlv: bytes) -> bytes:
    start, length = _header(tlv)
    return tlv[start : start + length]


def _elements(contents: bytes) -> list[bytes]:
    items = []
    while contents:
        start, length = _header(contents)
        items.append(contents[: start + length])
        contents = contents[start + length :]
    return items


def _tlv(tag: int, contents: bytes) -> bytes:
    length = len(contents)
    if length < 0x80:
        return bytes([tag, length]) + contents
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + contents


# --- certificates -----------------------------------------------------------------------------


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _grid_name(*organisation: str, cn: str) -> x509.Name:
    parts = [x509.NameAttribute(NameOID.DOMAIN_COMPONENT, dc) for dc in ("ch", "cern")]
    parts += [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou) for ou in organisation]
    parts.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(parts)


@dataclass(frozen=True)
class CertificateAuthority:
    alias: str
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @classmethod
    def create(cls, alias: str, *, valid_for: timedelta = 3650 * 24 * HOUR) -> CertificateAuthority:
        key = _key()
        name = _grid_name("computers", cn=alias)
        start = now() - HOUR
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + valid_for)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_ca_usage(), critical=True)
            .sign(key, hashes.SHA256())
        )
        return cls(alias, key, certificate)

    @property
    def hash(self) -> str:
        return subject_hash(self.certificate.subject)

    def crl(self, next_update: datetime) -> x509.CertificateRevocationList:
        """A CRL as fetch-crl leaves it: issued an hour before ``next_update`` at the latest."""
        return (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.certificate.subject)
            .last_update(min(now(), next_update) - HOUR)
            .next_update(next_update)
            .sign(self.key, hashes.SHA256())
        )

    def issue_user(self, cn: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        """An end-entity (user) certificate, valid for a year."""
        key = _key()
        start = now() - HOUR
        certificate = (
            x509.CertificateBuilder()
            .subject_name(_grid_name("Users", cn=cn))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + 365 * 24 * HOUR)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        return key, certificate


def _ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def proxy_pem(lifetime: timedelta) -> bytes:
    """An RFC 3820 proxy file (proxy certificate, its key, the user certificate) valid for
    ``lifetime`` from now; a negative lifetime makes one that expired that long ago.
    """
    user_key, user = CertificateAuthority.create("Simulated User CA").issue_user("vmsam pilot")
    key = _key()
    serial = x509.random_serial_number()
    end = now() + lifetime
    certificate = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name([*user.subject, x509.NameAttribute(NameOID.COMMON_NAME, str(serial))])
        )
        .issuer_name(user.subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(min(now(), end) - timedelta(minutes=5))
        .not_valid_after(end)
        .add_extension(x509.UnrecognizedExtension(PROXY_CERT_INFO, INHERIT_ALL), critical=True)
        .sign(user_key, hashes.SHA256())
    )
    return b"".join(
        [
            certificate.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            ),
            user.public_bytes(serialization.Encoding.PEM),
        ]
    )


def write_proxy(path: Path, lifetime: timedelta) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(proxy_pem(lifetime))
    path.chmod(0o600)  # as grid tools insist for a file holding a private key


# --- the trust store and its neighbours --------------------------------------------------------


class GridRoot:
    """Writes grid.cern.ch's middleware files under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        security = root / "etc" / "grid-security"
        self.certificates = security / "certificates"
        self.vomsdir = security / "vomsdir"
        self.vomses = security / "vomses"

    def add_ca(
        self,
        ca: CertificateAuthority,
        *,
        crl_next_update: datetime | None,
        crl_url: bool = True,
    ) -> None:
        """``<alias>.pem``, its ``<hash>.N`` link, ``<alias>.crl_url`` and, unless
        ``crl_next_update`` is None, the CRL in ``<hash>.rN``.
        """
        self.certificates.mkdir(parents=True, exist_ok=True)
        pem = self.certificates / f"{ca.alias}.pem"
        pem.write_bytes(ca.certificate.public_bytes(serialization.Encoding.PEM))
        index = 0
        while (self.certificates / f"{ca.hash}.{index}").is_symlink():
            index += 1
        os.symlink(pem.name, self.certificates / f"{ca.hash}.{index}")
        if crl_url:
            (self.certificates / f"{ca.alias}.crl_url").write_text(
                f"http://crl.example.org/{ca.hash}.r0\n"
            )
        if crl_next_update is not None:
            crl = ca.crl(crl_next_update)
            (self.certificates / f"{ca.hash}.r{index}").write_bytes(
                crl.public_bytes(serialization.Encoding.PEM)
            )

    def add_lsc(self, vo: str, host: str, ca: CertificateAuthority) -> None:
        directory = self.vomsdir / vo
        directory.mkdir(parents=True, exist_ok=True)
        host_dn = f"/DC=ch/DC=cern/OU=computers/CN={host}"
        ca_dn = f"/DC=ch/DC=cern/OU=computers/CN={ca.alias}"
        (directory / f"{host}.lsc").write_text(f"{host_dn}\n{ca_dn}\n")

    def add_vomses(self, vo: str, host: str) -> None:
        """One vomses file per server, as grid.cern.ch has them."""
        self.vomses.mkdir(parents=True, exist_ok=True)
        dn = f"/DC=ch/DC=cern/OU=computers/CN={host}"
        (self.vomses / f"{vo}-{host}").write_text(f'"{vo}" "{host}" "{VOMS_PORT}" "{dn}" "{vo}"\n')

    def add_setup_script(self, relative: str = SETUP_SCRIPT) -> None:
        script = self.root / relative
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text(
            "# grid WN environment\nexport X509_CERT_DIR=/etc/grid-security/certificates\n"
        )


def simulate(layout: VMLayout, mounter: Mounter, *, healthy: bool) -> list[str]:
    """Fill ``layout.grid_root`` and write ``layout.proxy``; the check_wn_middleware arguments.

    The grid root is normally the grid.cern.ch repository the cvmfs part has mounted: only
    files are written into it, so ``mounter`` is not needed.
    """
    layout.grid_root.mkdir(parents=True, exist_ok=True)
    grid = GridRoot(layout.grid_root)
    fresh = now() + 7 * 24 * HOUR
    root_ca = CertificateAuthority.create("CERN-Root-2")
    grid_ca = CertificateAuthority.create("CERN-GridCA")
    uk_ca = CertificateAuthority.create("UKeScienceCA-2B")
    grid.add_ca(root_ca, crl_next_update=fresh)
    grid.add_ca(grid_ca, crl_next_update=fresh if healthy else now() - 2 * HOUR)
    grid.add_ca(uk_ca, crl_next_update=fresh if healthy else None)
    voms_host = f"voms-{layout.vo}-auth.cern.ch"
    grid.add_lsc(layout.vo, voms_host, grid_ca)
    # unhealthy: vomses serves another VO only, so the file exists but lacks this one
    grid.add_vomses(layout.vo if healthy else "dteam", voms_host)
    grid.add_setup_script()
    write_proxy(layout.proxy, HEALTHY_PROXY_LIFETIME if healthy else -HOUR)
    return [
        "--grid-root",
        str(layout.grid_root),
        "--vo",
        layout.vo,
        "--proxy",
        str(layout.proxy),
        "--machinefeatures",
        str(layout.machinefeatures),
        "--jobfeatures",
        str(layout.jobfeatures),
        "--no-discovery",
    ]
