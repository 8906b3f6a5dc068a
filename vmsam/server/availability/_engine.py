"""From stored results, downtimes and memberships to daily figures (docs/availability.md)."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from vmsam.server.availability._figures import SECONDS_PER_DAY, DayFigures, day_figures
from vmsam.server.availability._inputs import (
    DowntimeRow,
    ExclusionRow,
    GroupedSamples,
    MembershipRow,
    SampleRow,
    SeriesRow,
    SiteSampleRow,
)
from vmsam.server.availability._profiles import (
    DOWNTIME,
    MISSING,
    STATE_INDEX,
    UNKNOWN,
    Group,
    Profiles,
    load_profiles,
)
from vmsam.server.availability._time import as_utc, dates, epoch
from vmsam.server.availability._timeline import Timeline, fold, from_results, overlay
from vmsam.shared.errors import AvailabilityError

_Key = tuple[str, str]  # (endpoint, service type)
# results as rows, or as the store's series
Samples = Iterable[SampleRow] | GroupedSamples


@dataclass(frozen=True, slots=True)
class _Series:
    """The results of one (endpoint, metric), sorted by time, as epoch seconds and states."""

    seconds: Sequence[int]
    states: Sequence[int]


@dataclass(frozen=True, slots=True)
class _SiteSeries:
    """The series of one site (a GroupedSamples)."""

    series: list[SeriesRow]


@dataclass(frozen=True, slots=True)
class SiteDays:
    """A site's daily figures and, when asked for, those of each of its endpoints."""

    days: list[DayFigures]
    endpoints: dict[tuple[str, str], list[DayFigures]]


@dataclass(frozen=True, slots=True)
class DayTimelines:
    """The timelines the engine builds for one UTC day of a site or an endpoint, as it
    builds them for that day's figures: ``combined`` is the site's (or the endpoint's),
    ``endpoints`` each endpoint's by (endpoint, service type), ``metrics`` each metric's
    by (endpoint, service type, metric). Seconds count from ``start``, the epoch second
    of 00:00 UTC."""

    day: date
    start: int
    combined: Timeline
    endpoints: dict[tuple[str, str], Timeline]
    metrics: dict[tuple[str, str, str], Timeline]


@dataclass(frozen=True, slots=True)
class _Excluded:
    """The excluded periods (applied recomputations) of one site's spaces, as merged,
    sorted epoch intervals: those of every metric, and per metric named (its own and
    every metric's together)."""

    every: list[tuple[int, int]]
    named: dict[str, list[tuple[int, int]]]

    def of(self, metric: str) -> list[tuple[int, int]]:
        return self.named.get(metric, self.every)


_NOTHING_EXCLUDED = _Excluded([], {})


@dataclass(frozen=True, slots=True)
class _Day:
    day: date
    start: int  # epoch second of 00:00:00 UTC
    length: int  # 86400, or up to now for the current day


