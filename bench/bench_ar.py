"""Daily A/R of a month for many sites: the engine against the per-second reference.

Generates in memory a month of hourly results for SITES sites x 5 spaces x 4 WN metrics
(200 sites: about 2.9 million results) with the irregularities of real VM-only sites (boot
times anywhere in the hour, two VMs in the same second, silent days, scheduled and
unscheduled downtimes, one space joining mid-month), then times the engine on every site and
the per-second reference (bench/reference_ar.py) on a sample of sites, extrapolated to all of
them, and checks that both give the same figures on the sample.

    .venv/bin/python bench/bench_ar.py [--sites 200] [--days 31] [--reference-sites 2]
"""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import reference_ar  # the sibling module: this file runs as a script

from vmsam.availability import DowntimeWindow, Engine, Membership, Sample

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=200)
    parser.add_argument("--days", type=int, default=31)
    parser.add_argument("--reference-sites", type=int, default=2)
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
