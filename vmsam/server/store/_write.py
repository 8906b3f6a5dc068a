"""Writing: a batch of received messages in one transaction (downtimes: _downtimes).

Speed comes from one bulk insert of the results, handed to the driver as plain tuples
(SQLite: INSERTs of many rows; PostgreSQL: a COPY into a temporary table and one INSERT ..
SELECT), and from caching in memory what is already in the database (the ids of sites and
endpoints, membership dates, the known series), so that a batch of known endpoints costs one
insert of results, the reading and writing of its series' newest results, one insert of the
status changes it makes (_changes) and, when there are any, one of dead letters. The caches
are filled only after a commit, so a rolled-back batch leaves nothing stale.
"""

from __future__ import annotations

import functools
import hashlib
import re
import sqlite3
import threading
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from vmsam.server.store import _changes
from vmsam.server.store import _models as m
from vmsam.server.store._changes import Point
from vmsam.server.store._engine import WRITE, translated
from vmsam.server.store._records import (
    Actor,
    Received,
    SaveReport,
    rule_fingerprint,
    storage_problem,
)
from vmsam.shared.messages import MetricResult

# the columns of a results row, in the order of the tuples _save_results builds; the names
# are the model's own, never input (S608)
_ROW = (
    "endpoint_id",
    "site_id",
    "metric",
    "vo",
    "status",
    "timestamp",
    "gathered_at",
    "vm_uuid",
    "machinetype",
    "summary",
    "details",
    "perf_data",
    "probe_duration",
    "received_at",
    "signature",
    "signer",
)
_CHANGE_ROW = (
    "timestamp",
    "endpoint_id",
    "metric",
    "gathered_at",
    "vm_uuid",
    "vo",
    "site_id",
    "status",
)
_HEAD_ROW = (
    "endpoint_id",
    "metric",
    "head_timestamp",
    "head_gathered_at",
    "head_vm_uuid",
    "head_status",
    "head_site_id",
    "head_vo",
    "head_paired",
)
# a judged series' newest result replaces the one kept before
_NEW_HEAD = "ON CONFLICT (endpoint_id, metric) DO UPDATE SET " + ", ".join(
    f"{name} = excluded.{name}" for name in _HEAD_ROW[2:]
)
_KEEP = "ON CONFLICT DO NOTHING"
# SQLite's path: INSERTs of many rows each (at most _SQLITE_ROWS, and no more parameters
# than the library allows), handed to the driver as they are
_SQLITE_ROWS = 500
_EndpointKey = tuple[str, str]  # hostname, service type
_MemberKey = tuple[int, int, str]  # endpoint id, site id, VO
_SeriesKey = tuple[int, str]  # endpoint id, metric

# the newest result of a series and whether it shares its second with the one before it
_Head = tuple[Point, bool]


@dataclass(frozen=True)
class Bulk:
    """A table that batches are inserted into many rows at a time, its columns in the order
    of the tuples given, and what a row already there does. ``fresh``: its rows are almost
    never there already (PostgreSQL then copies them straight in, see ``bulk_insert``)."""

    table: str
    columns: tuple[str, ...]
    conflict: str
    fresh: bool = False

    def quoted(self) -> str:
        return ", ".join(f'"{name}"' for name in self.columns)


# a result is there already only when its message came again (a redelivery)
_RESULTS = Bulk("results", _ROW, _KEEP, fresh=True)
_STATUS_CHANGES = Bulk("status_changes", _CHANGE_ROW, _KEEP)
_SERIES_HEADS = Bulk("series", _HEAD_ROW, _NEW_HEAD)


