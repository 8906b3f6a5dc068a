"""X.509 names as grid tools print and compare them."""

from __future__ import annotations

from cryptography import x509

NameKey = tuple[tuple[tuple[str, str | bytes], ...], ...]


def grid_dn(name: x509.Name) -> str:
    """A name the way grid tools print it: ``/DC=ch/DC=cern/CN=...``."""
    return "".join(
        f"/{attribute.rfc4514_attribute_name}={attribute.value!s}"
        for rdn in name.rdns
        for attribute in rdn
    )


def name_key(name: x509.Name) -> NameKey:
    """A name to compare CRL issuers with CA subjects, case and spacing ignored as OpenSSL does."""
    return tuple(
        tuple(sorted((a.oid.dotted_string, _fold(a.value)) for a in rdn)) for rdn in name.rdns
    )


def _fold(value: str | bytes) -> str | bytes:
    return " ".join(value.split()).lower() if isinstance(value, str) else value
