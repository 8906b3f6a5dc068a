"""Reading: the queries of the dashboard API (the trends' counts among them) and the input of
the A/R engine."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
import operator
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from itertools import groupby
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from vmsam.server.store import _models as m
from vmsam.server.store._changes import Point, kept
from vmsam.server.store._records import (
    SEVERITY,
    AuditEntry,
    BootCount,
    DeadLetter,
    Downtime,
    EndpointStatus,
    Member,
    MetricSeries,
    MetricStatus,
    PerfRow,
    ResultTimelineRow,
    RuleVersion,
    SiteStatus,
    StatusInput,
    StoredResult,
    TimelineInput,
    TimelineSeries,
    TrendCount,
    storable,
)

_CARRY_OVER = timedelta(days=1)
# rows fetched at a time by timeline_input: a month does not sit in memory twice
_CHUNK = 20_000
# PostgreSQL's work_mem while it sorts the results of a period (the default is 4 MB)
_SORT_MEMORY = "256MB"
_WORST = {severity: status for status, severity in SEVERITY.items()}


class Restatus(Protocol):
    """What a threshold profile does to the statuses the engine is handed
    (vmsam.server.availability.ThresholdProfile)."""

    def covers(self, metric: str) -> bool: ...

    def derive(self, metric: str, status: str, perf_data: str | None) -> str | None:
        """The status to use; None when the perfdata cannot be judged (the probe's stays)."""
        ...


R = m.RESULTS
E = m.ENDPOINTS
S = m.SITES
MEMBERS = m.MEMBERSHIPS
SERIES = m.SERIES
C = m.STATUS_CHANGES
DOWNTIMES = m.DOWNTIMES
LETTERS = m.DEAD_LETTERS
AUDIT = m.AUDIT


def _page(limit: int, offset: int) -> None:
    if limit < 0 or offset < 0:
        raise ValueError("limit and offset must not be negative")


def _equals(column: sa.ColumnElement[str], value: str) -> sa.ColumnElement[bool]:
    # a value no database can hold matches nothing; PostgreSQL would refuse to compare it
    return column == value if storable(value) else sa.false()


def _site_id(name: str) -> sa.ScalarSelect[int]:
    return sa.select(S.c.id).where(_equals(S.c.name, name)).scalar_subquery()


def _endpoint_ids(hostname: str, service_type: str | None = None) -> sa.Select[tuple[int]]:
    query = sa.select(E.c.id).where(_equals(E.c.hostname, hostname))
    if service_type is not None:
        query = query.where(_equals(E.c.service_type, service_type))
    return query


def results(
    connection: Connection,
    *,
    site: str | None,
    endpoint: str | None,
    metric: str | None,
    vo: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    offset: int,
    signature: str | None = None,
) -> tuple[int, list[StoredResult]]:
    _page(limit, offset)
    conditions: list[sa.ColumnElement[bool]] = []
    if site is not None:
        conditions.append(R.c.site_id == _site_id(site))
    if endpoint is not None:
        conditions.append(R.c.endpoint_id.in_(_endpoint_ids(endpoint)))
    if metric is not None:
        conditions.append(_equals(R.c.metric, metric))
    if vo is not None:
        conditions.append(_equals(R.c.vo, vo))
    if since is not None:
        conditions.append(R.c.timestamp >= since)
    if until is not None:
        conditions.append(R.c.timestamp < until)
    if signature is not None:
        # "none": not checked (NULL)
        column = R.c.signature
        conditions.append(column.is_(None) if signature == "none" else column == signature)
    total = connection.execute(
        sa.select(sa.func.count()).select_from(R).where(*conditions)
    ).scalar_one()
    page = connection.execute(
        sa.select(
            S.c.name.label("site"),
            E.c.hostname.label("endpoint"),
            E.c.service_type,
            R.c.metric,
            R.c.vo,
            R.c.status,
            R.c.timestamp,
            R.c.summary,
            R.c.details,
            R.c.vm_uuid,
            R.c.machinetype,
            R.c.gathered_at,
            R.c.signature,
            R.c.signer,
        )
        .select_from(R.join(E, R.c.endpoint_id == E.c.id).join(S, R.c.site_id == S.c.id))
        .where(*conditions)
        .order_by(R.c.timestamp.desc(), R.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return total, [StoredResult(**row._asdict()) for row in page]


def dead_letters(
    connection: Connection, *, limit: int, offset: int
) -> tuple[int, list[DeadLetter]]:
    _page(limit, offset)
    total = connection.execute(sa.select(sa.func.count()).select_from(LETTERS)).scalar_one()
    page = connection.execute(
        sa.select(LETTERS.c.received_at, LETTERS.c.reason, LETTERS.c.body, LETTERS.c.headers)
        .order_by(LETTERS.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return total, [
        DeadLetter(received_at, reason, bytes(body).decode("utf-8", "backslashreplace"), headers)
        for received_at, reason, body, headers in page
    ]


def _downtime_query(table: sa.Table = DOWNTIMES) -> sa.Select[Any]:
    """The downtimes as records, from ``table``: the current ones, or their versions."""
    key = table.c.id if table is DOWNTIMES else table.c.downtime_id
    return sa.select(
        key,
        E.c.hostname,
        E.c.service_type,
        table.c.start,
        table.c.end,
        table.c.scheduled,
        table.c.description,
    ).select_from(table.join(E, table.c.endpoint_id == E.c.id))


def downtimes(
    connection: Connection,
    *,
    endpoint: str | None,
    start: datetime | None,
    end: datetime | None,
    service_type: str | None = None,
    site: str | None = None,
    vo: str | None = None,
) -> list[Downtime]:
    """Downtimes overlapping [start, end), oldest first; of the endpoints of ``site`` and
    of ``vo`` when given."""
    query = _where_downtimes(
        _downtime_query(),
        DOWNTIMES,
        endpoint=endpoint,
        service_type=service_type,
        site=site,
        vo=vo,
        start=start,
        end=end,
    )
    query = query.order_by(DOWNTIMES.c.start, DOWNTIMES.c.id)
    return [Downtime(*row) for row in connection.execute(query)]


def _where_downtimes(
    query: sa.Select[Any],
    table: sa.Table,
    *,
    endpoint: str | None,
    service_type: str | None,
    site: str | None,
    vo: str | None,
    start: datetime | None,
    end: datetime | None,
) -> sa.Select[Any]:
    if endpoint is not None:
        query = query.where(table.c.endpoint_id.in_(_endpoint_ids(endpoint, service_type)))
    if site is not None:
        members = sa.select(MEMBERS.c.endpoint_id).where(MEMBERS.c.site_id == _site_id(site))
        query = query.where(table.c.endpoint_id.in_(members))
    if vo is not None:
        members = sa.select(MEMBERS.c.endpoint_id).where(_equals(MEMBERS.c.vo, vo))
        query = query.where(table.c.endpoint_id.in_(members))
    if start is not None:
        query = query.where(table.c.end > start)
    if end is not None:
        query = query.where(table.c.start < end)
    return query


def downtimes_in_force(
    connection: Connection,
    *,
    start: datetime,
    end: datetime,
    settled: Mapping[date, datetime],
    endpoint: str | None = None,
    service_type: str | None = None,
    site: str | None = None,
) -> list[Downtime]:
    """The downtimes that count in [start, end): on each day of ``settled`` the versions in
    force at its settlement, on the other days the current downtimes; each cut to the days
    it counts on, oldest first."""
    spans = _rule_spans(start, end, settled)
    if all(moment is None for moment, _, _ in spans):
        return downtimes(
            connection,
            endpoint=endpoint,
            service_type=service_type,
            site=site,
            start=start,
            end=end,
        )
    current = downtimes(
        connection, endpoint=endpoint, service_type=service_type, site=site, start=start, end=end
    )
    moments = [moment for moment, _, _ in spans if moment is not None]
    V = m.DOWNTIME_VERSIONS
    query = _where_downtimes(
        _downtime_query(V).add_columns(V.c.recorded_at, V.c.retired_at),
        V,
        endpoint=endpoint,
        service_type=service_type,
        site=site,
        vo=None,
        start=start,
        end=end,
    ).where(
        V.c.recorded_at <= max(moments),
        sa.or_(V.c.retired_at.is_(None), V.c.retired_at > min(moments)),
    )
    versions = [(Downtime(*row[:7]), row[7], row[8]) for row in connection.execute(query)]
    counted: list[Downtime] = []
    for moment, begin, until in spans:
        if moment is None:
            in_force = current
        else:
            in_force = [
                version
                for version, recorded, retired in versions
                if recorded <= moment and (retired is None or retired > moment)
            ]
        for downtime in in_force:
            first, last = max(downtime.start, begin), min(downtime.end, until)
            if first < last:
                counted.append(dataclasses.replace(downtime, start=first, end=last))
    counted.sort(key=lambda downtime: (downtime.start, downtime.id))
    return counted


def _rule_spans(
    start: datetime, end: datetime, settled: Mapping[date, datetime]
) -> list[tuple[datetime | None, datetime, datetime]]:
    """[start, end) in runs of days that share their rules' moment: a settled day's
    settlement, or None (the current rules)."""
    spans: list[tuple[datetime | None, datetime, datetime]] = []
    moment = start
    while moment < end:
        day = moment.date()
        following = datetime.combine(day + timedelta(days=1), time(), UTC)
        until = min(following, end)
        rules = settled.get(day)
        if spans and spans[-1][0] == rules and spans[-1][2] == moment:
            spans[-1] = (rules, spans[-1][1], until)
        else:
            spans.append((rules, moment, until))
        moment = until
    return spans


def downtime(connection: Connection, downtime_id: int) -> Downtime | None:
    found = connection.execute(_downtime_query().where(DOWNTIMES.c.id == downtime_id)).first()
    return Downtime(*found) if found is not None else None


def unknown_name(
    connection: Connection, *, site: str | None, endpoint: str | None, vo: str | None
) -> str | None:
    """What is unknown among a site, an endpoint (results or downtimes name it) and a VO
    (results name it), as "unknown site 'X'"; None when the store knows them all."""
    checks: list[tuple[str, str | None, sa.Select[Any]]] = [
        ("site", site, sa.select(S.c.id).where(_equals(S.c.name, site or ""))),
        ("endpoint", endpoint, sa.select(E.c.id).where(_equals(E.c.hostname, endpoint or ""))),
        ("vo", vo, sa.select(MEMBERS.c.vo).where(_equals(MEMBERS.c.vo, vo or ""))),
    ]
    for what, name, query in checks:
        if name is not None and connection.execute(query.limit(1)).first() is None:
            return f"unknown {what} {name[:100]!r}"
    return None


def seen_service_types(connection: Connection, endpoint: str) -> list[str]:
    """The service types ``endpoint`` has stored results of (membership comes from them)."""
    query = (
        sa.select(E.c.service_type)
        .distinct()
        .select_from(E.join(MEMBERS, MEMBERS.c.endpoint_id == E.c.id))
        .where(_equals(E.c.hostname, endpoint))
        .order_by(E.c.service_type)
    )
    return list(connection.execute(query).scalars())


def audit_log(connection: Connection, *, limit: int, offset: int) -> tuple[int, list[AuditEntry]]:
    """The total and one page of the audit log, newest first."""
    _page(limit, offset)
    total = connection.execute(sa.select(sa.func.count()).select_from(AUDIT)).scalar_one()
    page = connection.execute(
        sa.select(
            AUDIT.c.id,
            AUDIT.c.at,
            AUDIT.c.actor,
            AUDIT.c.client,
            AUDIT.c.action,
            AUDIT.c.kind,
            AUDIT.c.object_id,
            AUDIT.c.before,
            AUDIT.c.after,
        )
        .order_by(AUDIT.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return total, [AuditEntry(*row) for row in page]


def _newest() -> sa.Select[Any]:
    """The newest results of every series: per (endpoint, metric) the results at its latest
    timestamp (two VMs may report in the same second), one index seek each."""
    newest = (
        sa.select(sa.func.max(R.c.timestamp))
        .where(R.c.endpoint_id == SERIES.c.endpoint_id, R.c.metric == SERIES.c.metric)
        .scalar_subquery()
    )
    # MATERIALIZED keeps the planner from turning this inside out into a scan of all results
    latest = (
        sa.select(SERIES.c.endpoint_id, SERIES.c.metric, newest.label("timestamp"))
        .cte("latest")
        .prefix_with("MATERIALIZED")
    )
    return sa.select(R.c.endpoint_id, R.c.vo, R.c.metric, R.c.timestamp, R.c.status).select_from(
        latest.join(
            R,
            sa.and_(
                R.c.endpoint_id == latest.c.endpoint_id,
                R.c.metric == latest.c.metric,
                R.c.timestamp == latest.c.timestamp,
            ),
        )
    )


def sites(connection: Connection) -> list[SiteStatus]:
    worst: dict[tuple[int, str, str], tuple[datetime, int]] = {}
    for endpoint_id, vo, metric, timestamp, status in connection.execute(_newest()):
        key = (endpoint_id, vo, metric)
        # results of the same second combine with AND: the worse one wins
        severity = max(SEVERITY[status], worst.get(key, (timestamp, -1))[1])
        worst[key] = (timestamp, severity)
    metrics: dict[tuple[int, str], list[MetricStatus]] = defaultdict(list)
    for (endpoint_id, vo, metric), (timestamp, severity) in sorted(worst.items()):
        metrics[endpoint_id, vo].append(MetricStatus(metric, _WORST[severity], timestamp))
    by_site: dict[str, list[EndpointStatus]] = defaultdict(list)
    members = (
        sa.select(
            S.c.name, E.c.id, E.c.hostname, E.c.service_type, MEMBERS.c.vo, MEMBERS.c.first_seen
        )
        .select_from(
            MEMBERS.join(S, MEMBERS.c.site_id == S.c.id).join(E, MEMBERS.c.endpoint_id == E.c.id)
        )
        .order_by(S.c.name, E.c.hostname, E.c.service_type, MEMBERS.c.vo)
    )
    for site, endpoint_id, hostname, service_type, vo, first_seen in connection.execute(members):
        newest = tuple(metrics.get((endpoint_id, vo), ()))
        if not newest:
            continue  # its results were stored under another VO name since
        by_site[site].append(
            EndpointStatus(
                endpoint=hostname,
                service_type=service_type,
                vo=vo,
                first_seen=first_seen,
                status=_WORST[max(SEVERITY[metric.status] for metric in newest)],
                last_result=max(metric.timestamp for metric in newest),
                metrics=newest,
            )
        )
    return [
        SiteStatus(name, max(e.last_result for e in endpoints), tuple(endpoints))
        for name, endpoints in by_site.items()
    ]


def version(connection: Connection) -> tuple[int, int, int]:
    """The highest result id, the highest dead-letter id and the revision: one primary-key
    lookup each, and any stored change moves at least one of them."""
    newest_result = sa.select(sa.func.max(R.c.id)).scalar_subquery()
    newest_letter = sa.select(sa.func.max(LETTERS.c.id)).scalar_subquery()
    revision = sa.select(sa.func.max(m.REVISION.c.value)).scalar_subquery()
    row = connection.execute(
        sa.select(
            sa.func.coalesce(newest_result, 0),
            sa.func.coalesce(newest_letter, 0),
            sa.func.coalesce(revision, 0),
        )
    ).one()
    return (int(row[0]), int(row[1]), int(row[2]))


def vos(connection: Connection) -> list[str]:
    query = sa.select(MEMBERS.c.vo).distinct().order_by(MEMBERS.c.vo)
    return list(connection.execute(query).scalars())


def tested_boots_query(since: datetime, until: datetime, vo: str | None) -> sa.Select[Any]:
    # the range on timestamp alone, so that its index picks the rows; the names are joined
    # to the counts, not to every result
    conditions = [R.c.timestamp >= since, R.c.timestamp < until]
    if vo is not None:
        conditions.append(_equals(R.c.vo, vo))
    vm = sa.case((R.c.vm_uuid == "", R.c.gathered_at), else_=R.c.vm_uuid)
    counts = (
        sa.select(R.c.endpoint_id, R.c.vo, sa.func.count(sa.distinct(vm)).label("boots"))
        .where(*conditions)
        .group_by(R.c.endpoint_id, R.c.vo)
        .subquery("counts")
    )
    return (
        sa.select(E.c.hostname, E.c.service_type, counts.c.vo, counts.c.boots)
        .select_from(counts.join(E, counts.c.endpoint_id == E.c.id))
        .order_by(E.c.hostname, E.c.service_type, counts.c.vo)
    )


def tested_boots(
    connection: Connection, *, since: datetime, until: datetime, vo: str | None
) -> list[BootCount]:
    return [BootCount(*row) for row in connection.execute(tested_boots_query(since, until, vo))]


def perf_data(
    connection: Connection, *, since: datetime, until: datetime, vo: str, label: str
) -> list[PerfRow]:
    """The perfdata of the results of ``vo`` in [since, until) that name ``label`` (the
    text is parsed by the caller: the database only leaves out what cannot hold it)."""
    pattern = f"%{label}=%"
    query = (
        sa.select(S.c.name, E.c.hostname, E.c.service_type, R.c.perf_data)
        .select_from(R.join(E, R.c.endpoint_id == E.c.id).join(S, R.c.site_id == S.c.id))
        .where(
            R.c.timestamp >= since,
            R.c.timestamp < until,
            _equals(R.c.vo, vo),
            R.c.perf_data.like(pattern),
        )
    )
    return [PerfRow(*row) for row in connection.execute(query)]


def _changes_query(
    stamp: sa.ColumnElement[Any],
    conditions: Sequence[sa.ColumnElement[bool]],
    extra: Sequence[sa.Column[Any]] = (),
) -> sa.Select[Any]:
    """The status changes kept as the results were written (_changes) matching
    ``conditions`` (on status_changes), their timestamps as ``stamp`` gives them; with
    ``extra`` columns of their results."""
    c = C.c
    query = sa.select(c.endpoint_id, c.metric, c.vo, c.site_id, stamp, c.status, *extra).where(
        *conditions
    )
    if not extra:
        return query
    return query.select_from(
        C.join(
            R,
            sa.and_(
                R.c.endpoint_id == c.endpoint_id,
                R.c.metric == c.metric,
                R.c.timestamp == c.timestamp,
                R.c.gathered_at == c.gathered_at,
                R.c.vm_uuid == c.vm_uuid,
            ),
        )
    )


def _ordered_rows(
    connection: Connection, conditions: Sequence[sa.ColumnElement[bool]], covered: list[str]
) -> sa.Select[Any]:
    """Every row matching ``conditions`` in the order of its series, with the perfdata of
    the ``covered`` metrics (NULL for the others: not worth carrying)."""
    perf = sa.case((R.c.metric.in_(covered), R.c.perf_data), else_=sa.null()) if covered else None
    return (
        sa.select(
            R.c.endpoint_id,
            R.c.metric,
            R.c.vo,
            R.c.site_id,
            R.c.timestamp,
            R.c.status,
            (perf if perf is not None else sa.null()).label("perf_data"),
        )
        .where(*conditions)
        .order_by(R.c.endpoint_id, R.c.metric, R.c.timestamp, R.c.gathered_at, R.c.vm_uuid)
    )


class _Derived:
    """Rows of one (endpoint, metric) in time order, their status derived by a threshold
    profile, and the count of those it could not judge."""

    def __init__(self, restatus: Restatus) -> None:
        self.restatus = restatus
        self.unjudged = 0

    def status(self, metric: str, status: str, perf_data: str | None) -> str:
        derived = self.restatus.derive(metric, status, perf_data)
        if derived is None:
            self.unjudged += 1
            return status
        return derived


def _derived_changes(
    connection: Connection,
    conditions: Sequence[sa.ColumnElement[bool]],
    derived: _Derived,
) -> Iterable[tuple[int, str, str, int, int, str]]:
    """With a threshold profile the stored statuses are not the ones that count, so the
    stored changes do not tell which rows change something: every row is read in order,
    its status derived, and the changes found here with the writer's rule (their
    timestamps as epoch seconds, as _epoch_seconds gives them)."""
    covered = [
        metric
        for metric in connection.execute(sa.select(SERIES.c.metric).distinct()).scalars()
        if derived.restatus.covers(metric)
    ]
    rows = connection.execution_options(yield_per=_CHUNK).execute(
        _ordered_rows(connection, conditions, covered)
    )
    for (endpoint_id, metric), series in groupby(rows, key=lambda row: (row[0], row[1])):
        points = [
            Point(stamp, "", "", derived.status(metric, status, perf), site_id, row_vo)
            for _, _, row_vo, site_id, stamp, status, perf in series
        ]
        for i in kept(points):
            point = points[i]
            second = _whole_second(point.timestamp)
            yield endpoint_id, metric, point.vo, point.site_id, second, point.status


def _members(connection: Connection, conditions: Sequence[sa.ColumnElement[bool]]) -> list[Member]:
    query = (
        sa.select(E.c.hostname, E.c.service_type, S.c.name, MEMBERS.c.vo, MEMBERS.c.first_seen)
        .select_from(
            MEMBERS.join(S, MEMBERS.c.site_id == S.c.id).join(E, MEMBERS.c.endpoint_id == E.c.id)
        )
        .where(*conditions)
        .order_by(MEMBERS.c.first_seen)
    )
    return [Member(*row) for row in connection.execute(query)]


def members(connection: Connection, vo: str) -> list[Member]:
    """Every endpoint's membership of a site for ``vo``, the earliest first."""
    return _members(connection, [_equals(MEMBERS.c.vo, vo)])


def _endpoint_names(connection: Connection) -> dict[int, tuple[str, str]]:
    """Every endpoint's host name and service type, by id."""
    query = sa.select(E.c.id, E.c.hostname, E.c.service_type)
    return {
        endpoint_id: (hostname, kind) for endpoint_id, hostname, kind in connection.execute(query)
    }


def _site_names(connection: Connection) -> dict[int, str]:
    return {site_id: name for site_id, name in connection.execute(sa.select(S.c.id, S.c.name))}


def _period_conditions(
    table: sa.Table,
    *,
    start: datetime,
    end: datetime,
    vo: str | None,
    site: str | None,
    endpoint: str | None,
    service_type: str | None,
) -> tuple[list[sa.ColumnElement[bool]], list[sa.ColumnElement[bool]]]:
    """What the rows of ``table`` (results or status changes: from midnight of the day
    before ``start``, for the carry-over, to ``end``) and the memberships of a period's
    load must match. From midnight: the first result of a day is a kept change, so that
    every series starts with one."""
    if end <= start:
        raise ValueError("the end of the period must come after its start")
    try:
        since = datetime.combine(start.astimezone(UTC).date(), time(), UTC) - _CARRY_OVER
    except OverflowError:
        raise ValueError("the start of the period is out of range") from None
    rows = table.c
    conditions: list[sa.ColumnElement[bool]] = [
        rows.timestamp >= since,
        rows.timestamp < end,
    ]
    member_conditions: list[sa.ColumnElement[bool]] = []
    if vo is not None:
        conditions.append(_equals(rows.vo, vo))
        member_conditions.append(_equals(MEMBERS.c.vo, vo))
    if site is not None:
        conditions.append(rows.site_id == _site_id(site))
        member_conditions.append(MEMBERS.c.site_id == _site_id(site))
    if endpoint is not None:
        conditions.append(rows.endpoint_id.in_(_endpoint_ids(endpoint, service_type)))
        member_conditions.append(MEMBERS.c.endpoint_id.in_(_endpoint_ids(endpoint, service_type)))
    return conditions, member_conditions


def _timeline_series(
    rows: Iterable[tuple[int, str, str, int, int, str]],
    endpoints: Mapping[int, tuple[str, str]],
    site_names: Mapping[int, str],
) -> TimelineSeries:
    """The engine's series of rows of ``(endpoint id, metric, vo, site id, epoch second,
    status)``. The hot loop of a month's load (hundreds of thousands of rows) only puts
    each row in its series; a series is sorted only when its rows came out of order (the
    database reads them in time order when it scans by time)."""
    grouped: dict[tuple[int, str, str, int], tuple[list[int], list[str]]] = {}
    for endpoint_id, metric, row_vo, site_id, second, status in rows:
        key = (endpoint_id, metric, row_vo, site_id)
        found = grouped.get(key)
        if found is None:
            found = grouped[key] = ([], [])
        found[0].append(second)
        found[1].append(status)
    series = []
    for (endpoint_id, metric, row_vo, site_id), (seconds, statuses) in grouped.items():
        if not all(map(operator.le, seconds, itertools.islice(seconds, 1, None))):
            # by second only: results of one second combine in any order
            order = sorted(range(len(seconds)), key=seconds.__getitem__)
            seconds[:] = [seconds[i] for i in order]
            statuses[:] = [statuses[i] for i in order]
        endpoint, service_type = endpoints[endpoint_id]
        name = site_names[site_id]
        series.append(MetricSeries(endpoint, service_type, metric, row_vo, name, seconds, statuses))
    return TimelineSeries(series)


def _whole_second(moment: datetime) -> int:
    return math.floor(moment.timestamp())


def _epoch_seconds(dialect: sa.Dialect) -> sa.ColumnElement[int]:
    """The status changes' timestamps as whole epoch seconds (a fraction counts for its
    second), computed by the database: the driver then builds no datetimes."""
    stamp = C.c.timestamp
    if dialect.name == "sqlite":
        # microseconds since the epoch (UTCDateTime); SQLite's integer division truncates
        # towards zero, so a moment before 1970 is floored by hand
        micros = sa.type_coerce(stamp, sa.BigInteger())
        return sa.case(
            (micros >= 0, micros // 1_000_000),
            else_=-((999_999 - micros) // 1_000_000),
        )
    return sa.cast(sa.func.floor(sa.extract("epoch", stamp)), sa.BigInteger)


def _prepare_sort(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        # for this transaction only: compiling the query costs more than it saves, and the
        # sort of a month's rows fits in memory rather than in temporary files
        connection.exec_driver_sql("SET LOCAL jit = off")
        connection.exec_driver_sql(f"SET LOCAL work_mem = '{_SORT_MEMORY}'")


def timeline_input(
    connection: Connection,
    *,
    start: datetime,
    end: datetime,
    vo: str | None,
    site: str | None,
    endpoint: str | None,
    service_type: str | None,
    restatus: Restatus | None = None,
    settled: Mapping[date, datetime] | None = None,
) -> TimelineInput:
    """The engine's input; with ``restatus`` (a threshold profile) the statuses it derives,
    and the changes found on them; the downtimes in force on the ``settled`` days at their
    settlement."""
    endpoints = _endpoint_names(connection)
    site_names = _site_names(connection)
    derived = _Derived(restatus) if restatus is not None else None
    table = R if derived is not None else C
    conditions, member_conditions = _period_conditions(
        table, start=start, end=end, vo=vo, site=site, endpoint=endpoint, service_type=service_type
    )
    _prepare_sort(connection)
    rows: Iterable[tuple[int, str, str, int, int, str]]
    with contextlib.ExitStack() as stack:
        if derived is None:
            found = stack.enter_context(
                connection.execute(_changes_query(_epoch_seconds(connection.dialect), conditions))
            )
            # the driver's own rows, a chunk at a time: this query's values need no type
            # processing. Not streamed: SQLAlchemy's buffer of a streamed result would hold
            # rows back from the cursor; psycopg keeps a month's changes compactly in
            # libpq's memory
            cursor = found.cursor
            rows = itertools.chain.from_iterable(iter(lambda: cursor.fetchmany(_CHUNK), []))
        else:
            rows = _derived_changes(connection, conditions, derived)
        results = _timeline_series(rows, endpoints, site_names)

    found_members = _members(connection, member_conditions)
    overlapping = downtimes_in_force(
        connection,
        endpoint=endpoint,
        service_type=service_type,
        site=site,
        start=start,
        end=end,
        settled=settled or {},
    )
    unjudged = derived.unjudged if derived is not None else 0
    return TimelineInput(start, end, results, overlapping, found_members, unjudged)


# what a status timeline names of the result that set a status
_DETAILS = (R.c.gathered_at, R.c.vm_uuid, R.c.machinetype, R.c.summary)


def status_input(
    connection: Connection,
    *,
    start: datetime,
    end: datetime,
    vo: str,
    site: str | None,
    endpoint: str | None,
    service_type: str | None,
    settled: Mapping[date, datetime] | None = None,
) -> StatusInput:
    """timeline_input's rows of one site or endpoint, each with the VM that gave it: the
    same status changes, so the engine builds the same timelines from them."""
    endpoints = _endpoint_names(connection)
    site_names = _site_names(connection)
    conditions, member_conditions = _period_conditions(
        C, start=start, end=end, vo=vo, site=site, endpoint=endpoint, service_type=service_type
    )
    _prepare_sort(connection)
    results = [
        ResultTimelineRow(
            *endpoints[endpoint_id], metric, row_vo, site_names[site_id], stamp, status, *details
        )
        for endpoint_id, metric, row_vo, site_id, stamp, status, *details in connection.execute(
            _changes_query(C.c.timestamp, conditions, _DETAILS)
        )
    ]
    overlapping = downtimes_in_force(
        connection,
        endpoint=endpoint,
        service_type=service_type,
        site=site,
        start=start,
        end=end,
        settled=settled or {},
    )
    return StatusInput(start, end, results, overlapping, _members(connection, member_conditions))


def _trend_counts_query(
    since: datetime, until: datetime, vo: str, site: str | None
) -> sa.Select[tuple[Any, ...]]:
    conditions = [R.c.timestamp >= since, R.c.timestamp < until, _equals(R.c.vo, vo)]
    if site is not None:
        conditions.append(R.c.site_id == _site_id(site))
    # each result against the one before it of its (endpoint, metric), in the order of the
    # results' unique key (its index serves the window, as for the A/R load)
    previous = (
        sa.func.lag(R.c.status)
        .over(
            partition_by=(R.c.endpoint_id, R.c.metric),
            order_by=(R.c.timestamp, R.c.gathered_at, R.c.vm_uuid),
        )
        .label("previous")
    )
    ordered = (
        sa.select(R.c.site_id, R.c.endpoint_id, R.c.metric, R.c.machinetype, R.c.status, previous)
        .where(*conditions)
        .subquery("ordered")
    )
    row = ordered.c
    changed = sa.case((sa.and_(row.previous.is_not(None), row.previous != row.status), 1), else_=0)
    keys = (row.site_id, row.endpoint_id, row.metric, row.machinetype, row.status)
    return sa.select(*keys, sa.func.count(), sa.func.sum(changed)).group_by(*keys)


def trend_counts(
    connection: Connection, *, since: datetime, until: datetime, vo: str, site: str | None
) -> list[TrendCount]:
    """Per site, endpoint, metric, machinetype and status, the results of ``vo`` in
    [since, until) and how many of them changed their metric's status (a result's
    predecessor being the one before it in the period, of any machinetype)."""
    endpoints = _endpoint_names(connection)
    sites = _site_names(connection)
    _prepare_sort(connection)
    counts = connection.execute(_trend_counts_query(since, until, vo, site))
    return [
        TrendCount(
            sites[site_id],
            *endpoints[endpoint_id],
            metric,
            machinetype,
            status,
            int(results),
            int(changes),
        )
        for site_id, endpoint_id, metric, machinetype, status, results, changes in counts
    ]


def settled_days(connection: Connection, vo: str, first: date, last: date) -> dict[date, datetime]:
    """The settled days of ``vo`` from ``first`` to ``last`` and their settlements."""
    T = m.SETTLED_DAYS
    rows = connection.execute(
        sa.select(T.c.day, T.c.settled_at).where(
            _equals(T.c.vo, vo), T.c.day >= first, T.c.day <= last
        )
    )
    return {day: settled_at for day, settled_at in rows}


def rule_versions(connection: Connection, kind: str, name: str) -> list[RuleVersion]:
    """Every version of the rule document ``kind``/``name``, oldest first."""
    T = m.RULE_VERSIONS
    rows = connection.execute(
        sa.select(T.c.fingerprint, T.c.document, T.c.recorded_at)
        .where(T.c.kind == kind, _equals(T.c.name, name))
        .order_by(T.c.recorded_at, T.c.id)
    )
    return [RuleVersion(*row) for row in rows]
