"""The dashboard API's contract (docs/operations.md): what each endpoint answers and accepts."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, WithJsonSchema

from vmsam.server.availability import Kind
from vmsam.server.reports import parse_moment
from vmsam.server.store import RECOMPUTATION_NAMES_MAX

__all__ = [
    "ARAllDocument",
    "ARDocument",
    "ARFigure",
    "ARGroupsDocument",
    "AuditEntryModel",
    "AuditPage",
    "CandidateModel",
    "CandidatesList",
    "Conflict",
    "Day",
    "DeadLetterModel",
    "DeadLettersPage",
    "DowntimeCorrection",
    "DowntimeIn",
    "DowntimeModel",
    "DowntimesList",
    "EndpointModel",
    "FreshnessModel",
    "Health",
    "HealthDetails",
    "MetricModel",
    "Moment",
    "Name",
    "Problem",
    "RecomputationDecision",
    "RecomputationIn",
    "RecomputationModel",
    "RecomputationsList",
    "ResultModel",
    "ResultsPage",
    "SiteModel",
    "SitesList",
]

Status = Literal["OK", "WARNING", "UNKNOWN", "CRITICAL"]
# the store holds no longer name (hostName, siteName, ... are index keys)
NAME_MAX = 512


_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _moment(value: object) -> object:
    """The one time rule (vmsam.server.reports.parse_moment), also for a datetime given in
    code: pydantic alone would take a number as seconds since 1970, and a time without a
    zone."""
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise ValueError("a time needs a time zone")
        return value.astimezone(UTC)
    if not isinstance(value, str):
        raise ValueError("not an ISO 8601 time such as 2024-03-01T08:00:00Z or a day YYYY-MM-DD")
    return parse_moment(value)


def _day_text(value: object) -> object:
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _ISO_DAY.fullmatch(value):
        raise ValueError("not a day in the form YYYY-MM-DD")
    return value


Moment = Annotated[
    datetime,
    BeforeValidator(_moment, json_schema_input_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "description": "ISO 8601 with a time zone (2024-03-01T08:00:00Z,"
            " 2024-03-01T09:00:00+01:00), or a day YYYY-MM-DD meaning 00:00 UTC",
        }
    ),
]
"""A time in a query or a body, in UTC: see vmsam.server.reports.parse_moment."""
Day = Annotated[date, BeforeValidator(_day_text)]
Name = Annotated[str, Field(min_length=1, max_length=NAME_MAX)]


class Problem(BaseModel):
    """Every error answer: one clear line (FastAPI's shape)."""

    detail: str


class Conflict(Problem):
    """409: the same downtime (or recomputation) is stored already."""

    id: int = Field(description="the stored downtime (or recomputation) that is the same")


# what each error status means, for the routes that can answer it (``errors``)
_MEANINGS: dict[int, tuple[type[BaseModel], str]] = {
    400: (Problem, "the body is not JSON, or a parameter is given more than once"),
    401: (Problem, "no bearer token, or not a valid one"),
    403: (Problem, "no token is configured: writes and authenticated reads are disabled"),
    404: (Problem, "a site, endpoint, VO or downtime named is unknown"),
    409: (Conflict, "the same downtime is stored already"),
    422: (Problem, "a parameter or the body is not valid"),
}


def errors(*codes: int, **meanings: str) -> dict[int | str, dict[str, object]]:
    """The OpenAPI ``responses`` of these error statuses, with the shape every error has;
    ``meanings`` (``e404="unknown site"``) says more precisely what one means on a route."""
    declared: dict[int | str, dict[str, object]] = {}
    for code in codes:
        model, meaning = _MEANINGS[code]
        declared[code] = {"model": model, "description": meanings.get(f"e{code}", meaning)}
    return declared


class MetricModel(BaseModel):
    metric: str
    status: Status
    timestamp: datetime


class FreshnessModel(BaseModel):
    """Will this space have results tomorrow? (docs/availability.md, VMs that boot)"""

    staleness: Literal["fresh", "at_risk", "missing"] = Field(
        description="fresh: a result today; at_risk: the last one yesterday, so tomorrow"
        " starts MISSING unless one arrives before midnight UTC; missing: today started"
        " MISSING"
    )
    metrics: dict[str, datetime | None] = Field(
        description="each metric of the profile with its last result time, null if never"
    )
    observed_vm_starts_per_hour: float = Field(
        description="tested VM boots per hour over the last 7 days"
    )
    p_missing_tomorrow: float = Field(
        description="probability that no result arrives before midnight UTC"
    )
    at_risk: bool = Field(description="the space is at risk of going MISSING")
    tested_vm_starts_needed_per_hour: float = Field(
        description="tested VM boots per hour that give at least one result per UTC day with"
        " probability 0.99 (the target of vmsam plan)"
    )
    sampling_factor_needed: float | None = Field(
        description="by how much the sampling fraction must grow for that rate (needed /"
        " observed); at most 1 for a space sampled enough; null when no tested VM booted"
    )


class EndpointModel(BaseModel):
    """A space of a site, for one VO; ``status`` ANDs the newest result of each metric."""

    endpoint: str
    service_type: str
    vo: str
    status: Status
    last_result: datetime
    first_seen: datetime
    metrics: list[MetricModel]
    freshness: FreshnessModel | None = Field(
        description="null when the freshness report has no entry for this space"
    )


class SiteModel(BaseModel):
    name: str
    last_result: datetime
    at_risk: bool = Field(description="some space of the site is at risk of going MISSING")
    endpoints: list[EndpointModel]


class SitesList(BaseModel):
    sites: list[SiteModel]


class ResultModel(BaseModel):
    site: str
    endpoint: str
    service_type: str
    metric: str
    vo: str
    status: Status
    timestamp: datetime
    summary: str
    details: str
    vm_uuid: str
    machinetype: str
    gathered_at: str
    signature: Literal["verified", "unsigned"] | None = Field(
        default=None,
        description="verified: signed by an allowed signer; unsigned: carried no signature"
        " (flagged by the consumer's policy); null: not checked",
    )
    signer: str | None = Field(
        default=None, description="the verified signer's certificate subject (a proxy's owner)"
    )


class ResultsPage(BaseModel):
    total: int
    results: list[ResultModel]


class DeadLetterModel(BaseModel):
    received_at: datetime
    reason: str
    body: str = Field(description="the raw message as text, undecodable bytes escaped")
    headers: dict[str, str]


class DeadLettersPage(BaseModel):
    total: int
    results: list[DeadLetterModel]


class ARFigure(BaseModel):
    date: str = Field(description="YYYY-MM-DD (daily) or YYYY-MM (monthly)")
    availability: float = Field(description="percent, -1 where undefined")
    reliability: float = Field(description="percent, -1 where undefined")
    up: float
    unknown: float
    down: float


PROFILE_DESCRIPTION = (
    "the profile set the figures were computed with: metrics/aggregation/operations, and"
    " +thresholds when a threshold profile is in force"
)


RECOMPUTATIONS_DESCRIPTION = (
    "the ids of the applied recomputations within the range that changed these figures"
    " (their excluded time counts as UNKNOWN); empty when none"
)


class ARDocument(BaseModel):
    name: str
    granularity: Literal["daily", "monthly"]
    results: list[ARFigure]
    profile: str = Field(description=PROFILE_DESCRIPTION)
    recomputations: list[int] = Field(default_factory=list, description=RECOMPUTATIONS_DESCRIPTION)


class EndpointAR(BaseModel):
    name: str = Field(description="the endpoint (hostName of a space)")
    service_type: str
    results: list[ARFigure]


class SiteAR(BaseModel):
    name: str
    results: list[ARFigure]
    endpoints: list[EndpointAR] | None = Field(
        default=None, description="with endpoints=true: each endpoint as counted in the site"
    )


class ARAllDocument(BaseModel):
    """Every site of a VO over a period: WLCG's monthly report in one answer."""

    vo: str
    granularity: Literal["daily", "monthly"]
    start: str
    end: str
    profile: str = Field(description=PROFILE_DESCRIPTION)
    sites: list[SiteAR]
    recomputations: list[int] = Field(default_factory=list, description=RECOMPUTATIONS_DESCRIPTION)


class GroupFigure(BaseModel):
    date: str = Field(description="YYYY-MM-DD (daily) or YYYY-MM (monthly)")
    availability: float = Field(description="percent, weighted over the sites; -1 if undefined")
    reliability: float = Field(description="percent, weighted over the sites; -1 if undefined")


class GroupMember(BaseModel):
    name: str = Field(description="a site")
    weight: float = Field(description="its weight (ARGO's rule counts weight + 1)")
    weight_source: Literal["file", "capacity", "none"] = Field(
        description="the groups file; the HS06 its VMs reported; none (weight 0)"
    )
    monitored: bool = Field(description="whether the store has figures of it for the VO")


class GroupAR(BaseModel):
    name: str
    kind: Kind
    results: list[GroupFigure]
    members: list[GroupMember]


class ARGroupsDocument(BaseModel):
    """Each group of sites of the groups file, its A/R the weighted mean of its sites'."""

    vo: str
    granularity: Literal["daily", "monthly"]
    start: str
    end: str
    profile: str = Field(description=PROFILE_DESCRIPTION)
    groups: list[GroupAR]
    recomputations: list[int] = Field(default_factory=list, description=RECOMPUTATIONS_DESCRIPTION)


Description = Annotated[str, Field(max_length=4096)]


class DowntimeIn(BaseModel):
    """A downtime of [start, end) of one endpoint; times with a time zone."""

    model_config = ConfigDict(extra="forbid")

    endpoint: Name
    service_type: Name
    start: Moment
    end: Moment
    scheduled: StrictBool = True
    description: Description = ""


class DowntimeCorrection(BaseModel):
    """What changes in a stored downtime: a field left out (or null) stays as it is."""

    model_config = ConfigDict(extra="forbid")

    endpoint: Name | None = None
    service_type: Name | None = None
    start: Moment | None = None
    end: Moment | None = None
    scheduled: StrictBool | None = None
    description: Description | None = None


class DowntimeModel(BaseModel):
    id: int
    endpoint: str
    service_type: str
    start: datetime
    end: datetime
    scheduled: bool
    description: str


class DowntimesList(BaseModel):
    downtimes: list[DowntimeModel]


class Health(BaseModel):
    """Whether the API can answer: all anyone is told."""

    status: Literal["ok", "unavailable"]


class HealthDetails(Health):
    """For the holders of a token: which database, and why it does not answer."""

    database: str = Field(description="the database URL, its password masked")
    detail: str = ""


class AuditEntryModel(BaseModel):
    id: int
    at: datetime
    actor: str = Field(description="the token's name, or its fingerprint; cli:<user> for the CLI")
    client: str = Field(description="the client's address (the host, for the CLI)")
    action: Literal["create", "update", "delete"]
    kind: Literal["downtime", "alert", "recomputation"] = Field(
        description="alert: an acknowledgement; recomputation: a request or its decision"
    )
    object_id: int
    before: dict[str, Any] | None = Field(description="null for a creation")
    after: dict[str, Any] | None = Field(description="null for a removal")


class AuditPage(BaseModel):
    total: int
    entries: list[AuditEntryModel]


RecomputationState = Literal["pending", "applied", "rejected", "revoked"]
NameList = Annotated[list[Name], Field(max_length=RECOMPUTATION_NAMES_MAX)]


class RecomputationIn(BaseModel):
    """A period in which monitoring itself failed, for one VO (ARGO's recomputation
    request); ``sites`` and ``metrics`` empty: every one."""

    model_config = ConfigDict(extra="forbid")

    vo: Name
    reason: Annotated[str, Field(min_length=1, max_length=4096)]
    requester: Annotated[str, Field(min_length=1, max_length=200)]
    requester_email: Annotated[str, Field(min_length=3, max_length=254)] | None = None
    start: Moment
    end: Moment
    sites: NameList = Field(default_factory=list, description="empty: every site of the VO")
    metrics: NameList = Field(default_factory=list, description="empty: every metric")
    source: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,39}$")] = Field(
        default="person",
        description="person, or the source of the candidate accepted (broker-outage)",
    )


class RecomputationDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["applied", "rejected"]


class RecomputationModel(BaseModel):
    id: int
    vo: str
    reason: str
    requester: str
    requester_email: str | None
    start: datetime
    end: datetime
    sites: list[str]
    metrics: list[str]
    state: RecomputationState = Field(
        description="pending until decided; only applied ones change A/R figures"
    )
    source: str
    created_at: datetime
    decided_at: datetime | None = Field(description="the last change of state; null if none")
    decided_by: str | None


class RecomputationsList(BaseModel):
    recomputations: list[RecomputationModel]


class CandidateModel(BaseModel):
    vo: str | None = Field(description="the VO it is of; null: every VO (a broker outage)")
    source: str = Field(
        description="what proposes it: broker-outage (no result from anyone), no-vms (no VM"
        " of any space of the site ran, as its factories reported)"
    )
    start: datetime
    end: datetime
    sites: list[str] = Field(description="empty: every site")
    metrics: list[str] = Field(description="empty: every metric")
    reason: str


class CandidatesList(BaseModel):
    """Periods vmsam proposes for recomputation; a person accepts one by requesting it."""

    outage_seconds: float = Field(description="[recomputations] outage in force")
    candidates: list[CandidateModel]
