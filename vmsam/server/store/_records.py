"""What goes into the store and what comes out: plain frozen dataclasses, no ORM objects."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

from vmsam.server.store._models import MAX_KEY_BYTES
from vmsam.shared.errors import MessageError
from vmsam.shared.frozen import assembled
from vmsam.shared.messages import MetricResult, decode, format_timestamp

# ARGO drops results older than this or further ahead than that (docs/messages.md)
WINDOW_PAST = timedelta(days=3)
WINDOW_FUTURE = timedelta(days=1)

# worst wins when results are ANDed (the AND table of docs/availability.md, on result states)
SEVERITY = {"OK": 0, "WARNING": 1, "UNKNOWN": 2, "CRITICAL": 3}


def _now() -> datetime:
    return datetime.now(UTC)


def storable(text: str) -> bool:
    """Whether both databases can hold ``text``: no NUL, no lone surrogate."""
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def storage_problem(result: MetricResult) -> str | None:
    """Why a decoded result cannot be stored as it is, or None.

    The decoder accepts both, but PostgreSQL stores no NUL character in text and no key
    value longer than an index entry allows: such a result would fail every retry. It runs
    on every result the consumer takes (in ``Received.parse``; the writer checks again
    only results that did not come that way), so the common case costs a few C-level
    checks.
    """
    # the decoder checks these; a result built in code may not have been through it
    if result.status not in SEVERITY:
        return f"metricStatus {result.status[:40]!r} is not one of {', '.join(SEVERITY)}"
    vo = result.vo
    if not vo:
        return "no voName and no org.<vo>. in the metric name"
    keys = (
        ("hostName", result.host_name),
        ("serviceType", result.service_type),
        ("siteName", result.site_name),
        ("metricName", result.metric_name),
        ("gatheredAt", result.gathered_at),
        ("vmUUID", result.vm_uuid or ""),
        ("voName", vo),
    )
    for name, value in keys:
        # UTF-8 spends at most 4 bytes on a character: only a long value needs encoding
        # (surrogatepass: a lone surrogate is refused below with its own reason, not raised)
        long = len(value) * 4 > MAX_KEY_BYTES
        if long and len(value.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
            return f"{name} is longer than {MAX_KEY_BYTES} bytes"
    text = "".join(
        (
            *(value for _, value in keys),
            result.summary,
            result.details,
            result.vm_machinetype or "",
            result.perf_data or "",
            result.probe_duration or "",
        )
    )
    if "\x00" in text:
        return "the record contains a NUL character"
    if not storable(text):
        return "the record contains text that is not valid Unicode (a lone surrogate)"
    return None


def window_problem(timestamp: datetime, now: datetime) -> str | None:
    """Why ARGO would drop a result of this time, or None."""
    if timestamp < now - WINDOW_PAST:
        return f"timestamp {format_timestamp(timestamp)} is more than 3 days in the past"
    if timestamp > now + WINDOW_FUTURE:
        return f"timestamp {format_timestamp(timestamp)} is more than 1 day in the future"
    return None


def encode_text(text: str) -> bytes:
    """The bytes of a body that arrived as text. A str decoded with surrogateescape gives its
    original bytes back; any other lone surrogate gives bytes that are not UTF-8, which the
    decoder then rejects with its reason."""
    try:
        return text.encode("utf-8", errors="surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", errors="surrogatepass")


@dataclass(frozen=True)
class Received:
    """One message as a consumer received it or a file held it: exactly one of ``result``
    (valid) and ``error`` (the reason it goes to the dead letters)."""

    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    received_at: datetime = field(default_factory=_now)
    result: MetricResult | None = None
    error: str | None = None
    # how the message was signed (vmsam.server.trust): "verified", "unsigned" (flagged) or
    # None (not checked), and the verified signer's subject
    signature: str | None = None
    signer: str | None = None
    # ``result`` passed storage_problem (in ``parse``): the writer need not check it again
    checked: bool = field(default=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if (self.result is None) == (self.error is None):
            raise ValueError("a Received holds exactly one of result and error")

    @classmethod
    def parse(
        cls,
        body: str | bytes,
        headers: Mapping[str, str] | None = None,
        *,
        window: bool = True,
        now: datetime | None = None,
    ) -> Received:
        """Decode and validate ``body``; with ``window``, ARGO's age window applies too."""
        moment = now or _now()
        data = body if isinstance(body, bytes) else encode_text(body)
        # the headers as given, not copied: a consumer's are read only for one message in
        # a batch (its ack id) and for dead letters, and may be parsed only then
        kept = headers if headers is not None else {}
        try:
            result = decode(data)
        except MessageError as exc:
            return cls(data, kept, moment, error=str(exc))
        problem = storage_problem(result)
        if problem is None and window:
            problem = window_problem(result.timestamp, moment)
        if problem is not None:
            return cls(data, kept, moment, error=problem)
        # without the frozen __init__ (vmsam.shared.frozen): 4 % of a receive, callgrind
        return assembled(
            cls,
            {
                "body": data,
                "headers": kept,
                "received_at": moment,
                "result": result,
                "error": None,
                "signature": None,
                "signer": None,
                "checked": True,
            },
        )