class Engine:
    """The one availability engine (API, CLI and benchmarks). Stateless between calls."""

    def __init__(self, profiles: Profiles | None = None) -> None:
        self.profiles = profiles if profiles is not None else load_profiles()
        operations = self.profiles.operations
        aggregation = self.profiles.aggregation
        # results in the same second combine with AND, whatever the profile (arrival order
        # must not matter)
        self._same_second = operations.table("AND")
        self._metric_op = operations.table(aggregation.metric_operation)
        self._profile_op = operations.table(aggregation.profile_operation)

    def endpoint_days(
        self,
        samples: Samples,
        downtimes: Iterable[DowntimeRow],
        *,
        endpoint: str,
        service_type: str,
        vo: str,
        start: date,
        end: date,
        now: datetime | None = None,
        exclusions: Iterable[ExclusionRow] = (),
        sites: Collection[str] = (),
    ) -> list[DayFigures]:
        """Daily figures of one endpoint for ``vo``, ``start`` to ``end`` inclusive (days
        after ``now`` left out), with the ``exclusions`` of every site or of one of
        ``sites`` (those it counts in). Raises AvailabilityError for an unmonitored
        service type."""
        key = (endpoint, service_type)
        metrics = self.profiles.metrics.metrics(service_type, vo)
        if not metrics:
            raise AvailabilityError(
                f"service type {service_type!r} has no metrics in the metric profile"
            )
        days = _days(start, end, now)
        series = self._series(samples, {key: metrics})
        windows = _downtimes(downtimes, {key})
        excluded = _excluded(exclusions, sites)
        return [
            day_figures(
                day.day,
                self._endpoint(
                    series, key, metrics, windows.get(key, []), day, excluded=excluded
                ).seconds(),
            )
            for day in days
        ]

    def site_days(
        self,
        samples: Samples,
        downtimes: Iterable[DowntimeRow],
        memberships: Iterable[MembershipRow],
        *,
        site: str,
        vo: str,
        start: date,
        end: date,
        now: datetime | None = None,
        exclusions: Iterable[ExclusionRow] = (),
    ) -> list[DayFigures]:
        """Daily figures of ``site`` for ``vo``, ``start`` to ``end`` inclusive (days after
        ``now`` left out), with the ``exclusions`` that cover it. Endpoints of service
        types outside the profiles take no part."""
        days = _days(start, end, now)
        joined = self._joined(memberships, vo, site).get(site, {})
        excluded = _excluded(exclusions, {site})
        return self._site_figures(
            samples, downtimes, joined, vo, days, excluded=excluded, with_endpoints=False
        ).days

    def all_days(
        self,
        samples: Iterable[SiteSampleRow] | GroupedSamples,
        downtimes: Iterable[DowntimeRow],
        memberships: Iterable[MembershipRow],
        *,
        vo: str,
        start: date,
        end: date,
        now: datetime | None = None,
        endpoints: bool = False,
        exclusions: Iterable[ExclusionRow] = (),
    ) -> dict[str, SiteDays]:
        """Daily figures of every site with a monitored endpoint for ``vo`` (and, with
        ``endpoints``, of each of those endpoints as part of it), by site name. The samples
        carry their site: each site's figures come from its own results, exactly as
        ``site_days`` would give them."""
        days = _days(start, end, now)
        by_site = _by_site(samples)
        windows = list(downtimes)
        excluding = list(exclusions)
        return {
            site: self._site_figures(
                by_site.get(site, ()),
                windows,
                joined,
                vo,
                days,
                excluded=_excluded(excluding, {site}),
                with_endpoints=endpoints,
            )
            for site, joined in sorted(self._joined(memberships, vo).items())
        }

    def site_timelines(
        self,
        samples: Samples,
        downtimes: Iterable[DowntimeRow],
        memberships: Iterable[MembershipRow],
        *,
        site: str,
        vo: str,
        start: date,
        end: date,
        now: datetime | None = None,
        exclusions: Iterable[ExclusionRow] = (),
    ) -> list[DayTimelines]:
        """The timelines behind ``site_days``' figures, day by day: the site's, each of its
        monitored endpoints' and each of their metrics'."""
        joined = self._joined(memberships, vo, site).get(site, {})
        metrics = {key: self.profiles.metrics.metrics(key[1], vo) for key in joined}
        series = self._series(samples, metrics)
        windows = _downtimes(downtimes, set(joined))
        excluded = _excluded(exclusions, {site})
        out = []
        for day in _days(start, end, now):
            endpoints = {
                key: self._endpoint(
                    series, key, metrics[key], windows.get(key, []), day, excluded=excluded
                )
                for key in sorted(joined)
            }
            present = sorted(key for key, first in joined.items() if first <= day.day)
            combined = self._site(
                series, present, metrics, windows, day, excluded=excluded, computed=endpoints
            )
            out.append(
                DayTimelines(
                    day.day,
                    day.start,
                    combined,
                    endpoints,
                    self._metrics(series, metrics, day, excluded=excluded),
                )
            )
        return out

    def endpoint_timelines(
        self,
        samples: Samples,
        downtimes: Iterable[DowntimeRow],
        *,
        endpoint: str,
        service_type: str,
        vo: str,
        start: date,
        end: date,
        now: datetime | None = None,
        exclusions: Iterable[ExclusionRow] = (),
        sites: Collection[str] = (),
    ) -> list[DayTimelines]:
        """The timelines behind ``endpoint_days``' figures, day by day: the endpoint's and
        each of its metrics'. Raises AvailabilityError for an unmonitored service type."""
        key = (endpoint, service_type)
        names = self.profiles.metrics.metrics(service_type, vo)
        if not names:
            raise AvailabilityError(
                f"service type {service_type!r} has no metrics in the metric profile"
            )
        metrics = {key: names}
        series = self._series(samples, metrics)
        windows = _downtimes(downtimes, {key}).get(key, [])
        excluded = _excluded(exclusions, sites)
        out = []
        for day in _days(start, end, now):
            timeline = self._endpoint(series, key, names, windows, day, excluded=excluded)
            out.append(
                DayTimelines(
                    day.day,
                    day.start,
                    timeline,
                    {key: timeline},
                    self._metrics(series, metrics, day, excluded=excluded),
                )
            )
        return out

    def _metrics(
        self,
        series: Mapping[tuple[str, str, str], _Series],
        metrics: Mapping[_Key, tuple[str, ...]],
        day: _Day,
        excluded: _Excluded,
    ) -> dict[tuple[str, str, str], Timeline]:
        return {
            (*key, metric): self._metric(series.get((*key, metric)), day, excluded.of(metric))
            for key in sorted(metrics)
            for metric in metrics[key]
        }

    def monitored(self, memberships: Iterable[MembershipRow], vo: str) -> dict[str, set[_Key]]:
        """Per site, the endpoints that take part in its figures for ``vo``: what
        ``all_days`` reports on."""
        return {site: set(keys) for site, keys in self._joined(memberships, vo).items()}

    def _joined(
        self, memberships: Iterable[MembershipRow], vo: str, site: str | None = None
    ) -> dict[str, dict[_Key, date]]:
        """Per site, its monitored endpoints for ``vo`` and the day each joined it."""
        aggregation = self.profiles.aggregation
        joined: dict[str, dict[_Key, date]] = {}
        for member in memberships:
            key = (member.endpoint, member.service_type)
            if member.vo != vo or (site is not None and member.site != site):
                continue
            if aggregation.group_of(key[1]) is None or not self.profiles.metrics.metrics(
                key[1], vo
            ):
                continue
            first = as_utc(member.first_seen).date()
            keys = joined.setdefault(member.site, {})
            keys[key] = min(first, keys.get(key, first))
        return joined

    def _site_figures(
        self,
        samples: Samples,
        downtimes: Iterable[DowntimeRow],
        joined: Mapping[_Key, date],
        vo: str,
        days: Sequence[_Day],
        *,
        excluded: _Excluded,
        with_endpoints: bool,
    ) -> SiteDays:
        metrics = {key: self.profiles.metrics.metrics(key[1], vo) for key in joined}
        series = self._series(samples, metrics)
        windows = _downtimes(downtimes, set(joined))
        figures = []
        endpoint_figures: dict[_Key, list[DayFigures]] = {key: [] for key in joined}
        for day in days:
            timelines = {
                key: self._endpoint(
                    series, key, metrics[key], windows.get(key, []), day, excluded=excluded
                )
                for key in (joined if with_endpoints else ())
            }
            present = sorted(key for key, first in joined.items() if first <= day.day)
            timeline = self._site(
                series, present, metrics, windows, day, excluded=excluded, computed=timelines
            )
            figures.append(day_figures(day.day, timeline.seconds()))
            for key, endpoint_timeline in timelines.items():
                endpoint_figures[key].append(day_figures(day.day, endpoint_timeline.seconds()))
        return SiteDays(figures, endpoint_figures if with_endpoints else {})

    def _site(
        self,
        series: Mapping[tuple[str, str, str], _Series],
        present: Sequence[_Key],
        metrics: Mapping[_Key, tuple[str, ...]],
        windows: Mapping[_Key, list[tuple[int, int]]],
        day: _Day,
        *,
        excluded: _Excluded,
        computed: Mapping[_Key, Timeline],
    ) -> Timeline:
        # group -> service type -> endpoint timelines, in profile order
        grouped: dict[str, tuple[Group, dict[str, list[Timeline]]]] = {}
        for key in present:
            group = self.profiles.aggregation.group_of(key[1])
            assert group is not None  # memberships outside the profiles were left out
            services = grouped.setdefault(group.name, (group, {}))[1]
            timeline = computed.get(key)
            if timeline is None:
                timeline = self._endpoint(
                    series, key, metrics[key], windows.get(key, []), day, excluded=excluded
                )
            services.setdefault(key[1], []).append(timeline)
        table = self.profiles.operations.table
        group_timelines = (
            fold(
                (
                    _some(fold(endpoints, table(group.services[service_type])))
                    for service_type, endpoints in services.items()
                ),
                table(group.operation),
            )
            for group, services in grouped.values()
        )
        site = fold((_some(g) for g in group_timelines), self._profile_op)
        return site if site is not None else Timeline.constant(MISSING, day.length)

    def _endpoint(
        self,
        series: Mapping[tuple[str, str, str], _Series],
        key: _Key,
        metrics: tuple[str, ...],
        windows: list[tuple[int, int]],
        day: _Day,
        *,
        excluded: _Excluded = _NOTHING_EXCLUDED,
    ) -> Timeline:
        timeline = _some(
            fold(
                (
                    self._metric(series.get((*key, metric)), day, excluded.of(metric))
                    for metric in metrics
                ),
                self._metric_op,
            )
        )
        return overlay(timeline, _clip(windows, day), DOWNTIME)

    def _metric(
        self, series: _Series | None, day: _Day, excluded: list[tuple[int, int]]
    ) -> Timeline:
        """The metric's timeline of ``day``, UNKNOWN where ``excluded`` (ARGO's EXCLUDED:
        it leaves both the availability and the reliability denominators)."""
        return overlay(self._measured(series, day), _clip(excluded, day), UNKNOWN)

    def _measured(self, series: _Series | None, day: _Day) -> Timeline:
        if series is None:
            return Timeline.constant(MISSING, day.length)
        seconds, states = series.seconds, series.states
        previous_day = bisect_left(seconds, day.start - SECONDS_PER_DAY)
        first = bisect_left(seconds, day.start)
        last = bisect_left(seconds, day.start + day.length)
        initial = MISSING
        if first > previous_day:
            # the last result of D-1 carries over; results of D-2 never do
            k = first - 1
            initial = states[k]
            while k > previous_day and seconds[k - 1] == seconds[first - 1]:
                k -= 1
                initial = self._same_second[initial][states[k]]
        points = [(seconds[k] - day.start, states[k]) for k in range(first, last)]
        return from_results(initial, points, day.length, self._same_second)

    def _series(
        self, samples: Samples, metrics: Mapping[_Key, tuple[str, ...]]
    ) -> dict[tuple[str, str, str], _Series]:
        wanted = {(*key, metric) for key, names in metrics.items() for metric in names}
        if isinstance(samples, GroupedSamples):
            return _grouped(samples, wanted)
        collected: dict[tuple[str, str, str], list[tuple[int, int]]] = {}
        # the store hands many samples the same timestamp object (and a datetime keeps its
        # hash): each is converted once
        seconds: dict[datetime, int] = {}
        for sample in samples:
            key = (sample.endpoint, sample.service_type, sample.metric)
            if key not in wanted:
                continue
            state = STATE_INDEX.get(sample.status)
            if state is None:
                raise AvailabilityError(
                    f"result of {sample.metric} on {sample.endpoint} at {sample.timestamp}"
                    f" has unknown status {sample.status!r}"
                )
            moment = sample.timestamp
            second = seconds.get(moment)
            if second is None:
                second = seconds[moment] = epoch(moment)
            collected.setdefault(key, []).append((second, state))
        series = {}
        for key, points in collected.items():
            points.sort()
            series[key] = _Series([p[0] for p in points], [p[1] for p in points])
        return series