def dialect_insert(connection: Connection, table: sa.Table) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def clean_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Headers as JSON both databases accept: no NUL, no lone surrogate."""

    def text(value: object) -> str:
        return (
            str(value).encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
        )

    return {text(key): text(value) for key, value in headers}


@dataclass
class _Pending:
    """Ids and dates learnt inside the current transaction, cached once it commits."""

    sites: dict[str, int] = field(default_factory=dict)
    endpoints: dict[_EndpointKey, int] = field(default_factory=dict)
    members: dict[_MemberKey, datetime] = field(default_factory=dict)
    series: set[_SeriesKey] = field(default_factory=set)


class Writer:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._sites: dict[str, int] = {}
        self._endpoints: dict[_EndpointKey, int] = {}
        self._members: dict[_MemberKey, datetime] = {}
        self._series: set[_SeriesKey] = set()
        self._moment = _moment_param(engine)
        self._upsert_members = _members_upsert(engine)

    def save(self, batch: Sequence[Received]) -> SaveReport:
        valid: list[tuple[Received, MetricResult]] = []
        letters: list[tuple[Received, str]] = []
        for item in batch:
            problem = item.error
            if item.result is not None:
                problem = None if item.checked else storage_problem(item.result)
                if problem is None:
                    valid.append((item, item.result))
            if problem is not None:
                letters.append((item, problem))
        # one lock order for every writer: concurrent batches wait instead of deadlocking
        valid.sort(key=lambda pair: _identity(pair[1]))
        pending = _Pending()
        with (
            translated(self._engine, "save results"),
            self._engine.connect().execution_options(**WRITE, preserve_rowcount=True) as connection,
            connection.begin(),
        ):
            stored = self._save_results(connection, valid, pending)
            self._save_dead_letters(connection, letters)
        with self._lock:
            self._sites.update(pending.sites)
            self._endpoints.update(pending.endpoints)
            self._members.update(pending.members)
            self._series.update(pending.series)
        return SaveReport(stored, len(valid) - stored, len(letters))

    def _save_results(
        self,
        connection: Connection,
        valid: list[tuple[Received, MetricResult]],
        pending: _Pending,
    ) -> int:
        if not valid:
            return 0
        results = [result for _, result in valid]
        site_ids = self._site_ids(connection, {r.site_name for r in results}, pending)
        endpoint_ids = self._endpoint_ids(
            connection, {(r.host_name, r.service_type) for r in results}, pending
        )
        moment = self._moment
        rows: list[tuple[Any, ...]] = []
        members: dict[_MemberKey, datetime] = {}
        arrivals: dict[_SeriesKey, list[Point]] = {}
        for item, result in valid:
            endpoint_id = endpoint_ids[result.host_name, result.service_type]
            site_id = site_ids[result.site_name]
            vo = result.vo or ""
            timestamp = result.timestamp
            vm_uuid = result.vm_uuid or ""
            rows.append(
                (
                    endpoint_id,
                    site_id,
                    result.metric_name,
                    vo,
                    result.status,
                    moment(timestamp),
                    result.gathered_at,
                    vm_uuid,
                    result.vm_machinetype or "",
                    result.summary,
                    result.details,
                    result.perf_data,
                    result.probe_duration,
                    moment(item.received_at),
                    item.signature,
                    item.signer,
                )
            )
            member = (endpoint_id, site_id, vo)
            if member not in members or timestamp < members[member]:
                members[member] = timestamp
            # in the series' order: valid is sorted by identity
            arrivals.setdefault((endpoint_id, result.metric_name), []).append(
                Point(timestamp, result.gathered_at, vm_uuid, result.status, site_id, vo)
            )
        keys = sorted(arrivals)
        _take_series_turns(connection, keys)
        self._save_series(connection, set(keys), pending)
        heads = _heads(connection, keys)
        stored = bulk_insert(connection, _RESULTS, rows)
        self._save_members(connection, members, pending)
        changes, new_heads = _judged(connection, arrivals, heads, moment)
        bulk_insert(connection, _STATUS_CHANGES, changes)
        bulk_insert(connection, _SERIES_HEADS, new_heads)
        return stored

    def _site_ids(
        self, connection: Connection, names: set[str], pending: _Pending
    ) -> dict[str, int]:
        with self._lock:
            known = {name: self._sites[name] for name in names if name in self._sites}
        missing = sorted(names - known.keys())
        if missing:
            table = m.SITES
            connection.execute(
                dialect_insert(connection, table).on_conflict_do_nothing(),
                [{"name": name} for name in missing],
            )
            found = connection.execute(
                sa.select(m.SITES.c.name, m.SITES.c.id).where(m.SITES.c.name.in_(missing))
            )
            pending.sites.update({name: site_id for name, site_id in found})
            known.update(pending.sites)
        return known

    def _endpoint_ids(
        self, connection: Connection, keys: set[_EndpointKey], pending: _Pending
    ) -> dict[_EndpointKey, int]:
        with self._lock:
            known = {key: self._endpoints[key] for key in keys if key in self._endpoints}
        missing = sorted(keys - known.keys())
        if missing:
            pending.endpoints.update(endpoint_ids(connection, missing))
            known.update(pending.endpoints)
        return known

    def _save_members(
        self, connection: Connection, members: dict[_MemberKey, datetime], pending: _Pending
    ) -> None:
        with self._lock:
            changed = {
                key: first
                for key, first in members.items()
                if key not in self._members or first < self._members[key]
            }
        if not changed:
            return
        table = m.MEMBERSHIPS
        connection.execute(
            self._upsert_members,
            [
                {"endpoint_id": e, "site_id": s, "vo": vo, "first_seen": first}
                for (e, s, vo), first in sorted(changed.items())
            ],
        )
        # the database may know an even earlier date: cache what it holds now
        found = connection.execute(
            sa.select(table.c.endpoint_id, table.c.site_id, table.c.vo, table.c.first_seen).where(
                sa.tuple_(table.c.endpoint_id, table.c.site_id, table.c.vo).in_(list(changed))
            )
        )
        pending.members.update({(e, s, vo): first for e, s, vo, first in found})

    def _save_series(
        self, connection: Connection, series: set[_SeriesKey], pending: _Pending
    ) -> None:
        with self._lock:
            new = sorted(series - self._series)
        if new:
            connection.execute(
                dialect_insert(connection, m.SERIES).on_conflict_do_nothing(),
                [{"endpoint_id": endpoint_id, "metric": metric} for endpoint_id, metric in new],
            )
            pending.series.update(new)

    def _save_dead_letters(
        self, connection: Connection, letters: list[tuple[Received, str]]
    ) -> None:
        if not letters:
            return
        connection.execute(
            dialect_insert(connection, m.DEAD_LETTERS).on_conflict_do_nothing(),
            [
                {
                    "received_at": item.received_at,
                    "reason": reason,
                    "body": item.body,
                    "headers": clean_headers(item.headers.items()),
                    "digest": hashlib.sha256(item.body).hexdigest(),
                }
                for item, reason in letters
            ],
        )


def _take_series_turns(connection: Connection, keys: list[_SeriesKey]) -> None:
    """Make PostgreSQL's writers of these series take turns until the transaction ends, so
    that each judges new results against what the other committed: an advisory lock per
    series (endpoint id, CRC-32 of the metric; the two-key space, apart from take_turns'),
    taken in one order by every writer, before anything of the series is written."""
    if connection.dialect.name != "postgresql" or not keys:
        return
    locks = sorted(
        {(endpoint_id, _signed32(zlib.crc32(metric.encode()))) for endpoint_id, metric in keys}
    )
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(e, k) FROM"
            " (SELECT e, k FROM unnest(%s::integer[], %s::integer[]) AS t(e, k)"
            " ORDER BY e, k) AS ordered",
            ([e for e, _ in locks], [k for _, k in locks]),
        )


def _signed32(value: int) -> int:
    return value - 2**32 if value >= 2**31 else value


def _heads(connection: Connection, keys: list[_SeriesKey]) -> dict[_SeriesKey, _Head]:
    """The newest judged result of each of these series (which exist)."""
    driver = connection.connection.driver_connection
    columns = ", ".join(_HEAD_ROW)
    cursor = driver.cursor()  # type: ignore[union-attr]
    found: list[tuple[Any, ...]] = []
    try:
        if connection.dialect.name == "postgresql":
            cursor.execute(
                f"SELECT {columns} FROM series WHERE (endpoint_id, metric) IN"  # noqa: S608
                " (SELECT * FROM unnest(%s::integer[], %s::text[]))",
                ([endpoint_id for endpoint_id, _ in keys], [metric for _, metric in keys]),
            )
            found.extend(cursor.fetchall())
        else:
            limit = driver.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)  # type: ignore[union-attr]
            size = max(1, limit // 2)
            for start in range(0, len(keys), size):
                chunk = keys[start : start + size]
                cursor.execute(
                    f"SELECT {columns} FROM series WHERE (endpoint_id, metric) IN"  # noqa: S608
                    f" (VALUES {', '.join(['(?, ?)'] * len(chunk))})",
                    [value for key in chunk for value in key],
                )
                found.extend(cursor.fetchall())
    finally:
        cursor.close()
    utc = m.UTCDateTime()
    dialect = connection.dialect
    heads: dict[_SeriesKey, _Head] = {}
    for endpoint_id, metric, stamp, gathered_at, vm_uuid, status, site_id, vo, paired in found:
        if stamp is not None:
            moment = utc.process_result_value(stamp, dialect)
            assert moment is not None
            heads[endpoint_id, metric] = (
                Point(moment, gathered_at, vm_uuid, status, site_id, vo),
                bool(paired),
            )
    return heads


def _judged(
    connection: Connection,
    arrivals: dict[_SeriesKey, list[Point]],
    heads: dict[_SeriesKey, _Head],
    moment: Callable[[datetime], Any],
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The status changes the new results make (rows of status_changes) and the series'
    new newest results (rows of series). Results newer than their series' newest one (the
    usual case) are judged against it alone; a series that got an older one is judged again
    from two results before the new ones to two after them, as the database now holds it."""
    changes: list[tuple[Any, ...]] = []
    new_heads: list[tuple[Any, ...]] = []
    for (endpoint_id, metric), points in arrivals.items():
        head = heads.get((endpoint_id, metric))
        if head is None or points[0].order > head[0].order:
            context = [head[0]] if head is not None else []
            paired = head[1] if head is not None else False
            sequence = context + _distinct(points)
            chosen = _changes.kept(sequence, context=len(context), paired=paired)
            paired = _changes.paired_last(sequence, paired=paired)
            moved = True
        else:
            sequence, before, moved = _neighbourhood(
                connection, endpoint_id, metric, points[0], points[-1]
            )
            chosen = _changes.kept(sequence, context=before)
            paired = _changes.paired_last(sequence)
        for i in chosen:
            point = sequence[i]
            changes.append(
                (
                    moment(point.timestamp),
                    endpoint_id,
                    metric,
                    point.gathered_at,
                    point.vm_uuid,
                    point.vo,
                    point.site_id,
                    point.status,
                )
            )
        if not moved:  # the series' newest result stays what it was
            continue
        newest = sequence[-1]
        new_heads.append(
            (
                endpoint_id,
                metric,
                moment(newest.timestamp),
                newest.gathered_at,
                newest.vm_uuid,
                newest.status,
                newest.site_id,
                newest.vo,
                paired,
            )
        )
    return changes, new_heads


def _distinct(points: list[Point]) -> list[Point]:
    """``points`` (in order) without a repeat of the same result: the first one is stored."""
    distinct = points[:1]
    for point in points[1:]:
        if point.order != distinct[-1].order:
            distinct.append(point)
    return distinct


def _neighbourhood(
    connection: Connection, endpoint_id: int, metric: str, first: Point, last: Point
) -> tuple[list[Point], int, bool]:
    """The stored results of a series from two before ``first`` to two after ``last`` (the
    results a new one between them can change), how many come before ``first`` (0 to 2),
    and whether they reach the series' newest result."""
    r = m.RESULTS.c
    order = sa.tuple_(r.timestamp, r.gathered_at, r.vm_uuid)
    ascending = (r.timestamp, r.gathered_at, r.vm_uuid)

    def place(point: Sequence[Any]) -> sa.Tuple:
        timestamp, gathered_at, vm_uuid = point
        return sa.tuple_(
            sa.bindparam(None, timestamp, type_=m.UTCDateTime()),
            sa.literal(gathered_at),
            sa.literal(vm_uuid),
        )

    series = (r.endpoint_id == endpoint_id, r.metric == metric)
    before = connection.execute(
        sa.select(*ascending)
        .where(*series, order < place(first.order))
        .order_by(*(column.desc() for column in ascending))
        .limit(2)
    ).all()
    after = connection.execute(
        sa.select(*ascending)
        .where(*series, order > place(last.order))
        .order_by(*ascending)
        .limit(2)
    ).all()
    query = sa.select(*ascending, r.status, r.site_id, r.vo).where(*series).order_by(*ascending)
    if before:
        query = query.where(order >= place(before[-1]))
    if after:
        query = query.where(order <= place(after[-1]))
    points = [Point(*row) for row in connection.execute(query)]
    return points, len(before), len(after) < 2


def audited(
    connection: Connection,
    by: Actor,
    *,
    action: str,
    kind: str,
    object_id: int,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    """One entry of the audit log, in the caller's transaction: the change's own, so that
    neither is ever kept without the other. Names too long are cut."""
    connection.execute(
        sa.insert(m.AUDIT),
        {
            "at": datetime.now(UTC),
            "actor": by.name[: m.AUDIT_NAME_MAX],
            "client": by.client[: m.AUDIT_NAME_MAX],
            "action": action,
            "kind": kind,
            "object_id": object_id,
            "before": before,
            "after": after,
        },
    )


def take_turns(connection: Connection, key: int) -> None:
    """Make PostgreSQL's writes holding advisory lock ``key`` take turns until the
    transaction ends (SQLite's take turns anyway): a check before a write stays true."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))


def bump_revision(connection: Connection) -> None:
    """Move the revision on (in the caller's transaction): the caches of every API process
    see that something other than new results changed."""
    moved = connection.execute(
        sa.update(m.REVISION).where(m.REVISION.c.id == 1).values(value=m.REVISION.c.value + 1)
    )
    if moved.rowcount == 0:  # the row was removed by hand: start again
        connection.execute(
            dialect_insert(connection, m.REVISION).values(id=1, value=1).on_conflict_do_nothing()
        )


def endpoint_ids(connection: Connection, keys: Sequence[_EndpointKey]) -> dict[_EndpointKey, int]:
    """The ids of these endpoints, created where missing."""
    table = m.ENDPOINTS
    connection.execute(
        dialect_insert(connection, table).on_conflict_do_nothing(),
        [{"hostname": host, "service_type": kind} for host, kind in sorted(keys)],
    )
    found = connection.execute(
        sa.select(table.c.hostname, table.c.service_type, table.c.id).where(
            sa.tuple_(table.c.hostname, table.c.service_type).in_(list(keys))
        )
    )
    return {(host, kind): endpoint_id for host, kind, endpoint_id in found}


def _members_upsert(engine: Engine) -> Any:
    """The memberships' upsert, made once: building ``excluded`` costs more than running it."""
    table = m.MEMBERSHIPS
    insert = (postgresql if engine.dialect.name == "postgresql" else sqlite).insert(table)
    # a backfill may bring an older result: the membership starts at the earliest one
    return insert.on_conflict_do_update(
        index_elements=["endpoint_id", "site_id", "vo"],
        set_={"first_seen": insert.excluded.first_seen},
        where=table.c.first_seen > insert.excluded.first_seen,
    )


def _moment_param(engine: Engine) -> Callable[[datetime], Any]:
    """What the driver is given for a datetime of a results row: on SQLite the model's own
    conversion (``UTCDateTime``: microseconds since the epoch), on PostgreSQL the datetime,
    which COPY writes itself."""
    if engine.dialect.name == "postgresql":
        return _unchanged
    convert = m.RESULTS.c.timestamp.type.bind_processor(engine.dialect)
    if convert is None:
        raise TypeError("UTCDateTime has no bind processor on SQLite")
    return convert


def _unchanged(moment: datetime) -> datetime:
    return moment


@functools.cache
def _copy_types(bulk: Bulk) -> list[str]:
    """The PostgreSQL types of ``bulk``'s row, as the model says them (``varchar`` for
    ``VARCHAR(512)``): psycopg's names for its binary dumpers."""
    table = m.Base.metadata.tables[bulk.table]
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    names = [
        re.sub(r"\(.*\)", "", table.c[name].type.compile(dialect=dialect)).lower()
        for name in bulk.columns
    ]
    # FLOAT(53) is double precision, which psycopg knows as float8
    return ["float8" if name == "float" else name for name in names]


def bulk_insert(connection: Connection, bulk: Bulk, rows: Sequence[tuple[Any, ...]]) -> int:
    """Insert ``rows`` (tuples of the driver's values, in ``bulk``'s columns) into its
    table as its conflict clause says; the number of rows inserted or changed."""
    if not rows:
        return 0
    driver = connection.connection.driver_connection
    if connection.dialect.name != "postgresql":
        return _insert_sqlite(driver, bulk, rows)
    if bulk.fresh:
        # COPY knows no ON CONFLICT: straight into the table, and if one row is there
        # already, the whole batch again through the temporary table. Half the server's
        # work per row: the copy into the temporary table and the read of it are saved
        import psycopg

        try:
            with connection.begin_nested():
                return _copy(driver, bulk.table, bulk, rows)
        except psycopg.errors.UniqueViolation:
            pass  # rolled back to the savepoint: the way that skips what is there
    incoming = f"incoming_{bulk.table}"
    with driver.cursor() as cursor:  # type: ignore[union-attr]
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {incoming} ON COMMIT DELETE ROWS"  # noqa: S608
            f" AS SELECT {bulk.quoted()} FROM {bulk.table} WITH NO DATA"
        )
    _copy(driver, incoming, bulk, rows)
    with driver.cursor() as cursor:  # type: ignore[union-attr]
        cursor.execute(
            f"INSERT INTO {bulk.table} ({bulk.quoted()})"  # noqa: S608 - model names only
            f" SELECT {bulk.quoted()} FROM {incoming} {bulk.conflict}"
        )
        inserted: int = cursor.rowcount
    return inserted


def _copy(driver: Any, table: str, bulk: Bulk, rows: Sequence[tuple[Any, ...]]) -> int:
    """COPY ``rows`` into ``table`` (``bulk``'s columns): psycopg writes COPY rows in C,
    where executemany or arrays cost tens of microseconds per row in Python; binary: a row
    in 0.4 us instead of 2 (text quotes every value), each value in its exact type."""
    with (
        driver.cursor() as cursor,
        cursor.copy(f"COPY {table} ({bulk.quoted()}) FROM STDIN (FORMAT BINARY)") as copy,
    ):
        copy.set_types(_copy_types(bulk))
        for row in rows:
            copy.write_row(row)
    return len(rows)


def _insert_sqlite(driver: Any, bulk: Bulk, rows: Sequence[tuple[Any, ...]]) -> int:
    """One statement for many rows rather than executemany, which runs one step per row and
    gives up the GIL and takes it back at each: with the consumer's I/O thread busy, every
    take-back waits for that thread's turn to end (up to 5 ms)."""
    width = len(bulk.columns)
    limit = driver.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // width
    size = max(1, min(_SQLITE_ROWS, limit))
    one = f"({', '.join('?' * width)})"
    columns = bulk.quoted()
    cursor = driver.cursor()
    inserted = 0
    try:
        for start in range(0, len(rows), size):
            chunk = rows[start : start + size]
            cursor.execute(
                f"INSERT INTO {bulk.table} ({columns}) VALUES "  # noqa: S608 - model names and ?s
                + ", ".join([one] * len(chunk))
                + f" {bulk.conflict}",
                [value for row in chunk for value in row],
            )
            # the rows this statement inserted, conflicts excluded
            inserted += cursor.rowcount
    finally:
        cursor.close()
    return inserted


def _identity(result: MetricResult) -> tuple[str, str, str, datetime, str, str]:
    return (
        result.host_name,
        result.service_type,
        result.metric_name,
        result.timestamp,
        result.gathered_at,
        result.vm_uuid or "",
    )


def settle(connection: Connection, vo: str, days: Iterable[date], at: datetime) -> None:
    """Record ``days`` of ``vo`` as settled at ``at``; a day settled already keeps its
    settlement (two reports at once settle it once)."""
    rows = [{"vo": vo, "day": day, "settled_at": at} for day in days]
    if rows:
        connection.execute(
            dialect_insert(connection, m.SETTLED_DAYS).on_conflict_do_nothing(), rows
        )


def record_rules(connection: Connection, kind: str, name: str, document: Any, at: datetime) -> None:
    """Keep ``document`` as the version of ``kind``/``name`` in force from ``at``."""
    connection.execute(
        sa.insert(m.RULE_VERSIONS),
        {
            "kind": kind,
            "name": name,
            "fingerprint": rule_fingerprint(document),
            "document": document,
            "recorded_at": at,
        },
    )
