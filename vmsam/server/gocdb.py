"""GOCDB's downtime XML (the ``get_downtime`` method of its programmatic interface) into
the store's downtimes, its service endpoints (``get_service_endpoint``) into allow-list
lines: each endpoint's host certificate subject (``HOSTDN``) may report for its site and
space, and its sites' ``CONTACT_EMAIL`` (``get_site``) into an alerts contacts file.

Only OUTAGE downtimes are downtimes for ARGO (a WARNING one announces at-risk work and
changes nothing); the classification becomes the store's ``scheduled`` flag, and only
scheduled ones then count in A/R. The file may come from anywhere, so the parser refuses
every DTD: no entity can expand or reach outside the document.
"""

from __future__ import annotations

import shlex
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn
from xml.parsers import expat

from vmsam.server.store import Actor, DuplicateDowntime, Store
from vmsam.shared.errors import GocdbError

MAX_BYTES = 64 * 1024 * 1024
_DATE_FORMAT = "%Y-%m-%d %H:%M"


@dataclass(frozen=True)
class GocdbDowntime:
    key: str  # GOCDB's PRIMARY_KEY, or its ID
    endpoint: str
    service_type: str
    start: datetime
    end: datetime
    scheduled: bool
    description: str


@dataclass(frozen=True)
class ImportReport:
    added: int
    already: int  # the same downtime was in the store (a file imported twice)
    ignored: int  # not an OUTAGE, or empty


class _Refused(Exception):
    pass


def _refuse(*_args: object) -> NoReturn:
    raise _Refused


def _tree(data: bytes) -> ET.Element:
    """The document, built by expat with every declaration that could expand refused."""
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.UnparsedEntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(data, True)
    except _Refused:
        raise GocdbError("the XML declares a DTD or entities, which are refused") from None
    except expat.ExpatError as exc:
        raise GocdbError(f"not well-formed XML: {exc}") from None
    root: ET.Element = builder.close()
    return root


def _text(element: ET.Element, name: str) -> str | None:
    child = element.find(name)
    return None if child is None or child.text is None else child.text.strip()


def _required(element: ET.Element, name: str, where: str) -> str:
    value = _text(element, name)
    if not value:
        raise GocdbError(f"{where} has no {name}")
    return value


def _moment(element: ET.Element, edge: str, where: str) -> datetime:
    epoch = _text(element, f"{edge}_DATE")
    try:
        if epoch:
            return datetime.fromtimestamp(int(epoch), UTC)
        formatted = _required(element, f"FORMATED_{edge}_DATE", where)
        return datetime.strptime(formatted, _DATE_FORMAT).replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        raise GocdbError(f"{where} has an invalid {edge}_DATE") from None


def parse_downtimes(data: bytes) -> tuple[list[GocdbDowntime], int]:
    """The OUTAGE downtimes of a GOCDB document, and how many others were ignored."""
    root = _results(data)
    found: list[GocdbDowntime] = []
    ignored = 0
    for number, element in enumerate(root.iter("DOWNTIME"), 1):
        key = element.get("PRIMARY_KEY") or element.get("ID") or _text(element, "PRIMARY_KEY")
        where = f"downtime {key[:40]!r}" if key else f"downtime number {number}"
        severity = _required(element, "SEVERITY", where).upper()
        classification = (
            element.get("CLASSIFICATION") or _required(element, "CLASSIFICATION", where)
        ).upper()
        if classification not in ("SCHEDULED", "UNSCHEDULED"):
            raise GocdbError(f"{where} has classification {classification[:40]!r}")
        start = _moment(element, "START", where)
        end = _moment(element, "END", where)
        if severity != "OUTAGE" or end <= start:
            ignored += 1
            continue
        description = _text(element, "DESCRIPTION") or ""
        found.append(
            GocdbDowntime(
                key=key or "",
                endpoint=_required(element, "HOSTNAME", where),
                service_type=_required(element, "SERVICE_TYPE", where),
                start=start,
                end=end,
                scheduled=classification == "SCHEDULED",
                description=f"GOCDB {key}: {description}" if key else description,
            )
        )
    return found, ignored


@dataclass(frozen=True)
class GocdbEndpoint:
    host_dn: str
    site: str
    hostname: str
    service_type: str


