"""Trends and status timelines over a month of many sites, from a cold store.

Generates a month of hourly results (bench_ar.generate: SITES sites x 5 spaces x 4 metrics,
with its faults), writes it into a fresh SQLite store and PostgreSQL database
(bench/bulk_load.py), gives the results three machinetypes (by id: what the trends break
down by), and then, each time in a new interpreter with a new Store, times end to end
(request to the last byte of JSON) with the child's peak memory (VmHWM):

- baseline: the plain ``SELECT count(*)`` of the month's results (what any query of the
  month costs at least), and the every-site A/R report of the month from no kept figures
  (bench_report's cold report, the heaviest read the API had before);
- the trends of every site for the month (``trends_document``), and of one site;
- one site's month of status timelines (``status_document``: site, spaces, metrics, each
  metric piece with its result), and one endpoint's.

    .venv/bin/python bench/bench_trends.py [--sites 200] [--days 31] [--store sqlite,postgresql]
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from bench_ar import START, VO, generate  # siblings: this file runs as a script
from bench_report import forget, month_arguments, report, stores
from bulk_load import load

from vmsam.server.store import Store, _models

MACHINETYPES = ("lhcb-prod", "lhcb-test", "lhcb-mc")

_CHILD = """
import json, sys, time
from datetime import date, datetime, timedelta
import sqlalchemy as sa
from vmsam.server.store import Store, _models
from vmsam.server.timelines import status_document
from vmsam.server.trends import trends_document
task, url, start, end, now, name = sys.argv[1:7]
now = datetime.fromisoformat(now)
clock = time.perf_counter()
store = Store(url)
if task == "count":
    results = _models.RESULTS
    begin = datetime.fromisoformat(start + "T00:00:00+00:00")
    until = datetime.fromisoformat(end + "T00:00:00+00:00") + timedelta(days=1)
    query = sa.select(sa.func.count()).select_from(results).where(
        results.c.timestamp >= begin, results.c.timestamp < until
    )
    with store.engine.connect() as connection:
        document = {{"count": connection.execute(query).scalar_one()}}
elif task == "trends":
    document = trends_document(store, start=start, end=end, vo="{vo}", site=name or None, now=now)
elif task == "site":
    document = status_document(store, site=name, start=start, end=end, vo="{vo}", now=now)
else:
    document = status_document(store, endpoint=name, start=start, end=end, vo="{vo}", now=now)
body = json.dumps(document).encode()
seconds = time.perf_counter() - clock
with open("/proc/self/status") as status:
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({{"seconds": seconds, "bytes": len(body), "peak_mb": peak / 1024,
                  "count": document.get("count")}}))
"""


def child(task: str, url: str, days: int, now: datetime, name: str = "") -> dict[str, float]:
    end = START + timedelta(days=days - 1)
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            _CHILD.format(vo=VO),
            task,
            url,
            START.isoformat(),
            end.isoformat(),
            now.isoformat(),
            name,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, float] = json.loads(completed.stdout)
    return figures


def machinetypes(store: Store) -> None:
    """Three machinetypes, by result id: the breakdown the trends make has groups to make."""
    results = _models.RESULTS
    named = sa.case(dict(enumerate(MACHINETYPES)), value=results.c.id % len(MACHINETYPES))
    with store.engine.begin() as connection:
        connection.execute(sa.update(results).values(machinetype=named))


def row(store: str, label: str, figures: dict[str, float], floor: float) -> None:
    print(
        f"| {store} | {label} | {figures['seconds']:.2f} | {figures['seconds'] / floor:.1f} |"
        f" {figures['peak_mb']:,.0f} | {figures['bytes'] / 1024:,.0f} |"
    )


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
    site = data[0].name
    endpoint = data[0].memberships[0].endpoint
    print()
    print("| store | request | seconds | x count(*) | peak MB | answer KB |")
    print("|---|---|---|---|---|---|")
    with stores([n for n in args.store.split(",") if n], args.pg) as chosen:
        for name, url in chosen:
            with Store(url) as store:
                clock = time.perf_counter()
                load(store, data, VO)
                machinetypes(store)
                setup = time.perf_counter() - clock
            print(f"<!-- {name}: loaded {count:,} results in {setup:.0f} s (setup) -->")
            counted = child("count", url, args.days, now)
            assert counted["count"] == count, counted
            floor = counted["seconds"]
            row(name, "baseline: SELECT count(*) of the month", counted, floor)
            forget(url)
            row(
                name,
                "baseline: A/R of every site, cold",
                report(url, args.days, now, endpoints=False),
                floor,
            )
            row(name, "trends of every site", child("trends", url, args.days, now), floor)
            row(
                name,
                f"trends of one site ({site})",
                child("trends", url, args.days, now, site),
                floor,
            )
            row(
                name,
                f"timelines of one site ({site})",
                child("site", url, args.days, now, site),
                floor,
            )
            row(
                name,
                "timelines of one endpoint",
                child("endpoint", url, args.days, now, endpoint),
                floor,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
