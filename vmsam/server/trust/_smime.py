"""S/MIME framing of a signed message (RFC 8551), as APEL's SSM and ``openssl smime -sign``
write it: ``multipart/signed`` (the content in clear, the CMS signature detached in the
second part) or opaque ``application/pkcs7-mime`` (the content inside the CMS structure).

Parsed by hand rather than with ``email``: a signed part must be taken byte for byte, and
this costs a few microseconds per message where the ``email`` parser costs a hundred.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass

from vmsam.shared.messages import MAX_MESSAGE_BYTES

# the certificates and the signature around a record: a proxy chain of four is about 6 KB
MAX_SIGNED_BYTES = MAX_MESSAGE_BYTES + 64 * 1024
_STARTS = (b"mime-version:", b"content-type:")
_PARAMETER = re.compile(r';\s*([A-Za-z-]+)\s*=\s*(?:"([^"]*)"|([^\s;]+))')
_SIGNATURE_TYPES = ("application/pkcs7-signature", "application/x-pkcs7-signature")
_OPAQUE_TYPES = ("application/pkcs7-mime", "application/x-pkcs7-mime")
_PLAIN_ENCODINGS = ("", "7bit", "8bit", "binary")


class SmimeError(ValueError):
    """Why a body is not a signed message that can be checked: one line."""


@dataclass(frozen=True)
class Signed:
    """A signed message taken apart. ``entity``: the signed MIME entity of a
    ``multipart/signed`` message in canonical form (CRLF), None when the content is inside
    ``cms`` (opaque); ``cms``: the DER of the CMS ContentInfo."""

    entity: bytes | None
    cms: bytes


def looks_signed(body: bytes) -> bool:
    """Whether ``body`` is a MIME message rather than a WLCG record (whose keys never
    begin so): the cheap test that keeps unsigned records on their old path."""
    return body[:13].lower().startswith(_STARTS)


def canonical(data: bytes) -> bytes:
    """CRLF line ends, as the signer signed them (a broker or a file may have kept LFs)."""
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _headers(block: bytes) -> dict[str, str]:
    """The header fields of a header block (CRLF lines, folded lines unfolded), names in
    lower case."""
    fields: dict[str, str] = {}
    name = ""
    for line in block.decode("utf-8", "replace").split("\r\n"):
        if line[:1] in (" ", "\t") and name:
            fields[name] += " " + line.strip()
            continue
        key, colon, value = line.partition(":")
        if not colon:
            raise SmimeError(f"not a MIME header line: {line[:60]!r}")
        name = key.strip().lower()
        fields.setdefault(name, value.strip())
    return fields


def _split_entity(entity: bytes) -> tuple[dict[str, str], bytes]:
    """(headers, body) of a MIME entity."""
    block, separator, body = entity.partition(b"\r\n\r\n")
    if not separator:
        if entity.endswith(b"\r\n"):  # headers only, the body empty
            return _headers(entity[:-2]), b""
        raise SmimeError("a MIME part has no blank line after its headers")
    return _headers(block), body


def _media_type(fields: dict[str, str]) -> tuple[str, dict[str, str]]:
    value = fields.get("content-type", "text/plain")
    media = value.split(";", 1)[0].strip().lower()
    parameters = {
        m[1].lower(): m[2] if m[2] is not None else m[3] for m in _PARAMETER.finditer(value)
    }
    return media, parameters


def _base64(body: bytes, what: str) -> bytes:
    try:
        data = binascii.a2b_base64(body)
    except binascii.Error as exc:
        raise SmimeError(f"{what} is not valid base64 ({exc})") from None
    if not data:
        raise SmimeError(f"{what} is empty")
    return data


def parse(body: bytes) -> Signed:
    """The parts of a signed message; ``SmimeError`` when ``body`` is not one."""
    if len(body) > MAX_SIGNED_BYTES:
        raise SmimeError(
            f"signed message of {len(body)} bytes is over the {MAX_SIGNED_BYTES} limit"
        )
    fields, content = _split_entity(canonical(body))
    media, parameters = _media_type(fields)
    if media in _OPAQUE_TYPES:
        return Signed(None, _base64(content, "the pkcs7-mime body"))
    if media != "multipart/signed":
        raise SmimeError(f"not a signed message (Content-Type {media!r})")
    boundary = parameters.get("boundary", "")
    if not boundary:
        raise SmimeError("multipart/signed without a boundary")
    # the CRLF before a delimiter belongs to it (RFC 2046); the first may open the body
    parts = (b"\r\n" + content).split(b"\r\n--" + boundary.encode("utf-8", "replace"))
    if len(parts) < 4 or not parts[3].startswith(b"--"):
        raise SmimeError("multipart/signed does not hold exactly two parts")
    entity, signature = (part.partition(b"\r\n")[2] for part in parts[1:3])
    signature_fields, signature_body = _split_entity(signature)
    signature_type, _ = _media_type(signature_fields)
    if signature_type not in _SIGNATURE_TYPES:
        raise SmimeError(f"the second part is {signature_type!r}, not a pkcs7-signature")
    return Signed(entity, _base64(signature_body, "the signature part"))


def content_of(entity: bytes) -> bytes:
    """The record a signed MIME entity holds, with LF line ends: ``openssl smime -sign
    -text`` and our signer put a ``Content-Type: text/plain`` header before it; an entity
    without headers is the record itself (WLCG keys never begin with ``Content-``)."""
    if entity[:8].lower() == b"content-":
        fields, entity = _split_entity(entity)
        media, _ = _media_type(fields)
        encoding = fields.get("content-transfer-encoding", "").lower()
        if media != "text/plain" or encoding not in _PLAIN_ENCODINGS:
            raise SmimeError(f"signed content is {media} {encoding}, not plain text".rstrip())
    return entity.replace(b"\r\n", b"\n")
