"""The documents the API and the CLI give: A/R of a site or an endpoint from the store, the
freshness of every endpoint, and the sampling plan. One place turns requests into store
queries and engine calls, so both front ends answer the same numbers and the same errors.

Every bad request raises ``ReportError`` with one line that says what was wrong; database
failures stay ``StoreError`` (the caller may retry), never a ReportError.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal, get_args

from vmsam.server.availability import AvailabilityError, DayFigures, Engine, Profiles, load_profiles
from vmsam.server.availability import monthly as monthly_figures
from vmsam.server.availability import report as document
from vmsam.server.availability.freshness import (
    endpoint_freshness,
)
from vmsam.server.planning import DEFAULT_TARGET
from vmsam.server.store import Store, TimelineInput
from vmsam.shared.errors import ReportError

Granularity = Literal["daily", "monthly"]
GRANULARITIES: tuple[str, ...] = get_args(Granularity)
MAX_DAYS = 366  # a leap year
# the observation window of the rate of tested VM boots
RATE_WINDOW = timedelta(days=7)
# the store keeps microseconds: (begin, end] is [begin + 1 us, end + 1 us)
_TICK = timedelta(microseconds=1)


def parse_day(text: str, what: str = "date") -> date:
    """A ``YYYY-MM-DD`` day, or ReportError naming ``what``."""
    try:
        if len(text) != len("YYYY-MM-DD"):
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise ReportError(f"{what} {text[:40]!r} is not a date (YYYY-MM-DD)") from None


def parse_moment(text: str, what: str = "time") -> datetime:
    """An ISO 8601 instant; without an offset it is taken as UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ReportError(
            f"{what} {text[:40]!r} is not an ISO 8601 time (e.g. 2024-03-01T08:00:00Z)"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


def _day(value: object, what: str) -> date:
    if isinstance(value, str):
        return parse_day(value, what)
    # a datetime is a date too, but its time of day would be silently dropped
    if not isinstance(value, date) or isinstance(value, datetime):
        raise ReportError(f"{what} must be a date (YYYY-MM-DD), not {value!r:.40}")
    return value


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _listing(names: Iterable[str]) -> str:
    return ", ".join(sorted(names)) or "none"


def resolve_vo(store: Store, vo: str | None) -> str:
    """``vo`` if the store holds it; the store's only VO when ``vo`` is None."""
    held = store.vos()
    if not held:
        raise ReportError("the store holds no results yet, so no VO to report on")
    if vo is None:
        if len(held) > 1:
            raise ReportError(f"the store holds several VOs ({_listing(held)}): give the vo")
        return held[0]
    if vo not in held:
        raise ReportError(f"unknown vo {vo!r:.80} (the store holds {_listing(held)})")
    return vo


def _check_range(start: date, end: date) -> None:
    # the carry-over reads the day before the start; the load runs to the day after the end
    if start <= date.min or end >= date.max:
        raise ReportError(f"the days must lie between {date.min} and {date.max}, excluded")
    if end < start:
        raise ReportError(f"the end ({end}) is before the start ({start})")
    days = (end - start).days + 1
    if days > MAX_DAYS:
        raise ReportError(f"the range has {days} days; at most {MAX_DAYS} are allowed")


@dataclass(frozen=True)
class _Period:
    """Days ``start`` to ``end`` inclusive, for ``vo``, as seen at ``now``."""

    start: date
    end: date
    vo: str
    now: datetime

    def load(self, store: Store, **where: str | None) -> TimelineInput:
        begin = _midnight(self.start)
        # results after now change nothing: days after now are left out, today ends at now
        until = min(_midnight(self.end) + timedelta(days=1), self.now)
        if until <= begin:
            until = _midnight(self.end) + timedelta(days=1)
        return store.timeline_input(start=begin, end=until, vo=self.vo, **where)


def ar_document(
    store: Store,
    *,
    site: str | None = None,
    endpoint: str | None = None,
    service_type: str | None = None,
    start: date | str,
    end: date | str,
    vo: str | None = None,
    granularity: Granularity = "daily",
    profiles: Profiles | None = None,
    now: datetime | None = None,
) -> dict[str, object]:
    """Daily or monthly A/R of ``site`` or ``endpoint`` (exactly one) for ``vo``, ``start``
    to ``end`` inclusive, as the API's JSON document (``availability.report``). Days after
    ``now`` are left out; the current day covers [00:00, now)."""
    if (site is None) == (endpoint is None):
        raise ReportError("give exactly one of a site and an endpoint")
    if site is not None and service_type is not None:
        raise ReportError("a service type applies to an endpoint, not to a site")
    if granularity not in GRANULARITIES:
        raise ReportError(
            f"granularity {granularity!r:.40} is not one of {', '.join(GRANULARITIES)}"
        )
    first, last = _day(start, "start"), _day(end, "end")
    _check_range(first, last)
    period = _Period(first, last, resolve_vo(store, vo), _now(now))
    engine = Engine(profiles)
    try:
        if site is not None:
            name = site
            days = _site_days(store, engine, site, period)
        else:
            assert endpoint is not None
            name = endpoint
            days = _endpoint_days(store, engine, endpoint, service_type, period)
    except AvailabilityError as exc:
        raise ReportError(str(exc)) from None
    if granularity == "monthly":
        return document(name, "monthly", monthly_figures(days))
    return document(name, "daily", days)


def _site_days(store: Store, engine: Engine, site: str, period: _Period) -> list[DayFigures]:
    loaded = period.load(store, site=site)
    if not loaded.members:
        if site not in {known.name for known in store.sites()}:
            raise ReportError(f"unknown site {site!r:.80}")
        raise ReportError(f"site {site!r:.80} has no endpoint with results for vo {period.vo!r}")
    return engine.site_days(
        loaded.results,
        loaded.downtimes,
        loaded.members,
        site=site,
        vo=period.vo,
        start=period.start,
        end=period.end,
        now=period.now,
    )


def _endpoint_days(
    store: Store, engine: Engine, endpoint: str, service_type: str | None, period: _Period
) -> list[DayFigures]:
    loaded = period.load(store, endpoint=endpoint, service_type=service_type)
    kinds = sorted({member.service_type for member in loaded.members})
    if not kinds:
        raise ReportError(_no_endpoint(store, endpoint, service_type, period.vo))
    if len(kinds) > 1:
        raise ReportError(
            f"endpoint {endpoint!r:.80} has several service types ({_listing(kinds)}):"
            " give the service type"
        )
    return engine.endpoint_days(
        loaded.results,
        loaded.downtimes,
        endpoint=endpoint,
        service_type=kinds[0],
        vo=period.vo,
        start=period.start,
        end=period.end,
        now=period.now,
    )


def _no_endpoint(store: Store, endpoint: str, service_type: str | None, vo: str) -> str:
    """Why no membership matched: unknown host, other service type, or other VO."""
    known = [
        member for site in store.sites() for member in site.endpoints if member.endpoint == endpoint
    ]
    if not known:
        return f"unknown endpoint {endpoint!r:.80}"
    kinds = {member.service_type for member in known}
    if service_type is not None and service_type not in kinds:
        return (
            f"unknown service type {service_type!r:.80} of endpoint {endpoint!r:.80}"
            f" (it has {_listing(kinds)})"
        )
    return f"endpoint {endpoint!r:.80} has no results for vo {vo!r}"


@dataclass(frozen=True)
class EndpointFreshness:
    """How close an endpoint (space) of a site is to going MISSING for a VO."""

    site: str
    endpoint: str
    service_type: str
    vo: str
    last_result: datetime | None
    metrics: dict[str, datetime | None]
    """Every metric of the metric profile (the observed ones when the profile has none for
    the service type) with the time of its last result, None if it never reported."""
    staleness: str
    """``fresh`` (a result today), ``at_risk`` (last one yesterday: tomorrow starts MISSING
    unless one arrives before midnight UTC) or ``missing`` (today started MISSING)."""
    observed_vm_starts_per_hour: float
    """Tested VM boots per hour over the last 7 days (distinct VMs with a result in them)."""
    p_missing_tomorrow: float
    """Probability that no result arrives before midnight UTC, at the observed rate, for a
    space that needs one; 0 for a fresh space."""
    at_risk: bool
    """``p_missing_tomorrow`` exceeds 1 - 0.99, the default target of ``plan``."""


def freshness(
    store: Store,
    *,
    now: datetime | None = None,
    vo: str | None = None,
    profiles: Profiles | None = None,
) -> list[EndpointFreshness]:
    """The freshness of every endpoint of every site (of ``vo`` alone if given), by site,
    endpoint, service type and VO."""
    moment = _now(now)
    if vo is not None:
        resolve_vo(store, vo)
    metric_profile = (profiles if profiles is not None else load_profiles()).metrics
    # tested VM boots in (moment - window, moment]
    boots = {
        (row.endpoint, row.service_type, row.vo): row.boots
        for row in store.tested_boots(
            since=moment - RATE_WINDOW + _TICK, until=moment + _TICK, vo=vo
        )
    }
    hours = RATE_WINDOW / timedelta(hours=1)
    out = []
    for site in store.sites():
        for status in site.endpoints:
            if vo is not None and status.vo != vo:
                continue
            last = {metric.metric: metric.timestamp for metric in status.metrics}
            names = metric_profile.metrics(status.service_type, status.vo) or tuple(last)
            key = (status.endpoint, status.service_type, status.vo)
            rate = boots.get(key, 0) / hours
            state = endpoint_freshness(last, names, now=moment, tested_boots_per_hour=rate)
            risk = state.risk_of_missing_tomorrow
            assert risk is not None  # a rate was given
            out.append(
                EndpointFreshness(
                    site=site.name,
                    endpoint=status.endpoint,
                    service_type=status.service_type,
                    vo=status.vo,
                    last_result=status.last_result,
                    metrics={m.metric: m.last_result for m in state.metrics},
                    staleness=str(state.staleness),
                    observed_vm_starts_per_hour=rate,
                    p_missing_tomorrow=risk,
                    at_risk=risk > 1.0 - DEFAULT_TARGET,
                )
            )
    out.sort(key=lambda f: (f.site, f.endpoint, f.service_type, f.vo))
    return out


__all__ = [
    "GRANULARITIES",
    "MAX_DAYS",
    "EndpointFreshness",
    "Granularity",
    "ReportError",
    "ar_document",
    "freshness",
    "parse_day",
    "parse_moment",
    "resolve_vo",
]
