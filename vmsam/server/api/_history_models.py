"""The contract of the status timelines and the trends (docs/availability.md): what
``/api/v1/status/...`` and ``/api/v1/trends`` answer."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

__all__ = ["ActivityDocument", "StatusDocument", "TrendsDocument"]

State = Literal["OK", "WARNING", "UNKNOWN", "MISSING", "CRITICAL", "DOWNTIME"]
ActivityLabel = Literal["no-vms", "vms-ran", "unknown"]
_ACTIVITY = (
    "MISSING only (null otherwise): no-vms, a factory reported no VM of the space running;"
    " vms-ran, VMs ran (they failed or were not tested); unknown, nobody reported"
    " (docs/availability.md#no-vms-ran). It changes no status and no A/R figure."
)


class Piece(BaseModel):
    """A status from ``start`` to ``end`` (UTC); pieces are cut at every UTC midnight, as
    each day is computed on its own."""

    start: str
    end: str
    status: State


class SettingResult(BaseModel):
    """The stored result that set a metric's status."""

    timestamp: str
    status: Literal["OK", "WARNING", "UNKNOWN", "CRITICAL"]
    vm_uuid: str
    machinetype: str
    gathered_at: str = Field(description="the host name of the VM")
    summary: str


class MetricPiece(Piece):
    activity: ActivityLabel | None = Field(default=None, description=_ACTIVITY)
    result: SettingResult | None = Field(
        description="null for MISSING (no result to go by) and for excluded time"
    )
    carried: bool = Field(
        description="the status was carried over from the day before (its last result)"
    )
    recomputation: int | None = Field(
        default=None,
        description="excluded by this applied recomputation: UNKNOWN whatever the results"
        " said; null otherwise",
    )


class ExcludedPeriod(BaseModel):
    """An applied recomputation that covers this site or endpoint within the days asked."""

    id: int
    start: str
    end: str
    sites: list[str] = Field(description="empty: every site")
    metrics: list[str] = Field(description="empty: every metric")
    reason: str


class SetBy(BaseModel):
    metric: str
    result: SettingResult | None


class EndpointPiece(Piece):
    activity: ActivityLabel | None = Field(default=None, description=_ACTIVITY)
    set_by: list[SetBy] = Field(
        description="the metrics in this status where the piece starts, with the results"
        " that set them (none for DOWNTIME)"
    )


class MetricTimeline(BaseModel):
    metric: str
    pieces: list[MetricPiece]


class EndpointTimeline(BaseModel):
    endpoint: str
    service_type: str
    pieces: list[EndpointPiece]
    metrics: list[MetricTimeline]


class StatusDocument(BaseModel):
    """The status timelines of a site or an endpoint, as the A/R engine builds them."""

    name: str
    scope: Literal["site", "endpoint"]
    vo: str
    start: str
    end: str
    pruned: list[str] = Field(
        description="days whose results were pruned: no timeline (their A/R was kept)"
    )
    pieces: list[Piece] = Field(description="the site's (or the endpoint's) combined status")
    endpoints: list[EndpointTimeline]
    recomputations: list[ExcludedPeriod] = Field(
        default_factory=list,
        description="the applied recomputations whose excluded time the timelines show",
    )


class IdleSpan(BaseModel):
    start: str
    end: str
    evidence: str = Field(description="the factories that reported no VM running")


class RanSpan(BaseModel):
    start: str
    end: str
    vms: int = Field(description="how many VMs were alive in the period")


class SpaceActivity(BaseModel):
    space: str
    service_type: str
    no_vms: list[IdleSpan] = Field(
        description="factories reported no VM running and none was seen alive"
    )
    vms_ran: list[RanSpan] = Field(description="VMs were alive (VacMon machine_status)")


class ActivityDocument(BaseModel):
    """Which spaces of a site ran VMs and which reported none (``vmsam vacmon``); a period
    in neither list is unknown: nobody reported."""

    site: str
    vo: str
    start: str
    end: str
    spaces: list[SpaceActivity]


class Counts(BaseModel):
    results: int
    critical: int
    warning: int
    unknown: int
    changes: int = Field(description="results that changed their metric's status")


class MachinetypeCounts(Counts):
    machinetype: str


class TrendItem(Counts):
    site: str
    endpoint: str
    service_type: str
    metric: str
    changes_per_day: float
    machinetypes: list[MachinetypeCounts]


class FailingItem(TrendItem):
    contrast: str | None = Field(description="its strongest machinetype contrast, if any")


class SiteCounts(Counts):
    site: str


class TrendsDocument(BaseModel):
    """Flapping and failing metrics of spaces over a range, by machinetype."""

    vo: str
    site: str | None
    start: str
    end: str
    days: int
    contrast: str | None = Field(
        description="the strongest machinetype contrast of the range, as one sentence"
    )
    flapping: list[TrendItem] = Field(description="most status changes first")
    failing: list[FailingItem] = Field(description="most CRITICAL, then WARNING, results first")
    sites: list[SiteCounts] = Field(description="each site's totals, most CRITICAL first")
