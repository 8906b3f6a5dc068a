"""The allow-list: which certificate subject may report for which sites and spaces.

A text file the monitoring team edits, one subject per line, then the sites it may report
for, each optionally with one space (``hostName``)::

    # comments and blank lines are ignored
    "/DC=ch/DC=cern/OU=computers/CN=vac01.example.org"  UKI-SITE/vac01.example.org
    "CN=factory.example.org,O=Example,C=UK"  UKI-SITE  UKI-OTHER/vac02.example.org

The subject is quoted (names hold spaces), in OpenSSL's one-line form (``/DC=ch/...``) or in
RFC 4514's (``CN=...,DC=ch``, most specific first); both are compared in one normal form.
A proxy signs for the certificate it was made from: that certificate's subject is the one
to list. The file is read again when it changes, without a restart; a change that cannot
be read keeps the list as it was (and says so in the log).
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from vmsam.server.trust._chain import one_line

log = logging.getLogger("vmsam.consume")

RECHECK_SECONDS = 1.0
_SLASH_PART = re.compile(r"/(?=[A-Za-z][A-Za-z0-9.-]*=)")
_LABELS = {
    label.lower(): label
    for label in ("C", "ST", "L", "O", "OU", "CN", "DC", "UID", "emailAddress", "serialNumber")
}
_LABELS |= {"e": "emailAddress", "email": "emailAddress", "userid": "UID"}


class AllowListError(ValueError):
    """The allow-list file cannot be used (one line, naming the file and line)."""


def normal_subject(text: str) -> str:
    """A subject in OpenSSL's one-line form with OpenSSL's labels, from either form;
    ``ValueError`` when it is neither."""
    text = text.strip()
    if text.startswith("/"):
        parts = []
        for part in _SLASH_PART.split(text[1:]):
            label, equals, value = part.partition("=")
            if not equals or not label:
                raise ValueError(f"not a name part: {part!r}")
            parts.append(f"{_LABELS.get(label.lower(), label)}={value}")
        return "/" + "/".join(parts)
    name = x509.Name.from_rfc4514_string(text)
    if not len(name):
        raise ValueError("empty name")
    return one_line(name)


@dataclass(frozen=True)
class Grant:
    site: str
    space: str | None  # None: any space of the site


def _parse(text: str, source: str) -> dict[str, tuple[Grant, ...]]:
    grants: dict[str, list[Grant]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            words = shlex.split(line, comments=True)
        except ValueError as exc:
            raise AllowListError(f"{source}:{number}: {exc}") from None
        if len(words) < 2:
            raise AllowListError(f"{source}:{number}: expected a quoted subject and its sites")
        try:
            subject = normal_subject(words[0])
        except ValueError as exc:
            raise AllowListError(
                f"{source}:{number}: {words[0]!r} is not a subject ({exc})"
            ) from None
        for word in words[1:]:
            site, slash, space = word.partition("/")
            if not site or (slash and not space):
                raise AllowListError(f"{source}:{number}: {word!r} is not site or site/space")
            grants.setdefault(subject, []).append(Grant(site, space or None))
    return {subject: tuple(found) for subject, found in grants.items()}


class AllowList:
    """The allow-list file, read again when its modification time or size changes."""

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)
        self._stamp = self._stat()
        self._grants = self._read()
        self._checked = time.monotonic()

    def _stat(self) -> tuple[int, int]:
        try:
            stat = os.stat(self._path)
        except OSError as exc:
            raise AllowListError(
                f"cannot read the allow-list {self._path}: {exc.strerror}"
            ) from None
        return stat.st_mtime_ns, stat.st_size

    def _read(self) -> dict[str, tuple[Grant, ...]]:
        try:
            text = self._path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise AllowListError(f"cannot read the allow-list {self._path}: {reason}") from None
        return _parse(text, str(self._path))

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._checked < RECHECK_SECONDS:
            return
        self._checked = now
        try:
            stamp = self._stat()
            if stamp != self._stamp:
                self._stamp = stamp  # a file that cannot be read is said once, not each second
                self._grants = self._read()
                log.info("allow-list read again", extra={"fields": {"path": str(self._path)}})
        except AllowListError as exc:
            log.warning("allow-list kept as it was", extra={"fields": {"error": str(exc)}})

    def problem(self, signer: str, site: str, space: str) -> str | None:
        """Why ``signer`` may not report for ``space`` of ``site``, or None."""
        self._refresh()
        grants = self._grants.get(signer)
        if grants is None:
            return f"signer {signer} is not in the allow-list"
        if any(g.site == site and g.space in (None, space) for g in grants):
            return None
        if any(g.site == site for g in grants):
            return f"signer {signer} not allowed to report for space {space} of site {site}"
        return f"signer {signer} not allowed to report for site {site}"