def _grouped(
    samples: GroupedSamples, wanted: Collection[tuple[str, str, str]]
) -> dict[tuple[str, str, str], _Series]:
    """The ``wanted`` series of the store's, as the engine's: the parts of one (from
    several sites or VOs) merged in the order rows would take."""
    parts: dict[tuple[str, str, str], list[SeriesRow]] = {}
    for one in samples.series:
        key = (one.endpoint, one.service_type, one.metric)
        if key in wanted:
            parts.setdefault(key, []).append(one)
    series = {}
    for key, found in parts.items():
        if len(found) == 1:
            series[key] = _Series(found[0].seconds, _states(found[0]))
            continue
        points = sorted(p for one in found for p in zip(one.seconds, _states(one), strict=True))
        series[key] = _Series([p[0] for p in points], [p[1] for p in points])
    return series


def _states(series: SeriesRow) -> list[int]:
    try:
        return list(map(STATE_INDEX.__getitem__, series.statuses))
    except KeyError as exc:
        position = list(series.statuses).index(exc.args[0])
        moment = datetime.fromtimestamp(series.seconds[position], UTC)
        raise AvailabilityError(
            f"result of {series.metric} on {series.endpoint} at {moment}"
            f" has unknown status {exc.args[0]!r}"
        ) from None


