"""The dashboard API's contract (docs/operations.md): what each endpoint answers and accepts."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool

__all__ = [
    "ARAllDocument",
    "ARDocument",
    "ARFigure",
    "AwareDatetime",
    "Day",
    "DeadLetterModel",
    "DeadLettersPage",
    "DowntimeIn",
    "DowntimeModel",
    "DowntimesList",
    "EndpointModel",
    "FreshnessModel",
    "Health",
    "MetricModel",
    "Name",
    "Problem",
    "QueryTime",
    "ResultModel",
    "ResultsPage",
    "SiteModel",
    "SitesList",
]

Status = Literal["OK", "WARNING", "UNKNOWN", "CRITICAL"]
# the store holds no longer name (hostName, siteName, ... are index keys)
NAME_MAX = 512


# ISO 8601 text only: pydantic would also take a number as seconds since 1970
_ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _time_text(value: object) -> object:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO_TIME.match(value):
        raise ValueError("not an ISO 8601 time such as 2024-03-01T08:00:00Z")
    return value


def _day_text(value: object) -> object:
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _ISO_DAY.fullmatch(value):
        raise ValueError("not a day in the form YYYY-MM-DD")
    return value


def _in_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("needs a time zone: end it with Z or an offset such as +00:00")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range once converted to UTC") from None


def _utc_unless_given(moment: datetime) -> datetime:
    # a query without an offset means UTC, as every time vmsam stores
    if moment.tzinfo is None or moment.utcoffset() is None:
        return moment.replace(tzinfo=UTC)
    return _in_utc(moment)


AwareDatetime = Annotated[datetime, BeforeValidator(_time_text), AfterValidator(_in_utc)]
"""A time in a request body: ISO 8601 with a time zone (Z or an offset)."""
QueryTime = Annotated[datetime, BeforeValidator(_time_text), AfterValidator(_utc_unless_given)]
"""A time in a query: ISO 8601, UTC when it has no offset."""
Day = Annotated[date, BeforeValidator(_day_text)]
Name = Annotated[str, Field(min_length=1, max_length=NAME_MAX)]


class Problem(BaseModel):
    """Every error answer: one clear line (FastAPI's shape)."""

    detail: str


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


class ARDocument(BaseModel):
    name: str
    granularity: Literal["daily", "monthly"]
    results: list[ARFigure]


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
    sites: list[SiteAR]


class DowntimeIn(BaseModel):
    """A downtime of [start, end) of one endpoint; times with a time zone."""

    model_config = ConfigDict(extra="forbid")

    endpoint: Name
    service_type: Name
    start: AwareDatetime
    end: AwareDatetime
    scheduled: StrictBool = True
    description: Annotated[str, Field(max_length=4096)] = ""


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
    status: Literal["ok", "unavailable"]
    database: str
    detail: str = ""