@dataclass
class SaveReport:
    stored: int = 0
    duplicates: int = 0
    dead_letters: int = 0

    def add(self, other: SaveReport) -> None:
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.dead_letters += other.dead_letters


@dataclass(frozen=True)
class StoredResult:
    """A stored result in the shape of the results API (``GET /api/v1/results``)."""

    site: str
    endpoint: str
    service_type: str
    metric: str
    vo: str
    status: str
    timestamp: datetime
    summary: str
    details: str
    vm_uuid: str
    machinetype: str
    gathered_at: str
    signature: str | None = None
    signer: str | None = None


@dataclass(frozen=True)
class DeadLetter:
    received_at: datetime
    reason: str
    body: str  # undecodable bytes escaped with backslashreplace
    headers: dict[str, str]


@dataclass(frozen=True)
class Downtime:
    id: int
    endpoint: str
    service_type: str
    start: datetime
    end: datetime
    scheduled: bool
    description: str

    def as_json(self) -> dict[str, Any]:
        """As the API and ``vmsam downtime list --json`` give it, and the audit log keeps it."""
        return {
            "id": self.id,
            "endpoint": self.endpoint,
            "service_type": self.service_type,
            "start": format_timestamp(self.start),
            "end": format_timestamp(self.end),
            "scheduled": self.scheduled,
            "description": self.description,
        }

    def same_period(self, other: Downtime) -> bool:
        """Whether ``other`` is this downtime again (its description aside): it would count
        the same in every A/R figure."""
        return (self.endpoint, self.service_type, self.start, self.end, self.scheduled) == (
            other.endpoint,
            other.service_type,
            other.start,
            other.end,
            other.scheduled,
        )


# the states of a recomputation: a person asks (pending), another decides (applied or
# rejected), and a pending or applied one may be withdrawn (revoked); only applied ones
# change A/R figures
RECOMPUTATION_STATES = ("pending", "applied", "rejected", "revoked")


@dataclass(frozen=True)
class Recomputation:
    """A period in which monitoring itself failed, for ``vo``: while applied, the results
    of ``metrics`` (every one when empty) of ``sites`` (every site when empty) inside
    [start, end) count as UNKNOWN, as ARGO's EXCLUDED (docs/availability.md)."""

    id: int
    vo: str
    reason: str
    requester: str
    requester_email: str | None
    start: datetime
    end: datetime
    sites: tuple[str, ...]
    metrics: tuple[str, ...]
    state: str
    source: str  # "person", or the candidate source it was accepted from ("broker-outage")
    created_at: datetime
    decided_at: datetime | None = None
    decided_by: str | None = None

    def covers_site(self, sites: Collection[str]) -> bool:
        """Whether it applies to a space counted in one of ``sites``."""
        return not self.sites or any(site in sites for site in self.sites)

    def as_json(self) -> dict[str, Any]:
        """As the API and ``vmsam recompute list --json`` give it, and the audit log keeps it."""
        return {
            "id": self.id,
            "vo": self.vo,
            "reason": self.reason,
            "requester": self.requester,
            "requester_email": self.requester_email,
            "start": format_timestamp(self.start),
            "end": format_timestamp(self.end),
            "sites": list(self.sites),
            "metrics": list(self.metrics),
            "state": self.state,
            "source": self.source,
            "created_at": format_timestamp(self.created_at),
            "decided_at": format_timestamp(self.decided_at) if self.decided_at else None,
            "decided_by": self.decided_by,
        }


@dataclass(frozen=True)
class Actor:
    """Who makes a change, as the audit log names them (a token's name or fingerprint, a
    local user of the CLI: never a secret), and from where (a client address, a host)."""

    name: str
    client: str


@dataclass(frozen=True)
class AuditEntry:
    """One change: ``before`` is None for a creation, ``after`` for a removal."""

    id: int
    at: datetime
    actor: str
    client: str
    action: str  # create, update or delete
    kind: str  # what was changed: "downtime"
    object_id: int
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@dataclass(frozen=True)
class MetricStatus:
    """The newest result of one metric of an endpoint: its status and its age."""

    metric: str
    status: str
    timestamp: datetime


