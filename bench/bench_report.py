"""WLCG's monthly report: every site's daily A/R of a month in one answer, from a cold store.

Generates a month of hourly results (bench_ar.generate: SITES sites x 5 spaces x 4 metrics,
with its faults), writes it into a fresh SQLite store and PostgreSQL database
(bench/bulk_load.py), and then, each time in a new interpreter with a new Store (nothing
cached in memory), asks ``ar_all_document`` for the month and turns it into JSON bytes:

- cold: no daily figures kept yet (the status changes are loaded with window functions and
  every site computed), for every site, then with every space of every site too;
- the nightly ``vmsam db figure`` of the month from no kept figures (reports.figure);
- after it: the report reads the kept figures, for sites, then with spaces too.

Each is timed end to end (request to the last byte of JSON) with the child's peak memory
(VmHWM), ``--runs`` times (each cold one from a cold store again): the table gives the
median time and the highest peak. The baseline, in the same run: the engine alone on the
same month already in memory (no store at all), and the rows the store holds against the
rows it hands the engine.

    .venv/bin/python bench/bench_report.py [--sites 200] [--days 31] [--store sqlite,postgresql]
        [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from bench_ar import START, VO, generate  # siblings: this file runs as a script
from bench_store import pg_database
from bulk_load import load

from vmsam.server.availability import Engine
from vmsam.server.store import Store

_CHILD = """
import json, sys, time
from datetime import datetime
from vmsam.server.reports import ar_all_document
from vmsam.server.store import Store
url, start, end, now, endpoints = sys.argv[1:6]
clock = time.perf_counter()
store = Store(url)
document = ar_all_document(store, start=start, end=end, vo="{vo}",
                           now=datetime.fromisoformat(now), endpoints=endpoints == "1")
body = json.dumps(document).encode()
seconds = time.perf_counter() - clock
# VmHWM: this process's own peak (ru_maxrss would carry the parent's over the exec)
with open("/proc/self/status") as status:
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({{"seconds": seconds, "bytes": len(body), "sites": len(document["sites"]),
                  "peak_mb": peak / 1024}}))
"""


def report(url: str, days: int, now: datetime, *, endpoints: bool) -> dict[str, float]:
    end = START + timedelta(days=days - 1)
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            _CHILD.format(vo=VO),
            url,
            START.isoformat(),
            end.isoformat(),
            now.isoformat(),
            "1" if endpoints else "0",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, float] = json.loads(completed.stdout)
    return figures


_NIGHTLY = """
import json, sys, time
from datetime import datetime
from vmsam.server.reports import figure
from vmsam.server.store import Store
url, days, now = sys.argv[1:4]
clock = time.perf_counter()
figure(Store(url), days=int(days), now=datetime.fromisoformat(now))
seconds = time.perf_counter() - clock
with open("/proc/self/status") as status:
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({"seconds": seconds, "bytes": 0, "peak_mb": peak / 1024}))
"""


def nightly(url: str, days: int, now: datetime) -> dict[str, float]:
    """``vmsam db figure`` over the month, in a new interpreter, as a nightly job runs it."""
    completed = subprocess.run(
        [sys.executable, "-c", _NIGHTLY, url, str(days), now.isoformat()],
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, float] = json.loads(completed.stdout)
    return figures


def repeated(
    runs: int,
    measure: Callable[..., dict[str, float]],
    *args: Any,
    cold: str | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """``measure(*args, **kwargs)`` ``runs`` times, each after ``forget(cold)`` when given:
    the median time, the highest peak, and each run's time."""
    taken = []
    for _ in range(runs):
        if cold is not None:
            forget(cold)
        taken.append(measure(*args, **kwargs))
    return {
        **taken[0],
        "seconds": statistics.median(t["seconds"] for t in taken),
        "peak_mb": max(t["peak_mb"] for t in taken),
        "times": [t["seconds"] for t in taken],
    }


