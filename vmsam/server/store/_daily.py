"""Daily figures kept in the store: those of pruned days, and those of closed days computed
once for every site (a cache that knows when it is out of date)."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from vmsam.server.store import _models as m
from vmsam.server.store._records import StoredFigures
from vmsam.server.store._write import Bulk, bulk_insert

PRUNED = "pruned"
_FIGURES = m.DAILY_FIGURES
_DAYS = m.FIGURED_DAYS
_COLUMNS = StoredFigures._fields
# a month of every site's and endpoint's days is tens of thousands of rows: inserted in
# bulk, as the writer inserts results
_FIGURE_ROWS = Bulk("daily_figures", ("source", "vo", *_COLUMNS), "")


def _unchanged(day: date) -> date:
    return day


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def current_days(
    connection: Connection, source: str, vo: str, start: date, end: date
) -> dict[date, list[StoredFigures]]:
    """The figures of the days from ``start`` to ``end`` that ``source`` holds for every site
    and are still right: each day's, unless a result stored after them is dated before the
    day's end (it changes that day or the next) or the revision moved on. Pruned days are
    always right: their results are gone."""
    held = connection.execute(
        sa.select(_DAYS.c.day, _DAYS.c.newest_result, _DAYS.c.revision).where(
            _DAYS.c.source == source, _DAYS.c.vo == vo, _DAYS.c.day.between(start, end)
        )
    ).all()
    if not held:
        return {}
    if source == PRUNED:
        days = {day for day, _, _ in held}
    else:
        revision = connection.execute(sa.select(sa.func.max(m.REVISION.c.value))).scalar() or 0
        oldest = min(newest for _, newest, _ in held)
        # one range of the primary key: the results stored since the oldest of these days
        # was computed, usually few
        earliest = connection.execute(
            sa.select(sa.func.min(m.RESULTS.c.timestamp)).where(m.RESULTS.c.id > oldest)
        ).scalar()
        # a result dated D changes day D and the next; the test is for the results stored
        # after the oldest day's figures, so it errs only towards computing again
        days = {
            day
            for day, _, held_revision in held
            if held_revision == revision
            and (earliest is None or earliest >= _midnight(day) + timedelta(days=1))
        }
    if not days:
        return {}
    found: dict[date, list[StoredFigures]] = {day: [] for day in days}
    rows = connection.execute(
        sa.select(*(_FIGURES.c[name] for name in _COLUMNS)).where(
            _FIGURES.c.source == source,
            _FIGURES.c.vo == vo,
            _FIGURES.c.day.in_(sorted(days)),
        )
    )
    for row in rows:
        found[row.day].append(StoredFigures(*row))
    return found


def replace_days(
    connection: Connection,
    source: str,
    vo: str,
    days: Collection[date],
    figures: Iterable[StoredFigures],
    *,
    newest_result: int,
    revision: int,
) -> None:
    """Hold ``figures`` as ``source``'s figures of ``days`` (every site's), in place of
    any it held, as computed when the store stood at ``newest_result`` and ``revision``."""
    if not days:
        return
    chosen = sorted(days)
    for table in (_FIGURES, _DAYS):
        connection.execute(
            sa.delete(table).where(
                table.c.source == source, table.c.vo == vo, table.c.day.in_(chosen)
            )
        )
    day_value = _FIGURES.c.day.type.bind_processor(connection.dialect) or _unchanged
    bulk_insert(
        connection, _FIGURE_ROWS, [(source, vo, day_value(row.day), *row[1:]) for row in figures]
    )
    connection.execute(
        sa.insert(_DAYS),
        [
            {
                "source": source,
                "vo": vo,
                "day": day,
                "newest_result": newest_result,
                "revision": revision,
            }
            for day in chosen
        ],
    )


def earliest_result(connection: Connection, vo: str) -> datetime | None:
    """The timestamp of the oldest result of ``vo`` still stored."""
    return connection.execute(
        sa.select(sa.func.min(m.RESULTS.c.timestamp)).where(m.RESULTS.c.vo == vo)
    ).scalar()


def remove_results(connection: Connection, before: date, kept_from: datetime) -> int:
    """Remove the results dated before ``kept_from`` and log the prune of the days before
    ``before``; the caller's transaction moves the revision on."""
    removed = connection.execute(
        sa.delete(m.RESULTS).where(m.RESULTS.c.timestamp < kept_from)
    ).rowcount
    # the first result of each day is a kept change: what stays still starts with one
    connection.execute(sa.delete(m.STATUS_CHANGES).where(m.STATUS_CHANGES.c.timestamp < kept_from))
    connection.execute(
        sa.insert(m.PRUNES).values(
            before=before, pruned_at=datetime.now(UTC), results_removed=removed
        )
    )
    return int(removed)
