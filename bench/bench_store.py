"""Store write and read rates, SQLite and PostgreSQL, against a bare INSERT in the same run.

Builds N received results (200 sites x 5 spaces x 4 metrics, hourly, like the A/R benchmark
of issue 5) and times, per database:

- ``Store.save`` in batches (one transaction each), the rate the consumer can reach;
- the same batches again: every result a duplicate (a redelivery storm);
- the yardstick: plain Core executemany of the same rows into a table without keys or
  indexes, what the database gives with nothing of the store's work;
- ``Store.timeline_input`` over all of it (the A/R engine's load time), and the dashboard's
  queries; with ``--month`` after filling the store with a month of results (2.88 million).

The PostgreSQL database is created for the run and dropped after it.

    .venv/bin/python bench/bench_store.py [-n 100000] [--batch 1000] [--month]
        [--databases sqlite,postgresql] [--pg ADMIN_URL]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from vmsam.server.store import Received, Store
from vmsam.shared.messages import MetricResult, encode

TESTS = ("cvmfs", "middleware", "scratch", "mjf")
SPACES = 1000  # 200 sites x 5 spaces
START = datetime(2026, 1, 1, tzinfo=UTC)


def received(first: int, count: int) -> list[Received]:
    """Results ``first`` .. ``first + count - 1`` of the series (made per batch: millions of
    them do not fit in memory at once)."""
    items = []
    now = datetime.now(UTC)
    for index in range(first, first + count):
        test = TESTS[index % 4]
        space = index // len(TESTS) % SPACES
        hour = index // (len(TESTS) * SPACES)
        site = f"SITE-{space // 5:03d}"
        host = f"vac{space % 5}.{site.lower()}.example.org"
        result = MetricResult(
            service_uri=host,
            host_name=host,
            service_flavour="uk.ac.gridpp.vac",
            site_name=site,
            status="OK" if index % 7 else "CRITICAL",
            metric_name=f"org.lhcb.WN-{test}",
            summary=f"{test} fine",
            gathered_at=f"vm-{hour}.{host}",
            timestamp=START + timedelta(hours=hour),
            service_type="uk.ac.gridpp.vac",
            vo_name="lhcb",
            vm_uuid=str(uuid.UUID(int=index // 4)),
            vm_machinetype="lhcb-pilot",
            probe_duration="1.234",
            details="line one\nline two",
        )
        body = encode(result).encode()
        items.append(Received(body, {}, now, result=result))
    return items


def bare_insert(url: str, batches: list[list[Received]]) -> float:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    metadata = sa.MetaData()
    table = sa.Table(
        "bench_bare",
        metadata,
        *(sa.Column(name, sa.Text) for name in ("host", "site", "metric", "status", "summary")),
        sa.Column("timestamp", sa.DateTime(timezone=True)),
    )
    metadata.create_all(engine)
    started = time.perf_counter()
    for batch in batches:
        rows = [
            {
                "host": r.host_name,
                "site": r.site_name,
                "metric": r.metric_name,
                "status": r.status,
                "summary": r.summary,
                "timestamp": r.timestamp,
            }
            for item in batch
            if (r := item.result) is not None
        ]
        with engine.begin() as connection:
            connection.execute(sa.insert(table), rows)
    elapsed = time.perf_counter() - started
    metadata.drop_all(engine)
    engine.dispose()
    return sum(map(len, batches)) / elapsed


def measure(name: str, url: str, args: argparse.Namespace) -> None:
    batches = [received(first, args.batch) for first in range(0, args.n, args.batch)]
    store = Store(url)
    store.upgrade()
    print(f"{name}:")
    for label in ("save", "save again (all duplicates)"):
        started = time.perf_counter()
        for batch in batches:
            store.save(batch)
        rate = args.n / (time.perf_counter() - started)
        print(f"  {label:30s} {rate:10,.0f} results/s")
    print(f"  {'bare INSERT (yardstick)':30s} {bare_insert(url, batches):10,.0f} rows/s")
    total = args.n
    if args.month:
        total = len(TESTS) * SPACES * 24 * 30
        for first in range(args.n, total, args.batch):
            store.save(received(first, min(args.batch, total - first)))
    end = START + timedelta(hours=total // (len(TESTS) * SPACES) + 1)
    started = time.perf_counter()
    loaded = store.timeline_input(start=START, end=end)
    load = time.perf_counter() - started
    print(
        f"  {'timeline_input':30s} {len(loaded.results) / load:10,.0f} rows/s "
        f"({len(loaded.results):,} rows in {load:.2f} s)"
    )
    del loaded
    queries: dict[str, Callable[[], object]] = {
        "sites (status, freshness)": store.sites,
        "results, newest 100": store.results,
        "results of a site": lambda: store.results(site="SITE-007"),
    }
    for label, query in queries.items():
        started = time.perf_counter()
        query()
        print(f"  {label:30s} {(time.perf_counter() - started) * 1000:10,.1f} ms")
    store.close()


@contextmanager
def pg_database(admin_url: str) -> Iterator[str]:
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"vmsam_bench_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100_000, help="results timed (100000)")
    parser.add_argument(
        "--month",
        action="store_true",
        help="then fill the store to a month (2.88 million results) and time its load",
    )
    parser.add_argument(
        "--databases", default="sqlite,postgresql", help="which (sqlite,postgresql)"
    )
    parser.add_argument("--batch", type=int, default=1000, help="results per save (1000)")
    parser.add_argument(
        "--pg",
        default=os.environ.get(
            "VMSAM_TEST_PG", "postgresql+psycopg://postgres:postgres@127.0.0.1:5432/postgres"
        ),
        help="PostgreSQL admin URL (a database is created and dropped)",
    )
    args = parser.parse_args()
    databases = args.databases.split(",")
    print(f"{args.n:,} results in batches of {args.batch}")
    if "sqlite" in databases:
        with tempfile.TemporaryDirectory() as directory:
            measure("SQLite (WAL)", f"sqlite:///{directory}/bench.db", args)
    if "postgresql" in databases:
        with pg_database(args.pg) as url:
            measure("PostgreSQL", url, args)


if __name__ == "__main__":
    main()
