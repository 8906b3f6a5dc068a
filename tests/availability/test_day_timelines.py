"""The engine's timelines of a site or an endpoint (what the status timelines show) are the
ones its figures are computed from: the seconds of each state in them are the figures'
second counts, day by day, on random histories with downtimes and a space joining late."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from vmsam.server.availability import (
    STATES,
    DayFigures,
    DowntimeWindow,
    Engine,
    Membership,
    Sample,
    Timeline,
)
from vmsam.server.store import TimelineRow
from vmsam.shared.errors import AvailabilityError

VO = "lhcb"
START = date(2024, 3, 1)
ORIGIN = datetime(2024, 3, 1, tzinfo=UTC)
SPACES = (("a.example", "uk.ac.gridpp.vac"), ("b.example", "uk.ac.gridpp.vcycle"))
METRICS = tuple(f"org.{VO}.WN-{test}" for test in ("cvmfs", "middleware", "scratch", "mjf"))
NOW = ORIGIN + timedelta(days=10)


def history(seed: int) -> tuple[list[Sample], list[DowntimeWindow], list[Membership]]:
    rng = random.Random(seed)
    samples = []
    for endpoint, kind in SPACES:
        for hour in range(24 * 5):
            if rng.random() < 0.3:
                continue
            moment = ORIGIN + timedelta(hours=hour, seconds=rng.randrange(3600))
            for metric in rng.sample(METRICS, rng.randint(1, 4)):
                status = rng.choice(["OK", "OK", "WARNING", "CRITICAL", "UNKNOWN"])
                samples.append(Sample(endpoint, kind, metric, moment, status))
    downtimes = [
        DowntimeWindow(
            "a.example",
            "uk.ac.gridpp.vac",
            ORIGIN + timedelta(hours=30),
            ORIGIN + timedelta(hours=52),
        ),
        DowntimeWindow(
            "b.example",
            "uk.ac.gridpp.vcycle",
            ORIGIN + timedelta(hours=40),
            ORIGIN + timedelta(hours=41),
            scheduled=False,
        ),
    ]
    members = [
        Membership("a.example", "uk.ac.gridpp.vac", "SITE", VO, ORIGIN),
        Membership("b.example", "uk.ac.gridpp.vcycle", "SITE", VO, ORIGIN + timedelta(days=2)),
    ]
    return samples, downtimes, members


def counts(timeline: Timeline) -> tuple[int, int, int, int, int]:
    spent = dict(zip(STATES, timeline.seconds(), strict=True))
    return (
        spent["OK"] + spent["WARNING"],
        spent["UNKNOWN"] + spent["MISSING"],
        spent["DOWNTIME"],
        spent["CRITICAL"],
        timeline.length,
    )


def figured(figures: DayFigures) -> tuple[int, int, int, int, int]:
    return (
        figures.up_seconds,
        figures.unknown_seconds,
        figures.down_seconds,
        figures.critical_seconds,
        figures.total_seconds,
    )


@pytest.mark.parametrize("seed", range(5))
def test_site_timelines_are_those_of_the_site_figures(seed: int) -> None:
    samples, downtimes, members = history(seed)
    engine = Engine()
    end = START + timedelta(days=6)
    arguments = {"site": "SITE", "vo": VO, "start": START, "end": end, "now": NOW}
    days = engine.site_timelines(samples, downtimes, members, **arguments)
    site = engine.site_days(samples, downtimes, members, **arguments)
    assert [day.day for day in days] == [figures.day for figures in site]
    assert [counts(day.combined) for day in days] == [figured(f) for f in site]
    every = engine.all_days(
        [
            TimelineRow(s.endpoint, s.service_type, s.metric, VO, "SITE", s.timestamp, s.status)
            for s in samples
        ],
        downtimes,
        members,
        vo=VO,
        start=START,
        end=end,
        now=NOW,
        endpoints=True,
    )["SITE"]
    for key, figures in every.endpoints.items():
        assert [counts(day.endpoints[key]) for day in days] == [figured(f) for f in figures]
    assert all(len(day.metrics) == 2 * len(METRICS) for day in days)


def test_endpoint_timelines_are_those_of_the_endpoint_figures() -> None:
    samples, downtimes, _ = history(7)
    engine = Engine()
    arguments = {
        "endpoint": "a.example",
        "service_type": "uk.ac.gridpp.vac",
        "vo": VO,
        "start": START,
        "end": START + timedelta(days=6),
        "now": NOW,
    }
    days = engine.endpoint_timelines(samples, downtimes, **arguments)
    figures = engine.endpoint_days(samples, downtimes, **arguments)
    assert [counts(day.combined) for day in days] == [figured(f) for f in figures]
    assert all(day.endpoints == {("a.example", "uk.ac.gridpp.vac"): day.combined} for day in days)
    # the metric timelines are the results' own: nothing of the downtime in them
    assert all(
        STATES.index("DOWNTIME") not in timeline.states
        for day in days
        for timeline in day.metrics.values()
    )
    with pytest.raises(AvailabilityError, match="has no metrics"):
        engine.endpoint_timelines(samples, downtimes, **{**arguments, "service_type": "X"})
