"""The per-second reference (bench/reference_ar.py) is right, and the engine matches it on
a busy, irregular site."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from bench import reference_ar
from tests.availability.helpers import ARC, DAY, ENGINE, METRICS, VAC, VO, at, day, member, results
from vmsam.server.availability import DowntimeWindow, Membership, Sample

PROFILES = ENGINE.profiles


def test_the_reference_gives_the_first_worked_example() -> None:
    samples = results(
        "space1", [(at(0), "OK"), (at(3), "CRITICAL"), (at(18), "UNKNOWN"), (at(22), "OK")]
    )
    [figures] = reference_ar.endpoint_days(
        PROFILES, samples, [], endpoint="space1", service_type=VAC, vo=VO, start=DAY, end=DAY
    )
    assert figures == {
        "date": DAY.isoformat(),
        "availability": 25.0,
        "reliability": 25.0,
        "up": 0.20833,
        "unknown": 0.16667,
        "down": 0.0,
    }


def test_the_reference_gives_the_second_worked_example() -> None:
    samples = results(
        "space1", [(at(0), "OK"), (at(3), "CRITICAL"), (at(12), "UNKNOWN"), (at(22), "OK")]
    )
    downtime = DowntimeWindow("space1", VAC, at(18), at(22))
    [figures] = reference_ar.endpoint_days(
        PROFILES, samples, [downtime], endpoint="space1", service_type=VAC, vo=VO, start=DAY,
        end=DAY,
    )  # fmt: skip
    assert (figures["availability"], figures["reliability"], figures["down"]) == (
        27.77778,
        35.71429,
        0.16667,
    )


def busy_site(seed: int) -> tuple[list[Sample], list[DowntimeWindow], list[Membership]]:
    """A week of a site with three spaces and a CE: results every few minutes to hours,
    same-second pairs, a silent day, a space joining mid-week, overlapping downtimes."""
    rng = random.Random(seed)
    endpoints = [("s1", VAC), ("s2", VAC), ("s3", "uk.ac.gridpp.vcycle"), ("ce", ARC)]
    samples: list[Sample] = []
    for endpoint, service_type in endpoints:
        silent_day = rng.randrange(7)
        joined = 3 if endpoint == "s3" else -1
        second = joined * 86400
        while second < 7 * 86400:
            second += rng.choice([60, 600, 3600, 4 * 3600, 11 * 3600])
            if second // 86400 == silent_day:
                continue
            statuses = rng.choices(["OK", "WARNING", "CRITICAL", "UNKNOWN"], [8, 1, 2, 1], k=4)
            moment = at(0) + timedelta(seconds=second)
            samples += [
                Sample(endpoint, service_type, metric, moment, status)
                for metric, status in zip(METRICS, statuses, strict=True)
            ]
            if rng.random() < 0.05:  # another VM in the same second
                samples.append(Sample(endpoint, service_type, METRICS[0], moment, "CRITICAL"))
    downtimes = [
        DowntimeWindow("s1", VAC, at(20), at(40)),
        DowntimeWindow("s1", VAC, at(30), at(50)),
        DowntimeWindow("s2", VAC, at(30), at(45)),
        DowntimeWindow("ce", ARC, at(70), at(100), scheduled=False),
        DowntimeWindow("ce", ARC, at(80), at(81)),
    ]
    memberships = [
        member("s1", at(-24)),
        member("s2", at(-24)),
        member("s3", at(72), service_type="uk.ac.gridpp.vcycle"),
        member("ce", at(-24), service_type=ARC),
    ]
    return samples, downtimes, memberships


@pytest.mark.parametrize("seed", [1, 2])
def test_engine_equals_reference_on_a_busy_week(seed: int) -> None:
    samples, downtimes, memberships = busy_site(seed)
    now = at(12, day(6))  # the last day is the current one
    query = {"site": "SITE", "vo": VO, "start": day(-1), "end": day(8), "now": now}
    ours = ENGINE.site_days(samples, downtimes, memberships, **query)  # type: ignore[arg-type]
    theirs = reference_ar.site_days(
        PROFILES,
        samples,
        downtimes,
        memberships,
        **query,  # type: ignore[arg-type]
    )
    assert len(ours) == 8
    assert [f.as_result() for f in ours] == theirs
    # the week is not trivial: some days are neither all up nor undefined
    assert any(0 < f.availability < 100 for f in ours)


@pytest.mark.parametrize("endpoint", [("s1", VAC), ("s3", "uk.ac.gridpp.vcycle"), ("ce", ARC)])
def test_engine_equals_reference_for_each_endpoint(endpoint: tuple[str, str]) -> None:
    samples, downtimes, _ = busy_site(3)
    query = {
        "endpoint": endpoint[0],
        "service_type": endpoint[1],
        "vo": VO,
        "start": day(-1),
        "end": day(6),
        "now": at(0, day(7)),
    }
    ours = ENGINE.endpoint_days(samples, downtimes, **query)  # type: ignore[arg-type]
    theirs = reference_ar.endpoint_days(PROFILES, samples, downtimes, **query)  # type: ignore[arg-type]
    assert [f.as_result() for f in ours] == theirs
