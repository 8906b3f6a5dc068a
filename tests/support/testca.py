"""A test CA made in the test with ``cryptography``: host certificates, an expired one, a
revoked one with the CA's CRL, an RFC 3820 proxy, and a CA directory in the IGTF layout
(``<alias>.pem``, ``<hash>.0`` linked to it, ``<hash>.r0`` CRLs; the hash is OpenSSL's)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from vmsam.demo.simulate.grid import INHERIT_ALL, PROXY_CERT_INFO, subject_hash

Key = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def grid_name(*common_names: str, organisation: str = "vmsam test") -> x509.Name:
    attributes = [
        x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "org"),
        x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "example"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
    ]
    attributes += [x509.NameAttribute(NameOID.COMMON_NAME, cn) for cn in common_names]
    return x509.Name(attributes)


def pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def key_pem(key: Key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@dataclass
class Credential:
    """A certificate, its key and the certificates it needs to reach its CA."""

    certificate: x509.Certificate
    key: Key
    chain: list[x509.Certificate] = field(default_factory=list)

    @property
    def subject(self) -> x509.Name:
        return self.certificate.subject

    def write(self, path: Path) -> Path:
        """One PEM file, as a proxy file is: the certificate, its key, then the chain."""
        path.write_bytes(
            pem(self.certificate) + key_pem(self.key) + b"".join(pem(other) for other in self.chain)
        )
        return path


class TestCA:
    __test__ = False  # not a test class for pytest

    def __init__(self, name: str = "vmsam Test CA", *, ec_keys: bool = False) -> None:
        self.ec_keys = ec_keys
        self.key = self._new_key()
        self.name = grid_name(name)
        now = datetime.now(UTC)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(self.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=30))
            .not_valid_after(now + timedelta(days=3650))
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
            .sign(self.key, hashes.SHA256())
        )
        self.revoked: list[int] = []

    def _new_key(self) -> Key:
        if self.ec_keys:
            return ec.generate_private_key(ec.SECP256R1())
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def host(
        self,
        hostname: str,
        *,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> Credential:
        """A host certificate ``/DC=org/DC=example/O=vmsam test/CN=<hostname>``."""
        now = datetime.now(UTC)
        key = self._new_key()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(grid_name(hostname))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - timedelta(days=1))
            .not_valid_after(not_after or now + timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return Credential(certificate, key)

    def proxy(self, of: Credential, *, hours: float = 12) -> Credential:
        """An RFC 3820 proxy of ``of``: subject ``of``'s plus ``CN=<serial>``, signed by
        ``of``'s key, with ``of``'s certificate as its chain (as a proxy file holds it)."""
        now = datetime.now(UTC)
        key = self._new_key()
        serial = x509.random_serial_number()
        subject = x509.Name(
            [
                *of.subject.rdns,
                x509.RelativeDistinguishedName(
                    [x509.NameAttribute(NameOID.COMMON_NAME, str(serial))]
                ),
            ]
        )
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(of.subject)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(hours=hours))
            .add_extension(x509.UnrecognizedExtension(PROXY_CERT_INFO, INHERIT_ALL), critical=True)
            .sign(of.key, hashes.SHA256())
        )
        return Credential(certificate, key, [of.certificate, *of.chain])

    def revoke(self, credential: Credential) -> None:
        self.revoked.append(credential.certificate.serial_number)

    def crl(self) -> x509.CertificateRevocationList:
        now = datetime.now(UTC)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.name)
            .last_update(now - timedelta(hours=1))
            .next_update(now + timedelta(days=7))
        )
        for serial in self.revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(now - timedelta(minutes=30))
                .build()
            )
        return builder.sign(self.key, hashes.SHA256())

    def install(self, directory: Path, alias: str = "vmsam-test-ca") -> Path:
        """The CA (and its CRL) in ``directory`` as an IGTF trust store has it."""
        directory.mkdir(parents=True, exist_ok=True)
        certificate = directory / f"{alias}.pem"
        certificate.write_bytes(pem(self.certificate))
        digest = subject_hash(self.certificate.subject)
        link = directory / f"{digest}.0"
        link.unlink(missing_ok=True)
        link.symlink_to(certificate.name)
        if self.revoked:
            crl = self.crl().public_bytes(serialization.Encoding.PEM)
            (directory / f"{digest}.r0").write_bytes(crl)
        return directory


def one_line(name: x509.Name) -> str:
    """``/DC=org/DC=example/O=vmsam test/CN=host``, written out here on its own (not with
    the code under test)."""
    labels = {
        NameOID.DOMAIN_COMPONENT: "DC",
        NameOID.ORGANIZATION_NAME: "O",
        NameOID.COMMON_NAME: "CN",
    }
    return "".join(f"/{labels[a.oid]}={a.value}" for a in name)
