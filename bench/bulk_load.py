"""Load generated results (bench_ar.generate()) straight into a store's tables.

``Store.save`` of encoded messages is what the consumer does, and what bench_ar and
bench_store time; as mere setup of a benchmark it costs minutes for a month of 200 sites
(every result encoded, parsed, validated). This writes the same rows with SQLAlchemy Core
executemany in one transaction instead: sites, endpoints, memberships, results (with the
gathered_at and vm_uuid that ``bench_ar.received`` gives each VM), series and downtimes,
then judges them into status changes as the writer would (``_changes.rebuild``) and moves
the store's revision on, so that a running API's caches see the change. About 70,000
results/s on SQLite, 30,000 on PostgreSQL before the judging (its five indexes of results
bound it: COPY, the store's own path, gains little here).

The store's content is the one ``Store.save(received(data))`` plus ``add_downtime`` would
give (checked by hand with ``python bench/bulk_load.py --check``), except for what is the
time of loading (``created_at`` of downtimes) and the row ids.

    from bulk_load import load
    written = load(store, generate(50, 7), VO)
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from bench_ar import VO, SiteData, generate, received  # siblings: this file runs as a script
from bench_store import pg_database
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from vmsam.server.store import Store
from vmsam.server.store import _models as m
from vmsam.server.store._changes import rebuild
from vmsam.server.store._write import bump_revision

__all__ = ["load"]

# rows per executemany: large enough to amortise a statement, small enough that a month of
# 1000 sites never sits in memory as row dictionaries at once
_CHUNK = 50_000

_EndpointKey = tuple[str, str]  # hostname, service type


def _insert(connection: Connection, table: sa.Table) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT DO NOTHING (a second load adds nothing)."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing()


def _chunks(rows: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == _CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _Ids:
    """The ids of the sites and endpoints of the data, created where missing."""

    def __init__(self, connection: Connection, data: list[SiteData]) -> None:
        names = sorted({site.name for site in data})
        keys = sorted(
            {(s.endpoint, s.service_type) for site in data for s in site.samples}
            | {(d.endpoint, d.service_type) for site in data for d in site.downtimes}
        )
        if names:
            connection.execute(_insert(connection, m.SITES), [{"name": n} for n in names])
        if keys:
            connection.execute(
                _insert(connection, m.ENDPOINTS),
                [{"hostname": host, "service_type": kind} for host, kind in keys],
            )
        wanted = set(names)
        self.sites = {
            name: site_id
            for name, site_id in connection.execute(sa.select(m.SITES.c.name, m.SITES.c.id))
            if name in wanted
        }
        endpoints = m.ENDPOINTS.c
        wanted_keys = set(keys)
        self.endpoints: dict[_EndpointKey, int] = {
            (host, kind): endpoint_id
            for host, kind, endpoint_id in connection.execute(
                sa.select(endpoints.hostname, endpoints.service_type, endpoints.id)
            )
            if (host, kind) in wanted_keys
        }


def _results(data: list[SiteData], ids: _Ids, vo: str) -> Iterator[dict[str, Any]]:
    """The rows ``Store.save`` writes for ``bench_ar.received(data)``: one VM per boot, two
    VMs in the same second told apart by their count."""
    for site in data:
        site_id = ids.sites[site.name]
        vms: Counter[tuple[str, str, datetime]] = Counter()
        for sample in site.samples:
            key = (sample.endpoint, sample.metric, sample.timestamp)
            vms[key] += 1
            vm = f"{sample.endpoint}-{sample.timestamp:%d%H%M%S}-{vms[key]}"
            yield {
                "endpoint_id": ids.endpoints[sample.endpoint, sample.service_type],
                "site_id": site_id,
                "metric": sample.metric,
                "vo": vo,
                "status": sample.status,
                "timestamp": sample.timestamp,
                "gathered_at": vm,
                "vm_uuid": vm,
                "machinetype": "pilot",
                "summary": f"{sample.status} from the benchmark",
                "details": "",
                "perf_data": None,
                "probe_duration": None,
                "received_at": sample.timestamp,
            }


def _memberships(data: list[SiteData], ids: _Ids, vo: str) -> list[dict[str, Any]]:
    # as the store derives them: from the first result naming the endpoint and the site
    first: dict[tuple[int, int], datetime] = {}
    for site in data:
        site_id = ids.sites[site.name]
        for sample in site.samples:
            key = (ids.endpoints[sample.endpoint, sample.service_type], site_id)
            if key not in first or sample.timestamp < first[key]:
                first[key] = sample.timestamp
    return [
        {"endpoint_id": endpoint_id, "site_id": site_id, "vo": vo, "first_seen": seen}
        for (endpoint_id, site_id), seen in sorted(first.items())
    ]


def _new_downtimes(connection: Connection, data: list[SiteData], ids: _Ids) -> list[dict[str, Any]]:
    # downtimes have no key of their own: leave out those stored already, so that loading
    # twice adds nothing
    table = m.DOWNTIMES.c
    stored = set(
        connection.execute(sa.select(table.endpoint_id, table.start, table.end, table.scheduled))
    )
    now = datetime.now(UTC)
    rows = []
    for site in data:
        for d in site.downtimes:
            key = (ids.endpoints[d.endpoint, d.service_type], d.start, d.end, d.scheduled)
            if key not in stored:
                stored.add(key)
                rows.append(
                    dict(zip(("endpoint_id", "start", "end", "scheduled"), key, strict=True))
                    | {"description": "", "created_at": now}
                )
    return rows


def load(store: Store, data: list[SiteData], vo: str) -> int:
    """Write ``data`` (results of ``vo``, and the downtimes) into ``store``; the number of
    results written (a result already stored is skipped, as ``Store.save`` would, and so is
    a downtime already stored). One transaction."""
    store.upgrade()
    written = 0
    with store.engine.begin() as connection:
        ids = _Ids(connection, data)
        insert = _insert(connection, m.RESULTS)
        counted = connection.execution_options(preserve_rowcount=True)
        for chunk in _chunks(_results(data, ids, vo)):
            written += counted.execute(insert, chunk).rowcount
        members = _memberships(data, ids, vo)
        if members:
            connection.execute(_insert(connection, m.MEMBERSHIPS), members)
        series = sorted(
            {
                (ids.endpoints[s.endpoint, s.service_type], s.metric)
                for site in data
                for s in site.samples
            }
        )
        if series:
            connection.execute(
                _insert(connection, m.SERIES),
                [{"endpoint_id": endpoint_id, "metric": metric} for endpoint_id, metric in series],
            )
        downtimes = _new_downtimes(connection, data, ids)
        if downtimes:
            connection.execute(sa.insert(m.DOWNTIMES), downtimes)
        # what the writer keeps of each result it judges: the status changes, the newest
        # result of each series
        rebuild(connection)
        bump_revision(connection)
    # the planner's statistics, as autovacuum would gather them soon after such a load
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("ANALYZE")
    return written


# --- checking it against Store.save, by hand ------------------------------------------------


def _content(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows by names rather than ids, sorted: comparable between stores."""
    c = {name: table.c for name, table in m.Base.metadata.tables.items()}
    queries = {
        "sites": sa.select(c["sites"].name),
        "endpoints": sa.select(c["endpoints"].hostname, c["endpoints"].service_type),
        "memberships": sa.select(
            c["endpoints"].hostname,
            c["endpoints"].service_type,
            c["sites"].name,
            c["memberships"].vo,
            c["memberships"].first_seen,
        )
        .join_from(m.MEMBERSHIPS, m.ENDPOINTS)
        .join(m.SITES),
        "results": sa.select(
            c["endpoints"].hostname,
            c["endpoints"].service_type,
            c["sites"].name,
            *(
                column
                for column in m.RESULTS.columns
                if column.name not in ("id", "endpoint_id", "site_id")
            ),
        )
        .join_from(m.RESULTS, m.ENDPOINTS)
        .join(m.SITES, m.SITES.c.id == m.RESULTS.c.site_id),
        "series": sa.select(
            c["endpoints"].hostname, c["endpoints"].service_type, c["series"].metric
        ).join_from(m.SERIES, m.ENDPOINTS),
        "downtimes": sa.select(
            c["endpoints"].hostname,
            c["endpoints"].service_type,
            c["downtimes"].start,
            c["downtimes"].end,
            c["downtimes"].scheduled,
            c["downtimes"].description,
        ).join_from(m.DOWNTIMES, m.ENDPOINTS),
    }
    with store.engine.connect() as connection:
        return {
            name: sorted(tuple(row) for row in connection.execute(query))
            for name, query in queries.items()
        }


