"""The CMS SignedData of a signed message (RFC 5652): its one signer, the certificates it
carries, and the check that the signature covers the content.

``cryptography`` signs CMS but does not verify it, so this is done with its primitives on
a structure parsed by ``asn1crypto`` (pure Python; it parses lazily, so reading the few
fields used here costs little).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from asn1crypto import cms  # type: ignore[import-untyped]
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from vmsam.server.trust._smime import SmimeError

# SHA-1 is broken for signatures: a message signed with it is refused with that reason
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
_SET_TAG = b"\x31"


class SignatureMismatch(ValueError):
    """The signature does not match the content (one line)."""


@dataclass(frozen=True)
class SignerInfo:
    """What the signature check needs from the CMS structure. ``certificates``: the DER of
    the certificates it carries; ``chain_key``: bytes that identify the signer and those
    certificates, to cache what was learnt about them."""

    certificates: tuple[bytes, ...]
    issuer: bytes  # DER of the signer's issuer name, with ``serial`` (or None)
    serial: int | None
    key_id: bytes | None  # the signer's subjectKeyIdentifier, the other way to name it
    digest: str
    signed_attributes: bytes | None  # DER as a SET, as signed
    message_digest: bytes | None
    signature: bytes
    content: bytes | None  # the encapsulated content of an opaque message
    chain_key: bytes


def _native(value: Any) -> Any:
    return value.native


def read(der: bytes) -> SignerInfo:
    """The signer of a CMS SignedData; ``SmimeError`` when ``der`` is not one with exactly
    one signer."""
    try:
        return _read(der)
    except SmimeError:
        raise
    except Exception as exc:  # noqa: BLE001 - asn1crypto raises many kinds on garbage
        raise SmimeError(f"the signature is not a CMS structure ({type(exc).__name__})") from None


def _read(der: bytes) -> SignerInfo:
    info = cms.ContentInfo.load(der, strict=True)
    if _native(info["content_type"]) != "signed_data":
        raise SmimeError(f"the CMS structure is {_native(info['content_type'])}, not signed data")
    signed = info["content"]
    signers = signed["signer_infos"]
    if len(signers) != 1:
        raise SmimeError(f"the message has {len(signers)} signers, not one")
    signer = signers[0]
    digest = str(_native(signer["digest_algorithm"]["algorithm"]))
    if digest not in _HASHES:
        raise SmimeError(f"digest algorithm {digest} is not accepted")
    certificates = tuple(
        choice.chosen.dump() for choice in signed["certificates"] if choice.name == "certificate"
    )
    sid = signer["sid"]
    issuer, serial, key_id = b"", None, None
    if sid.name == "issuer_and_serial_number":
        issuer, serial = sid.chosen["issuer"].dump(), int(_native(sid.chosen["serial_number"]))
    else:
        key_id = bytes(_native(sid))
    attributes = signer["signed_attrs"]
    signed_attributes = message_digest = None
    if attributes.contents is not None and len(attributes):
        # signed as a DER SET, carried with the [0] IMPLICIT tag
        signed_attributes = _SET_TAG + attributes.dump()[1:]
        for attribute in attributes:
            if _native(attribute["type"]) == "message_digest":
                message_digest = bytes(_native(attribute["values"])[0])
        if message_digest is None:
            raise SmimeError("the signed attributes hold no message digest")
    encapsulated = signed["encap_content_info"]["content"]
    content = bytes(_native(encapsulated)) if encapsulated.contents is not None else None
    return SignerInfo(
        certificates=certificates,
        issuer=issuer,
        serial=serial,
        key_id=key_id,
        digest=digest,
        signed_attributes=signed_attributes,
        message_digest=message_digest,
        signature=bytes(_native(signer["signature"])),
        content=content,
        chain_key=sid.dump() + signed["certificates"].dump(),
    )


def _digest(algorithm: type[hashes.HashAlgorithm], data: bytes) -> bytes:
    context = hashes.Hash(algorithm())
    context.update(data)
    return context.finalize()


def check(signer: SignerInfo, public_key: Any, content: bytes) -> None:
    """``SignatureMismatch`` unless ``signer``'s signature, made with the key of
    ``public_key`` (RSA PKCS #1 v1.5 or ECDSA), covers ``content``."""
    algorithm = _HASHES[signer.digest]
    signed = content
    if signer.signed_attributes is not None:
        expected = signer.message_digest or b""
        if not hmac.compare_digest(_digest(algorithm, content), expected):
            raise SignatureMismatch("signature does not match the content")
        signed = signer.signed_attributes
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signer.signature, signed, padding.PKCS1v15(), algorithm())
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signer.signature, signed, ec.ECDSA(algorithm()))
        else:
            raise SignatureMismatch(f"signer key type {type(public_key).__name__} is not supported")
    except InvalidSignature:
        raise SignatureMismatch("signature does not match the content") from None
