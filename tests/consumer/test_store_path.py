"""The store's fast path for the consumer's batches: SQLite inserts a batch in statements of
many rows (split by the library's parameter limit), PostgreSQL copies it in binary. Counts of
stored and duplicate results stay exact across the pieces, and every value comes back as it
went in."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from tests.support.consumer import database
from vmsam.server.store import Received, SaveReport, Store
from vmsam.shared.messages import MetricResult, encode

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Store]:
    with database(request.param, tmp_path) as url:
        opened = Store(url)
        try:
            yield opened
        finally:
            opened.close()


def received(i: int, **changes: Any) -> Received:
    fields: dict[str, Any] = {
        "service_uri": "vac01.example.org",
        "host_name": f"vac{i % 3:02d}.example.org",
        "service_flavour": "uk.ac.gridpp.vac",
        "site_name": f"UKI-SITE-{i % 2}",
        "status": ("OK", "WARNING", "CRITICAL", "UNKNOWN")[i % 4],
        "metric_name": "org.lhcb.WN-cvmfs",
        "summary": f"résumé {i} ✓",
        "gathered_at": f"vm-{i}.example.org",
        "timestamp": NOW - timedelta(seconds=i),
        "service_type": "uk.ac.gridpp.vac",
        "vo_name": "lhcb",
        "vm_uuid": str(uuid.UUID(int=i)),
        "vm_machinetype": "lhcb-pilot" if i % 2 else None,
        "perf_data": f"time={i}s" if i % 2 else None,
        "probe_duration": None if i % 2 else "0.5",
        "details": f"line one\n\ttabbed {i}\n",
    }
    fields.update(changes)
    result = MetricResult(**fields)
    return Received(encode(result).encode(), {"ack": str(i)}, NOW, result=result)


def test_a_large_batch_with_duplicates_inside_and_across_pieces_is_counted_exactly(
    store: Store,
) -> None:
    first = [received(i) for i in range(1200)]
    assert store.save(first) == SaveReport(stored=1200, duplicates=0, dead_letters=0)
    # 610 already stored, 10 new ones twice in the batch itself (in different pieces), one
    # invalid
    new = [received(i) for i in range(1200, 2400)]
    again = [*first[600:], *new, *first[:10], *new[:10], Received.parse(b"junk")]
    assert store.save(again) == SaveReport(stored=1200, duplicates=620, dead_letters=1)
    assert store.results(limit=1)[0] == 2400


def test_sqlite_with_a_low_parameter_limit_inserts_in_smaller_pieces(tmp_path: Any) -> None:
    store = Store(f"sqlite:///{tmp_path / 'limit.db'}")

    def low_limit(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 100)  # 7 rows a piece

    sa.event.listen(store.engine, "connect", low_limit)
    try:
        batch = [received(i) for i in range(50)]
        assert store.save([*batch, *batch[:5]]).stored == 50
        assert store.save(batch) == SaveReport(stored=0, duplicates=50, dead_letters=0)
    finally:
        store.close()


def test_every_value_comes_back_as_it_went_in(store: Store) -> None:
    batch = [received(i) for i in range(20)]
    store.save(batch)
    columns = (
        "metric, vo, status, timestamp, gathered_at, vm_uuid, machinetype, summary, details,"
        " perf_data, probe_duration, received_at"
    )
    with store.engine.connect() as connection:
        rows = connection.execute(sa.text(f"SELECT {columns} FROM results ORDER BY vm_uuid")).all()
    assert len(rows) == 20
    for row, item in zip(rows, batch, strict=True):
        result = item.result
        assert result is not None
        stamp = row.timestamp
        got = datetime.fromtimestamp(stamp / 1e6, UTC) if isinstance(stamp, int) else stamp
        arrived = row.received_at
        got_arrival = (
            datetime.fromtimestamp(arrived / 1e6, UTC) if isinstance(arrived, int) else arrived
        )
        assert (got, got_arrival) == (result.timestamp, item.received_at)
        assert tuple(row)[:3] == (result.metric_name, "lhcb", result.status)
        assert tuple(row)[4:11] == (
            result.gathered_at,
            result.vm_uuid,
            result.vm_machinetype or "",
            result.summary,
            result.details,
            result.perf_data,
            result.probe_duration,
        )
