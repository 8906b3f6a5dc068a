"""The documents the API and the CLI give: A/R of a site or an endpoint from the store, the
freshness of every endpoint, and the sampling plan. One place turns requests into store
queries and engine calls, so both front ends answer the same numbers and the same errors.

Every bad request raises ``ReportError`` with one line that says what was wrong; database
failures stay ``StoreError`` (the caller may retry), never a ReportError.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, get_args

from vmsam.server.availability import (
    CAPACITY_LABEL,
    KINDS,
    AvailabilityError,
    DayFigures,
    Engine,
    Profiles,
    SiteGroup,
    dates,
    group_days,
    group_months,
    load_profiles,
    profiles_from_documents,
    site_capacities,
)
from vmsam.server.availability import monthly as monthly_figures
from vmsam.server.availability import report as document
from vmsam.server.availability.freshness import (
    endpoint_freshness,
)
from vmsam.server.planning import DEFAULT_TARGET
from vmsam.server.store import (
    PRUNED,
    WINDOW_PAST,
    Member,
    Recomputation,
    RuleVersion,
    Store,
    StoredFigures,
    StoreError,
    TimelineInput,
)
from vmsam.shared.errors import ReportError

_log = logging.getLogger(__name__)

Granularity = Literal["daily", "monthly"]
GRANULARITIES: tuple[str, ...] = get_args(Granularity)
MAX_DAYS = 366  # a leap year
# the observation window of the rate of tested VM boots
RATE_WINDOW = timedelta(days=7)
# the days `vmsam db figure` looks back over: a month, and the age window's days before it
FIGURED_DAYS = 35
# a day is closed, and its rules settled, once the age window has passed since its end
_CLOSES_AFTER = timedelta(days=1) + WINDOW_PAST
# the kind and name of the groups of sites' versions (one groups file per deployment)
_GROUPS_RULES = "groups"
# the kind of the profiles' versions (their name: the profile set's, as answers give it)
_PROFILES_RULES = "profiles"
# the store keeps microseconds: (begin, end] is [begin + 1 us, end + 1 us)
_TICK = timedelta(microseconds=1)
# the two forms of a time parse_moment takes: a day, or ISO 8601 with at least the minutes
# (datetime.fromisoformat alone would take 20240301T08 and week dates too)
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def parse_day(text: str, what: str = "date") -> date:
    """A ``YYYY-MM-DD`` day, or ReportError naming ``what``."""
    try:
        if len(text) != len("YYYY-MM-DD"):
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise ReportError(f"{what} {text[:40]!r} is not a date (YYYY-MM-DD)") from None


def parse_moment(text: str) -> datetime:
    """The one time rule of the API and the CLI: ISO 8601 with its time zone (``Z`` or an
    offset such as ``+02:00``), or a day ``YYYY-MM-DD`` meaning 00:00 UTC of it; in UTC.
    A time without a zone is refused: guessing UTC for a local time would be wrong by hours.

    ReportError with the same message wherever the text came from (the caller says which
    parameter it was)."""
    shown = repr(text[:40])
    if _DAY.fullmatch(text):
        try:
            return _midnight(date.fromisoformat(text))
        except ValueError:
            raise ReportError(f"{shown} is not a day of the calendar") from None
    try:
        if not _TIME.match(text):
            raise ValueError
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ReportError(
            f"{shown} is not an ISO 8601 time such as 2024-03-01T08:00:00Z or a day YYYY-MM-DD"
        ) from None
    if moment.utcoffset() is None:
        raise ReportError(
            f"{shown} has no time zone: end it with Z or an offset such as +02:00"
            " (or give a day YYYY-MM-DD, 00:00 UTC)"
        )
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ReportError(f"{shown} is out of range once converted to UTC") from None


def unseen_endpoint(store: Store, endpoint: str, service_type: str) -> str | None:
    """Why a downtime of this endpoint and service type is most likely a typo (the store
    holds no result of them), or None when it holds some."""
    seen = store.seen_service_types(endpoint)
    if service_type in seen:
        return None
    if seen:
        return (
            f"endpoint {endpoint[:100]!r} has no results of service type {service_type[:100]!r}"
            f" (it has {', '.join(repr(kind) for kind in seen)})"
        )
    return f"no result of endpoint {endpoint[:100]!r} was ever stored: is it misspelt?"


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
    # the settlements of its closed days, once known (``settled_rules``)
    settled: Mapping[date, datetime] | None = field(default=None, compare=False)

    def bounds(self) -> tuple[datetime, datetime]:
        """[begin, until): from 00:00 of the start to the end of the last day, or now."""
        begin = _midnight(self.start)
        # results after now change nothing: days after now are left out, today ends at now
        until = min(_midnight(self.end) + timedelta(days=1), self.now)
        if until <= begin:
            until = _midnight(self.end) + timedelta(days=1)
        return begin, until

    def applied(self, store: Store) -> list[Recomputation]:
        """The applied recomputations of the period's VO that overlap it: the engine's
        exclusions (docs/availability.md#recomputations)."""
        begin, until = self.bounds()
        return store.recomputations(vo=self.vo, states=("applied",), start=begin, end=until)

    def load(self, store: Store, engine: Engine, **where: str | None) -> TimelineInput:
        """The engine's input, the statuses those of the engine's threshold profile."""
        begin, until = self.bounds()
        thresholds = engine.profiles.thresholds
        loaded = store.timeline_input(
            start=begin,
            end=until,
            vo=self.vo,
            restatus=thresholds,
            settled=(
                self.settled
                if self.settled is not None
                else settled_rules(store, self.vo, self.start, self.end, self.now)
            ),
            **where,
        )
        if loaded.unjudged:
            assert thresholds is not None
            _log.warning(
                "threshold profile %s: %d results of covered metrics had perfdata without a"
                " number for a covered label; their probe status was kept",
                thresholds.name,
                loaded.unjudged,
            )
        return loaded


def settled_rules(
    store: Store, vo: str, first: date, last: date, now: datetime
) -> dict[date, datetime]:
    """The moment whose rules (downtimes) compute each closed day from ``first`` to
    ``last``: its settlement, made now for a day seen closed for the first time, or the
    moment the latest applied recomputation touching it was applied (the one thing that
    computes a settled day again, with the rules in force then). A day is closed once
    ARGO's age window has passed since its end (no result can arrive for it any more); the
    open days, absent here, are computed with the current rules."""
    closed = [day for day in dates(first, last) if _midnight(day) + _CLOSES_AFTER <= now]
    moments = store.settle(vo, closed, datetime.now(UTC))
    if not moments:
        return moments
    applied = store.recomputations(
        vo=vo,
        states=("applied",),
        start=_midnight(min(moments)),
        end=_midnight(max(moments)) + timedelta(days=1),
    )
    for recomputation in applied:
        if recomputation.decided_at is None:
            continue
        for day in dates(recomputation.start.date(), (recomputation.end - _TICK).date()):
            if day in moments:
                moments[day] = max(moments[day], recomputation.decided_at)
    return moments


def _runs(store: Store, profiles: Profiles | None, period: _Period) -> list[tuple[Engine, _Period]]:
    """``profile_runs`` of a period, each run knowing the settlements."""
    runs, settled = profile_runs(
        store, profiles, vo=period.vo, first=period.start, last=period.end, now=period.now
    )
    return [
        (engine, _Period(first, last, period.vo, period.now, settled))
        for engine, first, last in runs
    ]


def profile_runs(
    store: Store,
    profiles: Profiles | None,
    *,
    vo: str,
    first: date,
    last: date,
    now: datetime,
) -> tuple[list[tuple[Engine, date, date]], dict[date, datetime]]:
    """Days ``first`` to ``last`` in runs that share their profiles, each with its engine: a
    settled day's are the version of the profiles (by name) in force at its settlement,
    the oldest one kept when it settled before any; an open day's are ``profiles``. Each
    version is kept (``rule_versions``) the first time it is used, before any day settles.
    With them, the settlements (``settled_rules``), for the loads to reuse."""
    current = profiles if profiles is not None else load_profiles()
    versions = store.rule_versions(
        _PROFILES_RULES, current.name, current.documents, datetime.now(UTC)
    )
    settled = settled_rules(store, vo, first, last, now)
    built: dict[str, Profiles] = {versions[-1].fingerprint: current}
    runs: list[tuple[str, date, date]] = []
    for day in dates(first, last):
        moment = settled.get(day)
        if moment is None:
            chosen = versions[-1]
        else:
            held = [version for version in versions if version.recorded_at <= moment]
            chosen = held[-1] if held else versions[0]
        if chosen.fingerprint not in built:
            built[chosen.fingerprint] = profiles_from_documents(chosen.document)
        if runs and runs[-1][0] == chosen.fingerprint:
            runs[-1] = (chosen.fingerprint, runs[-1][1], day)
        else:
            runs.append((chosen.fingerprint, day, day))
    engines: dict[str, Engine] = {}
    return [
        (engines.setdefault(fingerprint, Engine(built[fingerprint])), start, end)
        for fingerprint, start, end in runs
    ], settled


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
    name = site if site is not None else endpoint
    assert name is not None
    days: list[DayFigures] = []
    applied: list[Recomputation] = []
    try:
        for engine, run in _runs(store, profiles, period):
            if site is not None:
                got, touched = _site_days(store, engine, site, run)
            else:
                got, touched = _endpoint_days(store, engine, name, service_type, run)
            days += got
            applied += touched
    except AvailabilityError as exc:
        raise ReportError(str(exc)) from None
    chosen = document(
        name, granularity, monthly_figures(days) if granularity == "monthly" else days
    )
    return {**chosen, "profile": engine.profiles.name, **recomputed(applied)}


def recomputed(applied: Iterable[Recomputation]) -> dict[str, list[int]]:
    """What an A/R document says of the recomputations applied within its range: their
    ids under ``recomputations``, left out when there are none (the API's answers always
    carry the list, empty then), so that a document without any is as it always was."""
    ids = sorted({recomputation.id for recomputation in applied})
    return {"recomputations": ids} if ids else {}


def _kept(
    store: Store, period: _Period, scope: str, name: str, service_type: str = ""
) -> tuple[list[DayFigures], _Period]:
    """The figures of the period's pruned days (they can no longer be computed), and the
    rest of the period, which starts the day after the last of them."""
    pruned = store.current_days(PRUNED, period.vo, period.start, period.end)
    kept = sorted(
        (
            _day_figures(row)
            for rows in pruned.values()
            for row in rows
            if (row.scope, row.name) == (scope, name)
            and (not service_type or row.service_type == service_type)
        ),
        key=lambda figures: figures.day,
    )
    if not kept:  # it was not there yet: its days before it joined are computed (MISSING)
        return kept, period
    rest = max(pruned) + timedelta(days=1)
    return kept, dataclasses.replace(period, start=rest)


def _site_days(
    store: Store, engine: Engine, site: str, period: _Period
) -> tuple[list[DayFigures], list[Recomputation]]:
    """The site's daily figures, and the applied recomputations that changed them."""
    kept, rest = _kept(store, period, "site", site)
    if kept and rest.end < rest.start:
        return kept, []
    loaded = rest.load(store, engine, site=site)
    if not loaded.members:
        if site not in {known.name for known in store.sites()}:
            raise ReportError(f"unknown site {site!r:.80}")
        raise ReportError(f"site {site!r:.80} has no endpoint with results for vo {period.vo!r}")
    applied = [r for r in rest.applied(store) if r.covers_site({site})]
    days = engine.site_days(
        loaded.results,
        loaded.downtimes,
        loaded.members,
        site=site,
        vo=rest.vo,
        start=rest.start,
        end=rest.end,
        now=rest.now,
        exclusions=applied,
    )
    return kept + days, applied


def _endpoint_days(
    store: Store, engine: Engine, endpoint: str, service_type: str | None, period: _Period
) -> tuple[list[DayFigures], list[Recomputation]]:
    """The endpoint's daily figures, and the applied recomputations that changed them."""
    members = [
        member
        for member in store.members(period.vo)
        if member.endpoint == endpoint
        and (service_type is None or member.service_type == service_type)
    ]
    kinds = sorted({member.service_type for member in members})
    if not kinds:
        raise ReportError(_no_endpoint(store, endpoint, service_type, period.vo))
    if len(kinds) > 1:
        raise ReportError(
            f"endpoint {endpoint!r:.80} has several service types ({_listing(kinds)}):"
            " give the service type"
        )
    kept, rest = _kept(store, period, "endpoint", endpoint, kinds[0])
    if rest.end < rest.start:
        return kept, []
    loaded = rest.load(store, engine, endpoint=endpoint, service_type=kinds[0])
    sites = {member.site for member in members}
    applied = [r for r in rest.applied(store) if r.covers_site(sites)]
    days = engine.endpoint_days(
        loaded.results,
        loaded.downtimes,
        endpoint=endpoint,
        service_type=kinds[0],
        vo=rest.vo,
        start=rest.start,
        end=rest.end,
        now=rest.now,
        exclusions=applied,
        sites=sites,
    )
    return kept + days, applied


def ar_all_document(
    store: Store,
    *,
    start: date | str,
    end: date | str,
    vo: str | None = None,
    granularity: Granularity = "daily",
    endpoints: bool = False,
    profiles: Profiles | None = None,
    now: datetime | None = None,
) -> dict[str, object]:
    """Daily or monthly A/R of every site for ``vo`` (and with ``endpoints`` of each of its
    endpoints), ``start`` to ``end`` inclusive: WLCG's monthly report in one answer.

    Closed days come from the store's daily figures when it holds them for every site and
    no result stored since has changed them; the others are computed for every site in one
    load of the status changes, and the closed ones among them kept for the next report."""
    if granularity not in GRANULARITIES:
        raise ReportError(
            f"granularity {granularity!r:.40} is not one of {', '.join(GRANULARITIES)}"
        )
    first, last = _day(start, "start"), _day(end, "end")
    _check_range(first, last)
    period = _Period(first, last, resolve_vo(store, vo), _now(now))
    by_day: dict[date, list[StoredFigures]] = {}
    try:
        for engine, run in _runs(store, profiles, period):
            by_day.update(_every_site(store, engine, run))
    except AvailabilityError as exc:
        raise ReportError(str(exc)) from None
    sites: dict[str, list[DayFigures]] = {}
    spaces: dict[str, dict[tuple[str, str], list[DayFigures]]] = {}
    for day in sorted(by_day):
        for row in by_day[day]:
            figures = _day_figures(row)
            if row.scope == "site":
                sites.setdefault(row.site, []).append(figures)
            else:
                owned = spaces.setdefault(row.site, {})
                owned.setdefault((row.name, row.service_type), []).append(figures)

    def results(days: list[DayFigures]) -> list[dict[str, str | float]]:
        chosen = monthly_figures(days) if granularity == "monthly" else days
        return [figures.as_result() for figures in chosen]

    listed = []
    for site, days in sorted(sites.items()):
        entry: dict[str, object] = {"name": site, "results": results(days)}
        if endpoints:
            entry["endpoints"] = [
                {"name": name, "service_type": kind, "results": results(space)}
                for (name, kind), space in sorted(spaces.get(site, {}).items())
            ]
        listed.append(entry)
    return {
        "vo": period.vo,
        "granularity": granularity,
        "start": first.isoformat(),
        "end": last.isoformat(),
        "profile": engine.profiles.name,
        "sites": listed,
        **recomputed(period.applied(store)),
    }


def ar_groups_document(
    store: Store,
    groups: Sequence[SiteGroup],
    *,
    start: date | str,
    end: date | str,
    vo: str | None = None,
    granularity: Granularity = "daily",
    kind: str | None = None,
    profiles: Profiles | None = None,
    now: datetime | None = None,
) -> dict[str, object]:
    """Daily or monthly A/R of each group of sites (of ``kind`` alone if given), the
    weighted mean of its sites' figures by ARGO's rule (vmsam.server.availability._groups),
    with each member's weight: the groups file's, else the capacity its VMs reported in the
    period (0 when they reported none)."""
    if kind is not None and kind not in KINDS:
        raise ReportError(f"kind {kind!r:.40} is not one of {', '.join(KINDS)}")
    if granularity not in GRANULARITIES:
        raise ReportError(
            f"granularity {granularity!r:.40} is not one of {', '.join(GRANULARITIES)}"
        )
    # kept before the report settles any day: a version is in force from its first use
    versions = store.rule_versions(
        _GROUPS_RULES, _GROUPS_RULES, [_group_document(g) for g in groups], datetime.now(UTC)
    )
    # the sites' daily figures, from the every-site report (and its kept figures)
    every = ar_all_document(store, start=start, end=end, vo=vo, profiles=profiles, now=now)
    first, last, moment = _day(start, "start"), _day(end, "end"), _now(now)
    days = [day for day in dates(first, last) if _midnight(day) < moment]
    sites: list[dict[str, Any]] = every["sites"]  # type: ignore[assignment]
    figures: dict[str, dict[date, tuple[float, float]]] = {
        site["name"]: {
            date.fromisoformat(row["date"]): (row["availability"], row["reliability"])
            for row in site["results"]
        }
        for site in sites
    }
    reported = store.perf_data(
        since=_midnight(first),
        until=min(_midnight(last) + timedelta(days=1), moment),
        vo=str(every["vo"]),
        label=CAPACITY_LABEL,
    )
    capacities = site_capacities(reported)
    in_force = _groups_in_force(
        store, groups, versions, vo=str(every["vo"]), first=first, last=last, now=moment
    )
    listed = []
    for group in groups:
        if kind is not None and group.kind != kind:
            continue
        weights = {site: group.weights.get(site, capacities.get(site, 0.0)) for site in group.sites}
        daily = []
        for day in days:
            then = in_force(day).get(group.name, group)
            members = {site: figures[site] for site in then.sites if site in figures}
            weighed = {
                site: then.weights.get(site, capacities.get(site, 0.0)) for site in then.sites
            }
            daily += group_days([day], members, weighed)
        chosen = group_months(daily) if granularity == "monthly" else daily
        listed.append(
            {
                "name": group.name,
                "kind": group.kind,
                "results": [figure.as_result() for figure in chosen],
                "members": [
                    {
                        "name": site,
                        "weight": weights[site],
                        "weight_source": _weight_source(group, site, capacities),
                        "monitored": site in figures,
                    }
                    for site in group.sites
                ],
            }
        )
    return {
        "vo": every["vo"],
        "granularity": granularity,
        "start": every["start"],
        "end": every["end"],
        "profile": every["profile"],
        "groups": listed,
        **{key: every[key] for key in ("recomputations",) if key in every},
    }


def _weights(group: SiteGroup, capacities: Mapping[str, float]) -> dict[str, float]:
    """Each member's weight: the groups file's, else its VMs' capacity (0 without)."""
    return {site: group.weights.get(site, capacities.get(site, 0.0)) for site in group.sites}


def _groups_in_force(
    store: Store,
    groups: Sequence[SiteGroup],
    versions: Sequence[RuleVersion],
    *,
    vo: str,
    first: date,
    last: date,
    now: datetime,
) -> Callable[[date], Mapping[str, SiteGroup]]:
    """Each day's groups by name: on a settled day the version of the groups in force at
    its settlement (``versions``: each kept the first time it was used), on an
    open day the ones given. A group the version does not hold is taken as given; a day
    settled before the first version was kept takes the oldest one."""
    settled = settled_rules(store, vo, first, last, now)
    given = {group.name: group for group in groups}
    parsed: dict[str, dict[str, SiteGroup]] = {}

    def in_force(day: date) -> Mapping[str, SiteGroup]:
        moment = settled.get(day)
        if moment is None:
            return given
        held = [version for version in versions if version.recorded_at <= moment]
        # none kept yet then: the oldest version known stands for it, so that the day does
        # not follow later changes of the file either
        version = held[-1] if held else versions[0]
        if version.fingerprint not in parsed:
            parsed[version.fingerprint] = {
                entry["name"]: SiteGroup(
                    entry["name"], entry["kind"], tuple(entry["sites"]), dict(entry["weights"])
                )
                for entry in version.document
            }
        return parsed[version.fingerprint]

    return in_force


def _group_document(group: SiteGroup) -> dict[str, object]:
    return {
        "name": group.name,
        "kind": group.kind,
        "sites": list(group.sites),
        "weights": dict(group.weights),
    }


def _weight_source(group: SiteGroup, site: str, capacities: Mapping[str, float]) -> str:
    """Where a member's weight came from: ``file``, ``capacity`` (its VMs' hs06) or ``none``
    (neither: weight 0, which ARGO's rule still counts as 1)."""
    if site in group.weights:
        return "file"
    return "capacity" if site in capacities else "none"


def _every_site(store: Store, engine: Engine, period: _Period) -> dict[date, list[StoredFigures]]:
    """Every site's and endpoint's figures of each day of the period that has begun."""
    days = [day for day in dates(period.start, period.end) if _midnight(day) < period.now]
    today = period.now.date()
    source = f"cache:{engine.profiles.fingerprint}"
    found = store.current_days(PRUNED, period.vo, period.start, period.end)
    closed = [day for day in days if day < today and day not in found]
    if closed:
        expected = _expected(engine, store.members(period.vo), period.vo)
        for day, rows in store.current_days(source, period.vo, closed[0], closed[-1]).items():
            if day not in found and {_key(row) for row in rows} == expected:
                found[day] = rows
    missing = [day for day in days if day not in found]
    if not missing:
        return found
    found.update(
        _computed(
            store,
            engine,
            dataclasses.replace(period, start=missing[0], end=missing[-1]),
            source,
            only=missing,
        )
    )
    return found


def _computed(
    store: Store,
    engine: Engine,
    span: _Period,
    source: str,
    *,
    only: Collection[date] | None = None,
) -> dict[date, list[StoredFigures]]:
    """Every site's and endpoint's figures of the days of ``span`` (of ``only`` among them),
    computed in one load; the closed days are kept as ``source``'s."""
    version = store.version()  # before the load: what is stored after it is seen as new
    loaded = span.load(store, engine)
    computed = engine.all_days(
        loaded.results,
        loaded.downtimes,
        loaded.members,
        vo=span.vo,
        start=span.start,
        end=span.end,
        now=span.now,
        endpoints=True,
        exclusions=span.applied(store),
    )
    wanted = set(only) if only is not None else {d.day for f in computed.values() for d in f.days}
    fresh: dict[date, list[StoredFigures]] = {day: [] for day in sorted(wanted)}
    for site, figures in computed.items():
        for day_figures in figures.days:
            if day_figures.day in fresh:
                fresh[day_figures.day].append(_stored("site", site, site, "", day_figures))
        for (name, kind), space in figures.endpoints.items():
            for day_figures in space:
                if day_figures.day in fresh:
                    fresh[day_figures.day].append(
                        _stored("endpoint", site, name, kind, day_figures)
                    )
    finished = [day for day in fresh if day < span.now.date()]
    try:
        store.replace_days(
            source,
            span.vo,
            finished,
            (row for day in finished for row in fresh[day]),
            version=version,
        )
    except StoreError as exc:
        if source == PRUNED:
            raise  # without them, the prune must not remove a single result
        # a report needs no cache: the figures are right, the next report computes again
        _log.warning("daily figures not kept: %s", exc)
    return fresh


def prune(
    store: Store,
    before: date | str,
    *,
    profiles: Profiles | None = None,
    now: datetime | None = None,
) -> PruneReport:
    """Keep the daily figures of every site and endpoint of every VO for the days before
    ``before``, then remove their results: reports of those days read the kept figures and
    stay as they were. The day before ``before`` keeps its results too (they carry over).
    Results may arrive up to ARGO's age window late, so the last days cannot be pruned."""
    day = _day(before, "before")
    moment = _now(now)
    latest = (moment - WINDOW_PAST).date()
    if day > latest:
        raise ReportError(
            f"results of the last {WINDOW_PAST.days} days may still arrive:"
            f" prune before {latest} at the latest"
        )
    kept = 0
    for vo in store.vos():
        earliest = store.earliest_result(vo)
        if earliest is None or earliest.date() >= day:
            continue
        pruned = store.current_days(PRUNED, vo, earliest.date(), day)
        first = max([earliest.date(), *(d + timedelta(days=1) for d in pruned)])
        # a month at a time, so that a year of results never sits in memory at once
        while first < day:
            last = min(day - timedelta(days=1), first + timedelta(days=30))
            for engine, span in _runs(store, profiles, _Period(first, last, vo, moment)):
                found = _computed(store, engine, span, PRUNED)
                kept += sum(len(rows) for rows in found.values())
            first = last + timedelta(days=1)
    return PruneReport(before=day, figures_kept=kept, results_removed=store.remove_results(day))


def figure(
    store: Store,
    *,
    days: int = FIGURED_DAYS,
    profiles: Profiles | None = None,
    now: datetime | None = None,
) -> list[FigureReport]:
    """Compute and keep every site's and endpoint's daily figures of each VO's closed days
    among the last ``days`` (those kept and still current are left as they are), so that
    the next report of them, the monthly one above all, reads them instead of results.
    ARGO computes its A/R in daily batch jobs likewise; run this after each UTC midnight."""
    if days < 1:
        raise ReportError(f"days must be at least 1, not {days}")
    moment = _now(now)
    yesterday = moment.date() - timedelta(days=1)
    done = []
    for vo in store.vos():
        earliest = store.earliest_result(vo)
        if earliest is None or earliest.date() > yesterday:
            continue
        first = max(earliest.date(), yesterday - timedelta(days=days - 1))
        start = first
        while start <= yesterday:  # a month at a time, as prune does
            last = min(yesterday, start + timedelta(days=30))
            for engine, run in _runs(store, profiles, _Period(start, last, vo, moment)):
                _every_site(store, engine, run)
            start = last + timedelta(days=1)
        done.append(FigureReport(vo, first, yesterday))
    return done


@dataclass(frozen=True)
class FigureReport:
    vo: str
    first: date
    last: date


@dataclass(frozen=True)
class PruneReport:
    before: date
    figures_kept: int
    results_removed: int


def _expected(engine: Engine, members: Iterable[Member], vo: str) -> set[tuple[str, ...]]:
    """What a day's figures of every site hold: a row per site and per endpoint in it."""
    expected: set[tuple[str, ...]] = set()
    for site, keys in engine.monitored(members, vo).items():
        expected.add(("site", site, site, ""))
        expected.update(("endpoint", site, name, kind) for name, kind in keys)
    return expected


def _key(row: StoredFigures) -> tuple[str, ...]:
    return (row.scope, row.site, row.name, row.service_type)


def _stored(
    scope: str, site: str, name: str, service_type: str, figures: DayFigures
) -> StoredFigures:
    # field by field: dataclasses.astuple deep-copies, a month's report makes 37,000 of these
    return StoredFigures(
        figures.day,
        scope,
        site,
        name,
        service_type,
        figures.availability,
        figures.reliability,
        figures.up,
        figures.unknown,
        figures.down,
        figures.up_seconds,
        figures.unknown_seconds,
        figures.down_seconds,
        figures.critical_seconds,
        figures.total_seconds,
    )


def _day_figures(row: StoredFigures) -> DayFigures:
    return DayFigures(
        day=row.day,
        availability=row.availability,
        reliability=row.reliability,
        up=row.up,
        unknown=row.unknown,
        down=row.down,
        up_seconds=row.up_seconds,
        unknown_seconds=row.unknown_seconds,
        down_seconds=row.down_seconds,
        critical_seconds=row.critical_seconds,
        total_seconds=row.total_seconds,
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
    "ar_all_document",
    "ar_document",
    "ar_groups_document",
    "freshness",
    "parse_day",
    "parse_moment",
    "prune",
    "recomputed",
    "resolve_vo",
    "unseen_endpoint",
]
