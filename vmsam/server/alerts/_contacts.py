"""The contacts file (TOML): who hears of each site's troubles, and how often reminded."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from vmsam.server.gocdb import GocdbSiteContact
from vmsam.shared.errors import ContactsError

DEFAULT_REMINDER_MINUTES = 240
DEFAULT_SENDER = "vmsam-alerts@localhost"
_TOP_KEYS = frozenset({"sender", "reminder_minutes", "sites"})
_SITE_KEYS = frozenset({"emails", "webhooks"})


@dataclass(frozen=True)
class SiteContacts:
    emails: tuple[str, ...] = ()
    webhooks: tuple[str, ...] = ()


@dataclass(frozen=True)
class Contacts:
    sender: str = DEFAULT_SENDER
    reminder: timedelta | None = timedelta(minutes=DEFAULT_REMINDER_MINUTES)
    """None: no reminders (``reminder_minutes = 0``)."""
    sites: dict[str, SiteContacts] = field(default_factory=dict)

    def of(self, site: str) -> SiteContacts:
        return self.sites.get(site, SiteContacts())


def load_contacts(path: Path) -> Contacts:
    """Read and check the contacts file; ContactsError names the file and what is wrong."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ContactsError(path, exc.strerror or str(exc)) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ContactsError(path, f"not TOML: {exc}") from None
    return _contacts(path, document)


def _contacts(path: Path, document: dict[str, Any]) -> Contacts:
    _only(path, document, _TOP_KEYS, "the file")
    sender = document.get("sender", DEFAULT_SENDER)
    if not isinstance(sender, str) or "@" not in sender:
        raise ContactsError(path, f"sender must be an e-mail address, not {sender!r:.80}")
    minutes = document.get("reminder_minutes", DEFAULT_REMINDER_MINUTES)
    if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes < 0:
        raise ContactsError(path, f"reminder_minutes must be an integer >= 0, not {minutes!r:.80}")
    sites = document.get("sites", {})
    if not isinstance(sites, dict):
        raise ContactsError(path, "sites must be a table of sites")
    return Contacts(
        sender=sender,
        reminder=timedelta(minutes=minutes) if minutes else None,
        sites={name: _site(path, name, entry) for name, entry in sites.items()},
    )


def _site(path: Path, name: str, entry: object) -> SiteContacts:
    where = f"site {name!r:.80}"
    if not isinstance(entry, dict):
        raise ContactsError(path, f"{where} must be a table")
    _only(path, entry, _SITE_KEYS, where)
    emails = _strings(path, entry, "emails", where)
    for address in emails:
        if "@" not in address or any(c.isspace() for c in address):
            raise ContactsError(path, f"{where}: not an e-mail address: {address!r:.80}")
    webhooks = _strings(path, entry, "webhooks", where)
    for url in webhooks:
        if not url.startswith(("http://", "https://")):
            raise ContactsError(path, f"{where}: a webhook must be an http(s) URL: {url!r:.80}")
    return SiteContacts(emails, webhooks)


def _strings(path: Path, entry: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    values = entry.get(key, [])
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ContactsError(path, f"{where}: {key} must be a list of strings")
    return tuple(values)


def _only(path: Path, table: dict[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ContactsError(path, f"{where}: unknown key {unknown[0]!r:.80}")


def contacts_toml(sites: Iterable[GocdbSiteContact]) -> str:
    """A contacts file of GOCDB's sites and their contact addresses, to add webhooks to."""
    # a JSON string is a TOML basic string: every escape JSON writes is one TOML reads
    lines = [f"reminder_minutes = {DEFAULT_REMINDER_MINUTES}"]
    for site in sites:
        emails = ", ".join(json.dumps(address) for address in site.emails)
        lines += ["", f"[sites.{json.dumps(site.site)}]", f"emails = [{emails}]", "webhooks = []"]
    return "\n".join(lines) + "\n"
