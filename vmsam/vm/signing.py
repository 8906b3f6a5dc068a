"""Signing each message as APEL's SSM does: an S/MIME ``multipart/signed`` message, the
record in clear as ``text/plain`` and a detached CMS signature made with the VM's host
certificate or proxy, so that ``openssl smime -verify`` and the consumer
(``vmsam.server.trust``) can check it.

Messages are signed when they are spooled: the spool holds exactly what is sent, a
message sent later by ``vmsam send`` still carries the signature made while the VM had its
credential, and sending stays one confirmed send per message. ``cryptography`` is imported
only here, when a tested VM signs: an unsampled boot never pays for it.

Signing never stops publishing: a credential that is missing, unreadable or garbled means
unsigned messages and a note that says why (the consumer's policy decides what they are
worth).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from vmsam.shared.errors import SigningError

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    from vmsam.shared.config import Settings

__all__ = ["Credential", "Signer", "SigningError", "credential", "sign_all"]


class Credential(NamedTuple):
    """A certificate file (which may hold the chain and the key) and its key file ("" when
    the key is in the certificate file)."""

    cert: str
    key: str = ""


def credential(settings: Settings) -> Credential | None:
    """The credential ``[broker] sign_cert``/``sign_key`` name, else the broker's TLS
    client certificate, else the proxy contextualisation put into the VM."""
    broker = settings.broker
    if broker.sign_cert:
        return Credential(broker.sign_cert, broker.sign_key)
    if broker.cert:
        return Credential(broker.cert, broker.sign_key or broker.key)
    if settings.paths.proxy:
        return Credential(settings.paths.proxy, broker.sign_key)
    return None


def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as stream:
            return stream.read()
    except OSError as exc:
        raise SigningError(f"cannot read the signing {what} {path}: {exc.strerror}") from None


class Signer:
    """Signs records with one certificate and key, the rest of the certificate file sent
    along as the chain (a proxy's end-entity certificate)."""

    def __init__(
        self,
        certificate: x509.Certificate,
        key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
        chain: Sequence[x509.Certificate],
    ) -> None:
        self._certificate = certificate
        self._key = key
        self._chain = tuple(chain)

    @classmethod
    def load(cls, credential: Credential) -> Signer:
        """``SigningError`` (one line) when the files cannot be read or do not hold a
        certificate with its RSA or EC key."""
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec, rsa

        data = _read(credential.cert, "certificate")
        key_data = _read(credential.key, "key") if credential.key else data
        try:
            certificates = x509.load_pem_x509_certificates(data)
        except ValueError:
            raise SigningError(f"no PEM certificate in {credential.cert}") from None
        try:
            key = serialization.load_pem_private_key(key_data, password=None)
        except (ValueError, TypeError) as exc:
            where = credential.key or credential.cert
            raise SigningError(f"no usable private key in {where} ({exc})") from None
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise SigningError(f"the signing key is {type(key).__name__}, not RSA or EC")
        der, spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        public = key.public_key().public_bytes(der, spki)
        for certificate in certificates:
            if certificate.public_key().public_bytes(der, spki) == public:
                chain = [c for c in certificates if c is not certificate]
                return cls(certificate, key, chain)
        raise SigningError(f"no certificate in {credential.cert} matches the signing key")

    def sign(self, body: str) -> str:
        """``body`` as an S/MIME signed message (CRLF line ends, as S/MIME has them)."""
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.serialization import pkcs7

        builder = pkcs7.PKCS7SignatureBuilder().set_data(body.encode("utf-8"))
        builder = builder.add_signer(self._certificate, self._key, hashes.SHA256())
        for certificate in self._chain:
            builder = builder.add_certificate(certificate)
        options = [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Text]
        return builder.sign(serialization.Encoding.SMIME, options).decode("utf-8")


def sign_all(bodies: Sequence[str], settings: Settings) -> tuple[list[str], list[str]]:
    """``bodies`` signed as ``[broker] sign`` says, and the notes on what was not: the
    bodies as they are when no credential can be used."""
    mode = settings.broker.sign
    if mode == "no" or not bodies:
        return list(bodies), []
    found = credential(settings)
    if found is None:
        note = "messages not signed: no credential ([broker] sign_cert, cert or [paths] proxy)"
        if mode == "yes":
            note = "messages not signed although [broker] sign = yes: no credential found"
        return list(bodies), [note]
    try:
        signer = Signer.load(found)
        return [signer.sign(body) for body in bodies], []
    except SigningError as exc:
        return list(bodies), [f"messages not signed: {exc}"]
    except ValueError as exc:  # cryptography refusing the key or certificate for signing
        return list(bodies), [f"messages not signed: {found.cert}: {exc}"]
