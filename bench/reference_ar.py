"""A straightforward per-second reading of docs/availability.md: the yardstick for the engine.

Every timeline is a list with one state per second of the day; every operation is applied
second by second; every downtime overwrites its seconds one interval at a time (no merging).
It shares nothing with the engine but the input tuples and the profile data, and rounds with
``decimal`` where the engine uses integer arithmetic. Used by tests/availability and by
bench/bench_ar.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext

from vmsam.server.availability import DowntimeWindow, Membership, Profiles, Sample

STATES = ("OK", "WARNING", "UNKNOWN", "MISSING", "CRITICAL", "DOWNTIME")
DAY = 86400

Result = dict[str, str | float]


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _second(moment: datetime) -> int:
    delta = _utc(moment) - datetime(1970, 1, 1, tzinfo=UTC)
    return delta.days * DAY + delta.seconds


def _op(profiles: Profiles, name: str, a: str, b: str) -> str:
    return profiles.operations.apply(name, a, b)


def _table(profiles: Profiles, name: str) -> dict[tuple[str, str], str]:
    return {(a, b): _op(profiles, name, a, b) for a in STATES for b in STATES}


def _per_second(table: dict[tuple[str, str], str], x: list[str], y: list[str]) -> list[str]:
    return [table[a, b] for a, b in zip(x, y, strict=True)]


def _metric_seconds(
    profiles: Profiles, results: Sequence[tuple[int, str]], begin: int, length: int
) -> list[str]:
    """One metric on one day, from all its results as (epoch second, status)."""
    and_ = _table(profiles, "AND")
    yesterday = [r for r in results if begin - DAY <= r[0] < begin]
    initial = "MISSING"
    if yesterday:
        latest = max(r[0] for r in yesterday)
        # every result in the latest second, ANDed
        at_latest = [status for second, status in yesterday if second == latest]
        initial = at_latest[0]
        for status in at_latest[1:]:
            initial = and_[initial, status]
    by_second: dict[int, str] = {}
    for second, status in results:
        if begin <= second < begin + length:
            offset = second - begin
            by_second[offset] = (
                status if offset not in by_second else and_[by_second[offset], status]
            )
    line = [initial] * length
    changes = sorted(by_second)
    for k, offset in enumerate(changes):
        stop = changes[k + 1] if k + 1 < len(changes) else length
        line[offset:stop] = [by_second[offset]] * (stop - offset)
    return line


def _endpoint_seconds(
    profiles: Profiles,
    samples: Sequence[Sample],
    downtimes: Sequence[DowntimeWindow],
    *,
    key: tuple[str, str],
    vo: str,
    begin: int,
    length: int,
) -> list[str]:
    endpoint, service_type = key
    metric_op = _table(profiles, profiles.aggregation.metric_operation)
    line: list[str] | None = None
    for metric in profiles.metrics.metrics(service_type, vo):
        results = [
            (_second(s.timestamp), s.status)
            for s in samples
            if (s.endpoint, s.service_type, s.metric) == (endpoint, service_type, metric)
        ]
        metric_line = _metric_seconds(profiles, results, begin, length)
        line = metric_line if line is None else _per_second(metric_op, line, metric_line)
    assert line is not None
    for window in downtimes:
        if not window.scheduled or (window.endpoint, window.service_type) != (
            endpoint,
            service_type,
        ):
            continue
        for second in range(_second(window.start), _second(window.end)):
            if begin <= second < begin + length:
                line[second - begin] = "DOWNTIME"
    return line


def _figures(day: date, line: list[str]) -> Result:
    total = len(line)
    up = sum(1 for s in line if s in ("OK", "WARNING"))
    unknown = sum(1 for s in line if s in ("UNKNOWN", "MISSING"))
    down = sum(1 for s in line if s == "DOWNTIME")

    def rounded(numerator: int, denominator: int) -> float:
        if denominator == 0:
            return -1.0
        with localcontext() as context:
            context.prec = 60
            value = Decimal(numerator) / Decimal(denominator)
            return float(value.quantize(Decimal("0.00001"), rounding=ROUND_HALF_UP))

    return {
        "date": day.isoformat(),
        "availability": rounded(100 * up, total - unknown),
        "reliability": rounded(100 * up, total - unknown - down),
        "up": rounded(up, total),
        "unknown": rounded(unknown, total),
        "down": rounded(down, total),
    }


def _days(start: date, end: date, now: datetime | None) -> list[tuple[date, int, int]]:
    limit = _second(now if now is not None else datetime.now(UTC))
    out = []
    day = start
    while day <= end:
        begin = _second(datetime(day.year, day.month, day.day, tzinfo=UTC))
        length = min(DAY, limit - begin)
        if length <= 0:
            break
        out.append((day, begin, length))
        day += timedelta(days=1)
    return out


def endpoint_days(
    profiles: Profiles,
    samples: Iterable[Sample],
    downtimes: Iterable[DowntimeWindow],
    *,
    endpoint: str,
    service_type: str,
    vo: str,
    start: date,
    end: date,
    now: datetime | None = None,
) -> list[Result]:
    mine = [s for s in samples if (s.endpoint, s.service_type) == (endpoint, service_type)]
    windows = list(downtimes)
    return [
        _figures(
            day,
            _endpoint_seconds(
                profiles,
                mine,
                windows,
                key=(endpoint, service_type),
                vo=vo,
                begin=begin,
                length=length,
            ),
        )
        for day, begin, length in _days(start, end, now)
    ]


def site_days(
    profiles: Profiles,
    samples: Iterable[Sample],
    downtimes: Iterable[DowntimeWindow],
    memberships: Iterable[Membership],
    *,
    site: str,
    vo: str,
    start: date,
    end: date,
    now: datetime | None = None,
) -> list[Result]:
    aggregation = profiles.aggregation
    by_endpoint: dict[tuple[str, str], list[Sample]] = {}
    for sample in samples:
        by_endpoint.setdefault((sample.endpoint, sample.service_type), []).append(sample)
    windows = list(downtimes)
    joined: dict[tuple[str, str], date] = {}
    for m in memberships:
        if m.site == site and m.vo == vo:
            key = (m.endpoint, m.service_type)
            joined[key] = min(joined.get(key, date.max), _utc(m.first_seen).date())
    results = []
    for day, begin, length in _days(start, end, now):
        # group name -> service type -> endpoint lines
        groups: dict[str, dict[str, list[list[str]]]] = {}
        for key, first_day in joined.items():
            group = aggregation.group_of(key[1])
            if group is None or not profiles.metrics.metrics(key[1], vo) or first_day > day:
                continue
            line = _endpoint_seconds(
                profiles,
                by_endpoint.get(key, []),
                windows,
                key=key,
                vo=vo,
                begin=begin,
                length=length,
            )
            groups.setdefault(group.name, {}).setdefault(key[1], []).append(line)
        site_line: list[str] | None = None
        for group in aggregation.groups:
            if group.name not in groups:
                continue
            group_line: list[str] | None = None
            for service_type, lines in groups[group.name].items():
                service_op = _table(profiles, group.services[service_type])
                service_line = lines[0]
                for other in lines[1:]:
                    service_line = _per_second(service_op, service_line, other)
                group_line = (
                    service_line
                    if group_line is None
                    else _per_second(_table(profiles, group.operation), group_line, service_line)
                )
            assert group_line is not None
            site_line = (
                group_line
                if site_line is None
                else _per_second(
                    _table(profiles, aggregation.profile_operation), site_line, group_line
                )
            )
        results.append(_figures(day, site_line if site_line is not None else ["MISSING"] * length))
    return results