def _saved(store: Store, data: list[SiteData]) -> int:
    saved = sum(store.save(batch).stored for batch in received(data))
    for site in data:
        for d in site.downtimes:
            store.add_downtime(d.endpoint, d.service_type, d.start, d.end, scheduled=d.scheduled)
    return saved


def check(sites: int, days: int, pg: str | None) -> bool:
    """Bulk load and Store.save give the same content, on each database."""
    data = generate(sites, days)
    same = True
    with contextlib.ExitStack() as stack:
        directory = stack.enter_context(tempfile.TemporaryDirectory())
        pairs = [("SQLite", f"sqlite:///{directory}/saved.db", f"sqlite:///{directory}/loaded.db")]
        if pg:
            pairs.append(
                (
                    "PostgreSQL",
                    stack.enter_context(pg_database(pg)),
                    stack.enter_context(pg_database(pg)),
                )
            )
        for label, save_url, load_url in pairs:
            with Store(save_url) as by_save, Store(load_url) as by_load:
                clock = time.perf_counter()
                saved = _saved(by_save, data)
                save_seconds = time.perf_counter() - clock
                clock = time.perf_counter()
                loaded = load(by_load, data, VO)
                load_seconds = time.perf_counter() - clock
                expected, got = _content(by_save), _content(by_load)
                again = load(by_load, data, VO)
                got_again = _content(by_load)
                differ = [name for name in expected if expected[name] != got[name]]
                print(
                    f"{label}: Store.save {saved:,} results in {save_seconds:.2f} s,"
                    f" load {loaded:,} in {load_seconds:.2f} s"
                    f" ({save_seconds / load_seconds:.0f}x faster), again {again};"
                    f" {'same content' if not differ else f'DIFFERENT: {differ}'}"
                )
                same &= not differ and saved == loaded and again == 0 and got_again == got
    return same


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with Store.save")
    parser.add_argument("--sites", type=int, default=3)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--pg", help="also on PostgreSQL: its admin URL (databases are made)")
    args = parser.parse_args()
    if not args.check:
        parser.error("only --check is a command; import load() to use the loader")
    return 0 if check(args.sites, args.days, args.pg) else 1


if __name__ == "__main__":
    sys.exit(main())