def row(store: str, label: str, figures: dict[str, Any], floor: float) -> None:
    print(
        f"| {store} | {label} | {figures['seconds']:.2f} | {figures['seconds'] / floor:.2f} |"
        f" {figures['peak_mb']:,.0f} | {figures['bytes'] / 1024:,.0f} |"
        f" {' / '.join(f'{t:.2f}' for t in figures['times'])} |"
    )


def forget(url: str) -> None:
    """Drop the kept daily figures: the next report starts cold."""
    with Store(url) as store, store.engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM daily_figures")
        connection.exec_driver_sql("DELETE FROM figured_days")


@contextmanager
def stores(names: list[str], pg_admin: str) -> Iterator[Iterator[tuple[str, str]]]:
    with tempfile.TemporaryDirectory() as directory, pg_database(pg_admin) as pg_url:
        urls = {"sqlite": f"sqlite:///{directory}/vmsam.db", "postgresql": pg_url}
        yield ((name, urls[name]) for name in names)


def month_arguments(doc: str | None) -> argparse.Namespace:
    """The options of the month benchmarks: how many sites and days, which stores, and
    PostgreSQL's admin URL."""
    assert doc is not None
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--sites", type=int, default=200)
    parser.add_argument("--days", type=int, default=31)
    parser.add_argument("--store", default="sqlite,postgresql")
    parser.add_argument("--runs", type=int, default=1, help="times each report is run")
    parser.add_argument(
        "--pg",
        default=os.environ.get(
            "VMSAM_TEST_PG", "postgresql+psycopg://postgres:postgres@127.0.0.1:5432/postgres"
        ),
        help="PostgreSQL admin URL (a database is created and dropped)",
    )
    return parser.parse_args()


def main() -> int:
    args = month_arguments(__doc__)
    end = START + timedelta(days=args.days - 1)
    now = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1)

    clock = time.perf_counter()
    data = generate(args.sites, args.days)
    count = sum(len(site.samples) for site in data)
    print(
        f"generated {count:,} results of {args.sites} sites, {args.days} days"
        f" ({time.perf_counter() - clock:.0f} s)"
    )

    engine = Engine()
    clock = time.perf_counter()
    for site in data:
        engine.site_days(
            site.samples,
            site.downtimes,
            site.memberships,
            site=site.name,
            vo=VO,
            start=START,
            end=end,
            now=now,
        )
    floor = time.perf_counter() - clock
    print(
        f"baseline: the engine alone on the month in memory: {floor:.2f} s"
        f" (peak so far {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB,"
        " the generated month included)"
    )

    print()
    print("| store | report | seconds (median) | x engine alone | peak MB | answer KB | each run |")
    print("|---|---|---|---|---|---|---|")
    with stores([n for n in args.store.split(",") if n], args.pg) as chosen:
        for name, url in chosen:
            with Store(url) as store:
                clock = time.perf_counter()
                load(store, data, VO)
                setup = time.perf_counter() - clock
                begin = datetime(START.year, START.month, START.day, tzinfo=UTC)
                loaded = store.timeline_input(start=begin, end=now, vo=VO)
                handed = len(loaded.results)
            print(
                f"<!-- {name}: loaded {count:,} results in {setup:.0f} s (setup);"
                f" the engine is handed {handed:,} status changes"
                f" ({100 * handed / count:.0f}% of the rows) -->"
            )
            for label, endpoints in (
                ("cold, sites", False),
                ("cold, sites + endpoints", True),
            ):
                cold = repeated(
                    args.runs, report, url, args.days, now, endpoints=endpoints, cold=url
                )
                row(name, label, cold, floor)
            figured = repeated(args.runs, nightly, url, args.days, now, cold=url)
            row(name, "vmsam db figure of the month (nightly job)", figured, floor)
            for label, endpoints in (
                ("after db figure, sites", False),
                ("after db figure, sites + endpoints", True),
            ):
                after = repeated(args.runs, report, url, args.days, now, endpoints=endpoints)
                row(name, label, after, floor)
    return 0


if __name__ == "__main__":
    sys.exit(main())