@dataclass(frozen=True)
class EndpointStatus:
    """An endpoint (space) of a site for one VO; ``status`` ANDs the newest result of each
    metric (worst wins)."""

    endpoint: str
    service_type: str
    vo: str
    first_seen: datetime
    status: str
    last_result: datetime
    metrics: tuple[MetricStatus, ...]


@dataclass(frozen=True)
class SiteStatus:
    name: str
    last_result: datetime
    endpoints: tuple[EndpointStatus, ...]


@dataclass(frozen=True)
class BootCount:
    """How many tested VMs an endpoint (space) had for a VO in a period: the distinct VMs
    with a result in it, a VM being its vmUUID, or its host name (gatheredAt) when it sent
    none. One tested VM is one VM boot."""

    endpoint: str
    service_type: str
    vo: str
    boots: int


class TimelineRow(NamedTuple):
    endpoint: str
    service_type: str
    metric: str
    vo: str
    site: str
    timestamp: datetime
    status: str


class MetricSeries(NamedTuple):
    """The status changes of one metric of an endpoint stored for ``site`` and ``vo``, in
    time order: each one's epoch second (a fraction counts for its second) and status."""

    endpoint: str
    service_type: str
    metric: str
    vo: str
    site: str
    seconds: list[int]
    statuses: list[str]


@dataclass(frozen=True)
class TimelineSeries:
    """The results of a period's load, grouped into series as the engine reads them (a
    GroupedSamples of vmsam.server.availability); one by one, they are TimelineRows whose
    timestamps are whole seconds."""

    series: list[MetricSeries]

    def __len__(self) -> int:
        return sum(len(one.seconds) for one in self.series)

    def __iter__(self) -> Iterator[TimelineRow]:
        for one in self.series:
            named = (one.endpoint, one.service_type, one.metric, one.vo, one.site)
            for second, status in zip(one.seconds, one.statuses, strict=True):
                yield TimelineRow(*named, datetime.fromtimestamp(second, UTC), status)


class PerfRow(NamedTuple):
    """The perfdata of one result of an endpoint of ``site``."""

    site: str
    endpoint: str
    service_type: str
    perf_data: str


class ResultTimelineRow(NamedTuple):
    """A TimelineRow with what a status timeline names of the result that set a status."""

    endpoint: str
    service_type: str
    metric: str
    vo: str
    site: str
    timestamp: datetime
    status: str
    gathered_at: str
    vm_uuid: str
    machinetype: str
    summary: str


@dataclass(frozen=True)
class Member:
    """Endpoint ``endpoint``/``service_type`` belongs to ``site`` for ``vo`` from
    ``first_seen`` on."""

    endpoint: str
    service_type: str
    site: str
    vo: str
    first_seen: datetime


@dataclass(frozen=True)
class TimelineInput:
    """What the A/R engine needs for [start, end): the status changes of the results from
    ``start`` - 1 day (for the carry-over), series by series (a repeat of the same status
    within a day changes no figure, so it is left out); the downtimes overlapping; the
    site membership."""

    start: datetime
    end: datetime
    results: TimelineSeries
    downtimes: list[Downtime]
    members: list[Member]
    # with a threshold profile: results of covered metrics whose perfdata held no number
    # for a covered label, which kept the probe's status
    unjudged: int = 0


@dataclass(frozen=True)
class StatusInput:
    """A TimelineInput whose results say which VM gave them (the status timelines' load:
    one site or endpoint, a few weeks at most)."""

    start: datetime
    end: datetime
    results: list[ResultTimelineRow]
    downtimes: list[Downtime]
    members: list[Member]


@dataclass(frozen=True)
class TrendCount:
    """How many results of one metric of an endpoint a machinetype gave in a period, in
    one status (``changes``: how many of them changed the metric's status)."""

    site: str
    endpoint: str
    service_type: str
    metric: str
    machinetype: str
    status: str
    results: int
    changes: int


class StoredFigures(NamedTuple):
    """The figures of one day of a site (``scope`` 'site', ``name`` the site's,
    ``service_type`` '') or of an endpoint counted in ``site`` (``scope`` 'endpoint'): the
    fields of the engine's DayFigures, with what they are of."""

    day: date
    scope: str
    site: str
    name: str
    service_type: str
    availability: float
    reliability: float
    up: float
    unknown: float
    down: float
    up_seconds: int
    unknown_seconds: int
    down_seconds: int
    critical_seconds: int
    total_seconds: int


@dataclass(frozen=True)
class RuleVersion:
    """A version of a rule document (the groups of sites), in force from ``recorded_at``
    until the next one."""

    fingerprint: str
    document: Any
    recorded_at: datetime


def rule_fingerprint(document: Any) -> str:
    """SHA-256 (hex) of a rule document's canonical JSON: what tells its versions apart."""
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