def _by_site(
    samples: Iterable[SiteSampleRow] | GroupedSamples,
) -> Mapping[str, Samples]:
    if isinstance(samples, GroupedSamples):
        grouped: dict[str, list[SeriesRow]] = {}
        for one in samples.series:
            grouped.setdefault(one.site, []).append(one)
        return {site: _SiteSeries(series) for site, series in grouped.items()}
    rows: dict[str, list[SiteSampleRow]] = {}
    for sample in samples:
        rows.setdefault(sample.site, []).append(sample)
    return rows


def _some(timeline: Timeline | None) -> Timeline:
    # every fold here runs over at least one timeline: a present key has metrics
    assert timeline is not None
    return timeline


def _days(start: date, end: date, now: datetime | None) -> list[_Day]:
    if end < start:
        raise AvailabilityError(f"the range ends ({end}) before it starts ({start})")
    limit = epoch(now if now is not None else datetime.now(UTC))
    days = []
    for day in dates(start, end):
        begin = epoch(datetime(day.year, day.month, day.day, tzinfo=UTC))
        length = min(SECONDS_PER_DAY, limit - begin)
        if length <= 0:
            break
        days.append(_Day(day, begin, length))
    return days


def _downtimes(
    downtimes: Iterable[DowntimeRow], keys: set[_Key]
) -> dict[_Key, list[tuple[int, int]]]:
    """Scheduled downtimes per endpoint as merged, sorted epoch intervals."""
    raw: dict[_Key, list[tuple[int, int]]] = {}
    for window in downtimes:
        key = (window.endpoint, window.service_type)
        if not window.scheduled or key not in keys:
            continue
        begin, finish = epoch(window.start), epoch(window.end)
        if finish > begin:
            raw.setdefault(key, []).append((begin, finish))
    return {key: _merged(intervals) for key, intervals in raw.items()}


