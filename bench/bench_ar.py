"""Daily A/R of a month for many sites: the engine against the per-second reference.

Generates in memory a month of hourly results for SITES sites x 5 spaces x 4 WN metrics
(200 sites: about 2.9 million results) with the irregularities of real VM-only sites (boot
times anywhere in the hour, two VMs in the same second, silent days, scheduled and
unscheduled downtimes, one space joining mid-month), then times the engine on every site and
the per-second reference (bench/reference_ar.py) on a sample of sites, extrapolated to all of
them, and checks that both give the same figures on the sample.

With ``--store``, the same month is also saved (as received messages) into a fresh SQLite
store, and PostgreSQL with ``--store sqlite,postgresql``; then the time to load the whole
month for the engine (``Store.timeline_input``) is set against the engine's time, the
engine on the rows as loaded must give the same figures, and ``ar_document`` (what one API
or CLI request costs: load one site, compute) is timed on a sample of sites.

    .venv/bin/python bench/bench_ar.py [--sites 200] [--days 31] [--reference-sites 2]
        [--store sqlite[,postgresql]] [--pg ADMIN_URL]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import reference_ar  # the sibling modules: this file runs as a script
from bench_store import pg_database

from vmsam.server.availability import DayFigures, DowntimeWindow, Engine, Membership, Sample
from vmsam.server.reports import ar_document, freshness
from vmsam.server.store import Received, Store, TimelineRow
from vmsam.shared.messages import MetricResult, encode

VO = "dteam"
METRICS = tuple(f"org.{VO}.WN-{test}" for test in ("cvmfs", "middleware", "scratch", "mjf"))
SPACE_TYPES = ("uk.ac.gridpp.vac",) * 3 + ("uk.ac.gridpp.vcycle",) * 2
START = date(2024, 3, 1)
# weights of a metric's status in one tested VM
STATUSES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")
WEIGHTS = (0.90, 0.04, 0.03, 0.03)


@dataclass
class SiteData:
    name: str
    samples: list[Sample]
    downtimes: list[DowntimeWindow]
    memberships: list[Membership]


def generate(sites: int, days: int, *, seed: int = 1, start: date = START) -> list[SiteData]:
    """A month of results: one tested VM per space per hour, with realistic faults."""
    rng = random.Random(seed)
    origin = datetime(start.year, start.month, start.day, tzinfo=UTC)
    hours = 24 * days
    out = []
    for s in range(sites):
        site = f"SITE-{s:03d}"
        samples: list[Sample] = []
        downtimes: list[DowntimeWindow] = []
        memberships: list[Membership] = []
        for p, service_type in enumerate(SPACE_TYPES):
            space = f"space{p}.site{s:03d}.example.org"
            # the last space of some sites joins mid-month; some spaces fall silent a while
            first_hour = rng.randrange(hours // 2) if p == 4 and s % 7 == 0 else 0
            silent = set()
            if rng.random() < 0.2:
                gap = rng.randrange(hours)
                silent = set(range(gap, gap + rng.randrange(6, 60)))
            first_seen = None
            for hour in range(first_hour, hours):
                if hour in silent:
                    continue
                moment = origin + timedelta(hours=hour, seconds=rng.randrange(3600))
                first_seen = first_seen or moment
                vms = 2 if rng.random() < 0.01 else 1  # two VMs reporting in the same second
                for _ in range(vms):
                    statuses = rng.choices(STATUSES, WEIGHTS, k=len(METRICS))
                    samples.extend(
                        Sample(space, service_type, metric, moment, status)
                        for metric, status in zip(METRICS, statuses, strict=True)
                    )
            if first_seen is not None:
                memberships.append(Membership(space, service_type, site, VO, first_seen))
            if rng.random() < 0.3:
                begin = origin + timedelta(seconds=rng.randrange(hours * 3600))
                end = begin + timedelta(hours=rng.randrange(1, 50))
                downtimes.append(
                    DowntimeWindow(space, service_type, begin, end, rng.random() < 0.8)
                )
        out.append(SiteData(site, samples, downtimes, memberships))
    return out


def received(data: list[SiteData], batch: int = 5000) -> Iterator[list[Received]]:
    """The generated results as the consumer receives them: one VM per boot (two VMs in the
    same second are two VMs), every result a real encoded record."""
    items: list[Received] = []
    for site in data:
        vms: Counter[tuple[str, str, datetime]] = Counter()
        for sample in site.samples:
            key = (sample.endpoint, sample.metric, sample.timestamp)
            vms[key] += 1
            vm = f"{sample.endpoint}-{sample.timestamp:%d%H%M%S}-{vms[key]}"
            result = MetricResult(
                service_uri=sample.endpoint,
                host_name=sample.endpoint,
                service_flavour=sample.service_type,
                site_name=site.name,
                status=sample.status,
                metric_name=sample.metric,
                summary=f"{sample.status} from the benchmark",
                gathered_at=vm,
                timestamp=sample.timestamp,
                service_type=sample.service_type,
                vo_name=VO,
                vm_uuid=vm,
                vm_machinetype="pilot",
            )
            items.append(Received(encode(result).encode(), {}, sample.timestamp, result=result))
            if len(items) == batch:
                yield items
                items = []
    if items:
        yield items


def from_store(
    label: str,
    url: str,
    data: list[SiteData],
    figures: dict[str, list[DayFigures]],
    engine_seconds: float,
    *,
    end: date,
    now: datetime,
    request_sites: int,
) -> bool:
    """Save the month into the store at ``url``, then time its load against the engine."""
    store = Store(url)
    try:
        clock = time.perf_counter()
        saved = sum(store.save(batch).stored for batch in received(data))
        for site in data:
            for window in site.downtimes:
                store.add_downtime(
                    window.endpoint,
                    window.service_type,
                    window.start,
                    window.end,
                    scheduled=window.scheduled,
                )
        save_seconds = time.perf_counter() - clock
        print(
            f"{label}: saved {saved:,} results in {save_seconds:.0f} s"
            f" ({saved / save_seconds:,.0f} results/s, setup only)"
        )

        begin = datetime(START.year, START.month, START.day, tzinfo=UTC)
        clock = time.perf_counter()
        loaded = store.timeline_input(start=begin, end=now, vo=VO)
        load_seconds = time.perf_counter() - clock
        print(
            f"  load:      {load_seconds:8.2f} s for {len(loaded.results):,} rows"
            f" (timeline_input, the whole month): {load_seconds / engine_seconds:.1f}x"
            " the engine's time"
        )

        clock = time.perf_counter()
        rows: dict[str, list[TimelineRow]] = {}
        for row in loaded.results:
            rows.setdefault(row.site, []).append(row)
        engine = Engine()
        again = {
            site.name: engine.site_days(
                rows.get(site.name, []),
                loaded.downtimes,
                loaded.members,
                site=site.name,
                vo=VO,
                start=START,
                end=end,
                now=now,
            )
            for site in data
        }
        print(f"  engine:    {time.perf_counter() - clock:8.2f} s on the rows as loaded")
        if again != figures:
            print("  MISMATCH: the store's rows give other figures than the generated ones")
            return False

        sample = data[:request_sites]
        clock = time.perf_counter()
        for site in sample:
            document = ar_document(store, site=site.name, start=START, end=end, vo=VO, now=now)
            assert document["results"] == [day.as_result() for day in figures[site.name]]
        per_request = (time.perf_counter() - clock) / len(sample)
        print(
            f"  request:   {1000 * per_request:8.0f} ms per site-month (ar_document: load one"
            f" site, compute; mean of {len(sample)}); all {len(data)} sites"
            f" that way: {per_request * len(data):.0f} s"
        )

        clock = time.perf_counter()
        spaces = freshness(store, now=now)
        print(
            f"  freshness: {time.perf_counter() - clock:8.2f} s for {len(spaces)} endpoints"
            " (last results, tested VM boots of the last 7 days)"
        )
        return True
    finally:
        store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=200)
    parser.add_argument("--days", type=int, default=31)
    parser.add_argument("--reference-sites", type=int, default=2)
    parser.add_argument(
        "--store",
        default="",
        help="also save the month into these stores and time its load: sqlite,postgresql",
    )
    parser.add_argument(
        "--pg",
        default=os.environ.get(
            "VMSAM_TEST_PG", "postgresql+psycopg://postgres:postgres@127.0.0.1:5432/postgres"
        ),
        help="PostgreSQL admin URL (a database is created and dropped)",
    )
    parser.add_argument(
        "--request-sites", type=int, default=5, help="sites timed through ar_document (5)"
    )
    args = parser.parse_args()
    end = START + timedelta(days=args.days - 1)
    now = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1)

    clock = time.perf_counter()
    data = generate(args.sites, args.days)
    count = sum(len(site.samples) for site in data)
    print(
        f"generated {count:,} results: {args.sites} sites x {len(SPACE_TYPES)} spaces x"
        f" {len(METRICS)} metrics, hourly, {args.days} days ({time.perf_counter() - clock:.1f} s)"
    )

    engine = Engine()
    clock = time.perf_counter()
    figures = {
        site.name: engine.site_days(
            site.samples,
            site.downtimes,
            site.memberships,
            site=site.name,
            vo=VO,
            start=START,
            end=end,
            now=now,
        )
        for site in data
    }
    engine_seconds = time.perf_counter() - clock
    site_days = sum(len(days) for days in figures.values())
    print(
        f"engine:    {engine_seconds:8.2f} s for {site_days:,} site-days"
        f" ({1000 * engine_seconds / site_days:.3f} ms per site-day)"
    )

    sample = data[: args.reference_sites]
    clock = time.perf_counter()
    reference = {
        site.name: reference_ar.site_days(
            engine.profiles,
            site.samples,
            site.downtimes,
            site.memberships,
            site=site.name,
            vo=VO,
            start=START,
            end=end,
            now=now,
        )
        for site in sample
    }
    reference_seconds = time.perf_counter() - clock
    extrapolated = reference_seconds * len(data) / len(sample)
    print(
        f"reference: {reference_seconds:8.2f} s for {len(sample)} site(s);"
        f" extrapolated to {len(data)} sites: {extrapolated:,.0f} s"
    )
    print(f"speed-up:  {extrapolated / engine_seconds:,.0f}x")

    mismatches = [
        (name, ours["date"])
        for name, days in reference.items()
        for ours, theirs in zip((d.as_result() for d in figures[name]), days, strict=True)
        if ours != theirs
    ]
    checked = sum(len(days) for days in reference.values())
    if mismatches:
        print(f"MISMATCH between engine and reference: {mismatches[:10]}")
        return 1
    print(f"engine == reference on all {checked} sampled site-days (5 decimals)")

    stores = [name for name in args.store.split(",") if name]
    same = True
    if "sqlite" in stores:
        with tempfile.TemporaryDirectory() as directory:
            same &= from_store(
                "SQLite",
                f"sqlite:///{directory}/vmsam.db",
                data,
                figures,
                engine_seconds,
                end=end,
                now=now,
                request_sites=args.request_sites,
            )
    if "postgresql" in stores:
        with pg_database(args.pg) as url:
            same &= from_store(
                "PostgreSQL",
                url,
                data,
                figures,
                engine_seconds,
                end=end,
                now=now,
                request_sites=args.request_sites,
            )
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