def parse_endpoints(data: bytes) -> tuple[list[GocdbEndpoint], int]:
    """The service endpoints of a GOCDB document that name a host DN, and how many others
    did not."""
    root = _results(data)
    found: list[GocdbEndpoint] = []
    without_dn = 0
    for number, element in enumerate(root.iter("SERVICE_ENDPOINT"), 1):
        where = f"service endpoint number {number}"
        host_dn = _text(element, "HOSTDN")
        if not host_dn:
            without_dn += 1
            continue
        found.append(
            GocdbEndpoint(
                host_dn=host_dn,
                site=_required(element, "SITENAME", where),
                hostname=_required(element, "HOSTNAME", where),
                service_type=_required(element, "SERVICE_TYPE", where),
            )
        )
    return found, without_dn


def _results(data: bytes) -> ET.Element:
    """The root of a GOCDB answer, ``<results>``."""
    if len(data) > MAX_BYTES:
        raise GocdbError(f"the file is larger than {MAX_BYTES // (1024 * 1024)} MiB")
    root = _tree(data)
    if root.tag != "results":
        raise GocdbError(f"the root element is <{root.tag[:40]}>, not GOCDB's <results>")
    return root


@dataclass(frozen=True)
class GocdbSiteContact:
    site: str
    emails: tuple[str, ...]


def parse_site_contacts(data: bytes) -> list[GocdbSiteContact]:
    """Each site of a ``get_site`` document with the addresses of its ``CONTACT_EMAIL``
    (one or several, separated by commas, semicolons or spaces); sites without one are
    left out."""
    found = []
    for number, element in enumerate(_results(data).iter("SITE"), 1):
        name = _text(element, "SHORT_NAME") or element.get("NAME")
        if not name:
            raise GocdbError(f"site number {number} has neither SHORT_NAME nor NAME")
        text = _text(element, "CONTACT_EMAIL") or ""
        emails = tuple(a for a in text.replace(",", " ").replace(";", " ").split() if "@" in a)
        if emails:
            found.append(GocdbSiteContact(name, emails))
    return found


def allow_list_lines(endpoints: Iterable[GocdbEndpoint]) -> list[str]:
    """Allow-list lines (vmsam.server.trust): each host DN with the site/space pairs of its
    endpoints, in the order of the document."""
    grants: dict[str, list[str]] = {}
    for endpoint in endpoints:
        grant = f"{endpoint.site}/{endpoint.hostname}"
        if grant not in grants.setdefault(endpoint.host_dn, []):
            grants[endpoint.host_dn].append(grant)
    return [f"{_quoted(dn)}  {'  '.join(found)}" for dn, found in grants.items()]


def _quoted(subject: str) -> str:
    """A subject as the allow-list reads it: in double quotes, or shell-quoted when it
    holds a quote or a backslash itself."""
    if '"' in subject or "\\" in subject:
        return shlex.quote(subject)
    return f'"{subject}"'


def read(path: Path) -> bytes:
    """The bytes of a GOCDB file, refusing one too large to be GOCDB's."""
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_BYTES + 1)
    except OSError as exc:
        raise GocdbError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise GocdbError(f"{path} is larger than {MAX_BYTES // (1024 * 1024)} MiB")
    return data


def import_downtimes(store: Store, data: bytes, *, by: Actor | None = None) -> ImportReport:
    """Add the downtimes the store does not hold yet (same endpoint, service type, start,
    end and classification: the store refuses a duplicate), so that importing a file again
    adds nothing; each one added is in the audit log as ``by``'s. Nothing is added unless
    the whole document is valid."""
    downtimes, ignored = parse_downtimes(data)
    added = already = 0
    for downtime in downtimes:
        try:
            store.add_downtime(
                downtime.endpoint,
                downtime.service_type,
                downtime.start,
                downtime.end,
                scheduled=downtime.scheduled,
                description=downtime.description,
                by=by,
            )
        except DuplicateDowntime:
            already += 1
            continue
        except ValueError as exc:
            raise GocdbError(f"downtime {downtime.key[:40]!r}: {exc}") from None
        added += 1
    return ImportReport(added, already, ignored)
