"""Status changes: which results of a series the A/R engine cannot do without.

The store keeps them in ``status_changes`` as results are written (the writer judges each
new result against the newest one of its series, kept in ``series``), so that a report of
a month reads the changes instead of finding them among every result. One rule, here, for
the writer, for the rebuild of a store written before schema 0010, and for the statuses a
threshold profile derives (``_read``).

A result is kept unless it repeats the status of the result before it in its series
(endpoint, metric), of the same site, VO and UTC day, and neither shares its second with
another result nor follows a second holding several: such a result changes no timeline
(results of one second combine with AND, so those are all kept), and the first result of
each day is kept, which is what decides whether the next day starts with a carried-over
status or MISSING. A result next to one of another site or VO is kept too, so that the
results of each site and each VO alone still hold their changes. The rule is judged over a
whole series: what it keeps is a superset of what it would keep over any period, site or
VO of it, so one table serves every query (tests/store/test_status_changes.py checks the
engine's figures on it against those on every result).

Keeping a result is never undone: a result arriving late may make one kept earlier a
mere repeat, which costs a row and changes no figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from itertools import groupby
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from vmsam.server.store import _models as m

# results read at a time while a store's changes are rebuilt
_CHUNK = 20_000


class Point(NamedTuple):
    """One result of a series, as the rule sees it, with its place in the series' order."""

    timestamp: datetime  # aware, UTC
    gathered_at: str
    vm_uuid: str
    status: str
    site_id: int
    vo: str

    @property
    def order(self) -> tuple[datetime, str, str]:
        """Its place in the series (the results' unique key, the endpoint and metric apart)."""
        return (self.timestamp, self.gathered_at, self.vm_uuid)


def _second(point: Point) -> datetime:
    return point.timestamp.replace(microsecond=0)


def kept(points: Sequence[Point], *, context: int = 0, paired: bool = False) -> list[int]:
    """The indices of ``points`` (consecutive results of one series, in its order) that the
    rule keeps. The first ``context`` points were judged before: only what the points after
    them change is judged again (the last of them may now share a second or sit next to
    another site). ``paired``: the first point shares its second with the result before it,
    which is not among ``points``."""
    seconds = [_second(point) for point in points]
    last = len(points) - 1
    chosen = []
    if 0 < context <= last:
        i = context - 1
        here, after = points[i], points[i + 1]
        if seconds[i + 1] == seconds[i] or after.site_id != here.site_id or after.vo != here.vo:
            chosen.append(i)
    for i in range(context, last + 1):
        point = points[i]
        if i == 0:
            chosen.append(i)
            continue
        previous = points[i - 1]
        following = points[i + 1] if i < last else None
        if (
            point.status != previous.status
            or point.timestamp.date() != previous.timestamp.date()
            or seconds[i - 1] == seconds[i]
            or (following is not None and seconds[i + 1] == seconds[i])
            or (seconds[i - 2] == seconds[i - 1] if i > 1 else paired)
            or previous.site_id != point.site_id
            or previous.vo != point.vo
            or (
                following is not None
                and (following.site_id != point.site_id or following.vo != point.vo)
            )
        ):
            chosen.append(i)
    return chosen


def paired_last(points: Sequence[Point], *, paired: bool = False) -> bool:
    """Whether the last of ``points`` shares its second with the one before it (``paired``:
    whether the first does, when it is alone)."""
    if len(points) < 2:
        return paired
    return _second(points[-1]) == _second(points[-2])


def rebuild(connection: Connection) -> int:
    """Judge every stored result with the rule and keep the changes and the newest result
    of each series (a store written before schema 0010, or results loaded around the
    writer); the number of changes kept. Idempotent: a change kept already stays once."""
    utc = m.UTCDateTime()
    dialect = connection.dialect
    r = m.RESULTS.c
    stamp = sa.type_coerce(r.timestamp, utc.load_dialect_impl(dialect))
    ordered = (
        sa.select(
            r.endpoint_id, r.metric, stamp, r.gathered_at, r.vm_uuid, r.status, r.site_id, r.vo
        )
        .order_by(r.endpoint_id, r.metric, r.timestamp, r.gathered_at, r.vm_uuid)
        .execution_options(yield_per=_CHUNK)
    )
    insert = (
        (sa.dialects.postgresql if dialect.name == "postgresql" else sa.dialects.sqlite)
        .insert(m.STATUS_CHANGES)
        .on_conflict_do_nothing()
    )
    changes: list[dict[str, Any]] = []
    heads: list[dict[str, Any]] = []
    total = 0
    rows = connection.execute(ordered)
    for (endpoint_id, metric), series in groupby(rows, key=lambda row: (row[0], row[1])):
        points = [
            Point(utc.process_result_value(raw, dialect), gathered, vm, status, site_id, vo)  # type: ignore[arg-type]
            for _, _, raw, gathered, vm, status, site_id, vo in series
        ]
        for i in kept(points):
            changes.append(change_row(endpoint_id, metric, points[i]))
        heads.append(head_row(endpoint_id, metric, points[-1], paired_last(points)))
        if len(changes) >= _CHUNK:
            total += _flush(connection, insert, changes)
    total += _flush(connection, insert, changes)
    if heads:
        columns = m.SERIES.c
        connection.execute(
            sa.update(m.SERIES)
            .where(
                columns.endpoint_id == sa.bindparam("series_endpoint"),
                columns.metric == sa.bindparam("series_metric"),
            )
            .values({name: sa.bindparam(name) for name in heads[0] if name.startswith("head_")}),
            [
                {"series_endpoint": head["endpoint_id"], "series_metric": head["metric"]}
                | {name: value for name, value in head.items() if name.startswith("head_")}
                for head in heads
            ],
        )
    return total


def _flush(connection: Connection, insert: Any, changes: list[dict[str, Any]]) -> int:
    if not changes:
        return 0
    connection.execute(insert, changes)
    count = len(changes)
    changes.clear()
    return count


def change_row(endpoint_id: int, metric: str, point: Point) -> dict[str, Any]:
    """A row of ``status_changes``."""
    return {
        "endpoint_id": endpoint_id,
        "metric": metric,
        "timestamp": point.timestamp,
        "gathered_at": point.gathered_at,
        "vm_uuid": point.vm_uuid,
        "vo": point.vo,
        "site_id": point.site_id,
        "status": point.status,
    }


def head_row(endpoint_id: int, metric: str, point: Point, paired: bool) -> dict[str, Any]:
    """The newest result of a series, as ``series`` keeps it."""
    return {
        "endpoint_id": endpoint_id,
        "metric": metric,
        "head_timestamp": point.timestamp,
        "head_gathered_at": point.gathered_at,
        "head_vm_uuid": point.vm_uuid,
        "head_status": point.status,
        "head_site_id": point.site_id,
        "head_vo": point.vo,
        "head_paired": paired,
    }
