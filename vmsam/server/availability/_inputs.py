"""What the engine reads: results, downtimes and memberships.

The engine reads only the attributes named by the protocols, so the store's own rows (any
object with those attributes: a named tuple, a frozen dataclass) go in as they are, without
a copy of millions of rows; the named tuples here are for everyone else. Naive timestamps
are taken as UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple, Protocol, runtime_checkable


class _OfMetric(Protocol):
    """Names a metric of an endpoint."""

    @property
    def endpoint(self) -> str: ...
    @property
    def service_type(self) -> str: ...
    @property
    def metric(self) -> str: ...


class SampleRow(_OfMetric, Protocol):
    @property
    def timestamp(self) -> datetime: ...
    @property
    def status(self) -> str: ...


class SiteSampleRow(SampleRow, Protocol):
    """A result that names the site it was stored for (the store's TimelineRow)."""

    @property
    def site(self) -> str: ...


class SeriesRow(_OfMetric, Protocol):
    """The results of one metric of an endpoint stored for ``site``, in time order: each
    one's epoch second (a fraction counts for its second) and status."""

    @property
    def site(self) -> str: ...
    @property
    def seconds(self) -> Sequence[int]: ...
    @property
    def statuses(self) -> Sequence[str]: ...


@runtime_checkable
class GroupedSamples(Protocol):
    """Results already grouped into series (the store's load of a period): the engine
    takes each series as it is, where it would otherwise group and sort a month's rows one
    by one, and reads them exactly as it reads those rows (SiteSampleRows). The series of
    one endpoint, service type and metric from several sites or VOs count together, except
    in ``Engine.all_days``, where each site counts its own."""

    @property
    def series(self) -> Sequence[SeriesRow]: ...


class DowntimeRow(Protocol):
    @property
    def endpoint(self) -> str: ...
    @property
    def service_type(self) -> str: ...
    @property
    def start(self) -> datetime: ...
    @property
    def end(self) -> datetime: ...
    @property
    def scheduled(self) -> bool: ...


class MembershipRow(Protocol):
    @property
    def endpoint(self) -> str: ...
    @property
    def service_type(self) -> str: ...
    @property
    def site(self) -> str: ...
    @property
    def vo(self) -> str: ...
    @property
    def first_seen(self) -> datetime: ...


class ExclusionRow(Protocol):
    """A period in which monitoring failed (an applied recomputation): the results of
    ``metrics`` (every one when empty) of the spaces of ``sites`` (every site when empty)
    count as UNKNOWN on [start, end), as ARGO's EXCLUDED."""

    @property
    def id(self) -> int: ...
    @property
    def start(self) -> datetime: ...
    @property
    def end(self) -> datetime: ...
    @property
    def sites(self) -> Sequence[str]: ...
    @property
    def metrics(self) -> Sequence[str]: ...


class Exclusion(NamedTuple):
    """An ExclusionRow for everyone but the store."""

    id: int
    start: datetime
    end: datetime
    sites: Sequence[str] = ()
    metrics: Sequence[str] = ()


class Sample(NamedTuple):
    """One stored metric result of ``endpoint`` (host name) and ``service_type``."""

    endpoint: str
    service_type: str
    metric: str
    timestamp: datetime
    status: str


class DowntimeWindow(NamedTuple):
    """A downtime of an endpoint on ``[start, end)``; only scheduled ones count."""

    endpoint: str
    service_type: str
    start: datetime
    end: datetime
    scheduled: bool = True


class Membership(NamedTuple):
    """An endpoint belongs to ``site`` for ``vo`` from the UTC day of ``first_seen`` on
    (its first stored result with that site and VO)."""

    endpoint: str
    service_type: str
    site: str
    vo: str
    first_seen: datetime
