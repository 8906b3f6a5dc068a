"""The broker-outage candidates over a month of many sites: the silences of the store
(``Store.silences``: a window function over ``results.received_at``), without and with an
index on ``received_at``, and what that index costs the consumer's writes.

Generates a month of hourly results (bench_ar.generate), writes it into a fresh SQLite
store and PostgreSQL database (bench/bulk_load.py; received_at is the result's time), then
times, each in a new interpreter with a new Store:

- baseline: ``SELECT count(*)`` of the month's results by timestamp (its index);
- the silences of the month (``outage`` one hour), without an index on received_at;
- the same with one (created here, then dropped again);

and, in this process, ``Store.save`` of a day of 20 new sites as the consumer receives
them, without and with the index (the ingest cost of keeping it).

    .venv/bin/python bench/bench_candidates.py [--sites 200] [--days 31] [--store sqlite,postgresql]
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from bench_ar import START, generate, received  # siblings: this file runs as a script
from bench_report import month_arguments, stores
from bulk_load import load

from vmsam.server.store import Store

INDEX = "ix_bench_results_received_at"

_CHILD = """
import json, sys, time
from datetime import datetime, timedelta
import sqlalchemy as sa
from vmsam.server.store import Store, _models
task, url, start, end = sys.argv[1:5]
begin, until = datetime.fromisoformat(start), datetime.fromisoformat(end)
clock = time.perf_counter()
store = Store(url)
if task == "count":
    results = _models.RESULTS
    query = sa.select(sa.func.count()).select_from(results).where(
        results.c.timestamp >= begin, results.c.timestamp < until
    )
    with store.engine.connect() as connection:
        found = connection.execute(query).scalar_one()
else:
    found = len(store.silences(start=begin, end=until, at_least=timedelta(hours=1)))
seconds = time.perf_counter() - clock
print(json.dumps({"seconds": seconds, "found": found}))
"""


def child(task: str, url: str, begin: datetime, until: datetime) -> dict[str, float]:
    completed = subprocess.run(
        [sys.executable, "-c", _CHILD, task, url, begin.isoformat(), until.isoformat()],
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, float] = json.loads(completed.stdout)
    return figures


def index(store: Store, present: bool) -> None:
    with store.engine.begin() as connection:
        if present:
            connection.exec_driver_sql(f"CREATE INDEX {INDEX} ON results (received_at)")
        else:
            connection.exec_driver_sql(f"DROP INDEX IF EXISTS {INDEX}")


def ingest(store: Store, batches: list[list]) -> float:
    """Results per second of ``Store.save`` of ``batches``, as the consumer saves them."""
    count = sum(len(batch) for batch in batches)
    clock = time.perf_counter()
    for batch in batches:
        store.save(batch)
    return count / (time.perf_counter() - clock)


def main() -> int:
    args = month_arguments(__doc__)
    begin = datetime(START.year, START.month, START.day, tzinfo=UTC)
    until = begin + timedelta(days=args.days)
    data = generate(args.sites, args.days)
    count = sum(len(site.samples) for site in data)
    # a day after the month, of sites of their own: two halves, one saved per index state
    later = generate(20, 2, seed=7, start=(until + timedelta(days=1)).date())
    halves = [list(received(later[:10])), list(received(later[10:]))]
    print(f"generated {count:,} results of {args.sites} sites, {args.days} days")
    print()
    print("| store | request | seconds | x count(*) | found |")
    print("|---|---|---|---|---|")
    ingests = []
    with stores([n for n in args.store.split(",") if n], args.pg) as chosen:
        for name, url in chosen:
            with Store(url) as store:
                load(store, data, "lhcb")
                floor = child("count", url, begin, until)
                print(f"| {name} | count(*) of the month | {floor['seconds']:.2f} | 1.0 |"
                      f" {floor['found']:,} |")  # fmt: skip
                for present in (False, True):
                    index(store, present)
                    got = child("silences", url, begin, until)
                    label = "silences, " + ("with" if present else "without") + " the index"
                    ratio = got["seconds"] / floor["seconds"]
                    print(f"| {name} | {label} | {got['seconds']:.2f} | {ratio:.1f} |"
                          f" {got['found']:,} |")  # fmt: skip
                index(store, False)
                without = ingest(store, halves[0])
                index(store, True)
                with_index = ingest(store, halves[1])
                index(store, False)
                ingests.append((name, without, with_index))
    print()
    print("| store | save without the index (results/s) | with it | cost |")
    print("|---|---|---|---|")
    for name, without, with_index in ingests:
        cost = 100 * (1 - with_index / without)
        print(f"| {name} | {without:,.0f} | {with_index:,.0f} | {cost:.0f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