def _merged(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``intervals`` sorted, the overlapping and touching ones joined."""
    out: list[tuple[int, int]] = []
    for begin, finish in sorted(intervals):
        if out and begin <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], finish))
        else:
            out.append((begin, finish))
    return out


def _excluded(exclusions: Iterable[ExclusionRow], sites: Collection[str]) -> _Excluded:
    """The periods ``exclusions`` exclude for spaces counted in one of ``sites``: an
    exclusion of no named site covers every site."""
    every: list[tuple[int, int]] = []
    named: dict[str, list[tuple[int, int]]] = {}
    for exclusion in exclusions:
        if exclusion.sites and not any(site in sites for site in exclusion.sites):
            continue
        begin, finish = epoch(exclusion.start), epoch(exclusion.end)
        if finish <= begin:
            continue
        if not exclusion.metrics:
            every.append((begin, finish))
        for metric in exclusion.metrics:
            named.setdefault(metric, []).append((begin, finish))
    if not every and not named:
        return _NOTHING_EXCLUDED
    return _Excluded(
        _merged(every), {metric: _merged(own + every) for metric, own in named.items()}
    )


def _clip(windows: list[tuple[int, int]], day: _Day) -> list[tuple[int, int]]:
    """The parts of ``windows`` inside ``day``, as seconds of the day."""
    end = day.start + day.length
    return [
        (max(begin, day.start) - day.start, min(finish, end) - day.start)
        for begin, finish in windows
        if begin < end and finish > day.start
    ]
