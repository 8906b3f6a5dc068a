"""The CMS SignedData of a signed message (RFC 5652): its one signer, the certificates it
carries, and the check that the signature covers the content.

``cryptography`` signs CMS but does not verify it, so this is done with its primitives on
the few fields read here by a small DER reader of our own: an ASN.1 library builds an
object per field and cost 0.4 ms per message, fifteen times the signature check itself.
Definite lengths only, as DER has them (``openssl smime -sign`` and ``cryptography`` write
DER; a BER indefinite length is refused with that reason).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from vmsam.server.trust._smime import SmimeError

_SEQUENCE, _SET, _INTEGER, _OCTETS, _OID = 0x30, 0x31, 0x02, 0x04, 0x06
_CONTEXT_0, _CONTEXT_1, _KEY_ID = 0xA0, 0xA1, 0x80
# OIDs by their DER contents
_SIGNED_DATA = bytes.fromhex("2a864886f70d010702")  # 1.2.840.113549.1.7.2
_MESSAGE_DIGEST = bytes.fromhex("2a864886f70d010904")  # 1.2.840.113549.1.9.4
# SHA-1 is broken for signatures: a message signed with it is refused with that reason
_HASHES: dict[bytes, type[hashes.HashAlgorithm]] = {
    bytes.fromhex("608648016503040201"): hashes.SHA256,
    bytes.fromhex("608648016503040202"): hashes.SHA384,
    bytes.fromhex("608648016503040203"): hashes.SHA512,
    bytes.fromhex("608648016503040204"): hashes.SHA224,
}


class SignatureMismatch(ValueError):
    """The signature does not match the content (one line)."""


class _Field(NamedTuple):
    tag: int
    start: int  # of the whole field
    value: int  # where its contents start
    end: int


def _field(data: bytes, offset: int, end: int) -> _Field:
    if offset + 2 > end:
        raise SmimeError("the CMS structure is cut short")
    tag, length = data[offset], data[offset + 1]
    if tag & 0x1F == 0x1F:
        raise SmimeError("the CMS structure has a tag this reader does not know")
    value = offset + 2
    if length & 0x80:
        size = length & 0x7F
        if size == 0:
            raise SmimeError("the CMS structure is BER with an indefinite length, not DER")
        if size > 4 or value + size > end:
            raise SmimeError("the CMS structure has an impossible length")
        length = int.from_bytes(data[value : value + size], "big")
        value += size
    if value + length > end:
        raise SmimeError("the CMS structure is cut short")
    return _Field(tag, offset, value, value + length)


def _children(data: bytes, parent: _Field) -> list[_Field]:
    found = []
    offset = parent.value
    while offset < parent.end:
        child = _field(data, offset, parent.end)
        found.append(child)
        offset = child.end
    return found


def _expect(field: _Field, tag: int, what: str) -> _Field:
    if field.tag != tag:
        raise SmimeError(f"the CMS structure has no {what} where it should")
    return field


def _oid_text(contents: bytes) -> str:
    """A DER OID in dotted form, for a reason."""
    if not contents:
        return "(empty OID)"
    numbers = [contents[0] // 40, contents[0] % 40]
    value = 0
    for byte in contents[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            numbers.append(value)
            value = 0
    return ".".join(map(str, numbers))


@dataclass(frozen=True)
class SignerInfo:
    """What the signature check needs from the CMS structure. ``certificates``: the DER of
    the certificates it carries; ``chain_key``: bytes that identify the signer and those
    certificates, to cache what was learnt about them."""

    certificates: tuple[bytes, ...]
    issuer: bytes  # DER of the signer's issuer name, with ``serial`` (or None)
    serial: int | None
    key_id: bytes | None  # the signer's subjectKeyIdentifier, the other way to name it
    digest: type[hashes.HashAlgorithm]
    signed_attributes: bytes | None  # DER as a SET, as signed
    message_digest: bytes | None
    signature: bytes
    content: bytes | None  # the encapsulated content of an opaque message
    chain_key: bytes


def read(der: bytes) -> SignerInfo:
    """The signer of a CMS SignedData; ``SmimeError`` when ``der`` is not one with exactly
    one signer."""
    try:
        return _read(der)
    except SmimeError:
        raise
    except (IndexError, ValueError):  # a field missing from a sequence, an empty one
        raise SmimeError("the signature is not a well-formed CMS structure") from None


def _read(der: bytes) -> SignerInfo:
    info = _field(der, 0, len(der))
    if info.tag != _SEQUENCE or info.end != len(der):
        raise SmimeError("the signature is not a CMS structure")
    top = _children(der, info)
    if not top or top[0].tag != _OID or der[top[0].value : top[0].end] != _SIGNED_DATA:
        raise SmimeError("the CMS structure is not signed data")
    wrapped = _expect(top[1], _CONTEXT_0, "signed data")
    signed = _expect(_field(der, wrapped.value, wrapped.end), _SEQUENCE, "signed data")
    parts = _children(der, signed)
    if len(parts) < 4:
        raise SmimeError("the signed data is incomplete")
    encapsulated = _expect(parts[2], _SEQUENCE, "encapsulated content")
    certificates: tuple[bytes, ...] = ()
    certificate_bytes = b""
    rest = parts[3:]
    if rest[0].tag == _CONTEXT_0:
        certificate_bytes = der[rest[0].start : rest[0].end]
        certificates = tuple(
            der[c.start : c.end] for c in _children(der, rest[0]) if c.tag == _SEQUENCE
        )
        rest = rest[1:]
    if rest and rest[0].tag == _CONTEXT_1:  # CRLs carried along: not used
        rest = rest[1:]
    if len(rest) != 1 or rest[0].tag != _SET:
        raise SmimeError("the signed data has no signer infos")
    signers = _children(der, rest[0])
    if len(signers) != 1:
        raise SmimeError(f"the message has {len(signers)} signers, not one")
    return _signer(der, signers[0], certificates, certificate_bytes, _content(der, encapsulated))


def _content(der: bytes, encapsulated: _Field) -> bytes | None:
    parts = _children(der, encapsulated)
    if len(parts) < 2:
        return None  # detached
    explicit = _expect(parts[1], _CONTEXT_0, "content")
    octets = _field(der, explicit.value, explicit.end)
    if octets.tag != _OCTETS:
        raise SmimeError("the encapsulated content is not one OCTET STRING (BER?)")
    return der[octets.value : octets.end]


def _signer(
    der: bytes,
    signer: _Field,
    certificates: tuple[bytes, ...],
    certificate_bytes: bytes,
    content: bytes | None,
) -> SignerInfo:
    parts = _children(der, _expect(signer, _SEQUENCE, "signer info"))
    if len(parts) < 5:
        raise SmimeError("the signer info is incomplete")
    sid, digest_algorithm = parts[1], parts[2]
    issuer, serial, key_id = b"", None, None
    if sid.tag == _SEQUENCE:
        name, number = _children(der, sid)[:2]
        issuer = der[name.start : name.end]
        serial = int.from_bytes(der[number.value : number.end], "big", signed=True)
    elif sid.tag == _KEY_ID:
        key_id = der[sid.value : sid.end]
    else:
        raise SmimeError("the signer info names its signer in an unknown way")
    algorithm = _expect(_children(der, digest_algorithm)[0], _OID, "digest algorithm")
    digest_oid = der[algorithm.value : algorithm.end]
    if digest_oid not in _HASHES:
        raise SmimeError(f"digest algorithm {_oid_text(digest_oid)} is not accepted")
    signed_attributes = message_digest = None
    position = 3
    if parts[3].tag == _CONTEXT_0:
        attributes = parts[3]
        # signed as a DER SET, carried with the [0] IMPLICIT tag
        signed_attributes = bytes([_SET]) + der[attributes.start + 1 : attributes.end]
        message_digest = _message_digest(der, attributes)
        position = 4
    if len(parts) < position + 2:
        raise SmimeError("the signer info has no signature")
    signature = _expect(parts[position + 1], _OCTETS, "signature")
    return SignerInfo(
        certificates=certificates,
        issuer=issuer,
        serial=serial,
        key_id=key_id,
        digest=_HASHES[digest_oid],
        signed_attributes=signed_attributes,
        message_digest=message_digest,
        signature=der[signature.value : signature.end],
        content=content,
        chain_key=der[sid.start : sid.end] + certificate_bytes,
    )


def _message_digest(der: bytes, attributes: _Field) -> bytes:
    for attribute in _children(der, attributes):
        kind, values = _children(der, attribute)[:2]
        if der[kind.value : kind.end] == _MESSAGE_DIGEST:
            value = _children(der, values)[0]
            if value.tag == _OCTETS:
                return der[value.value : value.end]
    raise SmimeError("the signed attributes hold no message digest")


def _digest(algorithm: type[hashes.HashAlgorithm], data: bytes) -> bytes:
    context = hashes.Hash(algorithm())
    context.update(data)
    return context.finalize()


def check(signer: SignerInfo, public_key: CertificatePublicKeyTypes, content: bytes) -> None:
    """``SignatureMismatch`` unless ``signer``'s signature, made with the key of
    ``public_key`` (RSA PKCS #1 v1.5 or ECDSA), covers ``content``."""
    algorithm = signer.digest
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
