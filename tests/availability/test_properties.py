"""Properties over random inputs (hypothesis), including engine == per-second reference."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench import reference_ar
from tests.availability.helpers import ARC, DAY, ENGINE, METRICS, VAC, VO, at, day
from vmsam.server.availability import (
    STATES,
    DayFigures,
    DowntimeWindow,
    Membership,
    Sample,
    aggregate,
)
from vmsam.server.availability._figures import day_figures
from vmsam.server.availability._timeline import Timeline, combine, from_results, overlay

AND = ENGINE.profiles.operations.table("AND")
OR = ENGINE.profiles.operations.table("OR")
TABLES = st.sampled_from([AND, OR])
STATE = st.integers(0, len(STATES) - 1)


@st.composite
def timelines(draw: st.DrawFn, length: int | None = None) -> Timeline:
    size = length if length is not None else draw(st.integers(1, 400))
    points = sorted(draw(st.lists(st.tuples(st.integers(0, size - 1), STATE), max_size=12)))
    return from_results(draw(STATE), points, size, AND)


@st.composite
def pairs(draw: st.DrawFn) -> tuple[Timeline, Timeline]:
    size = draw(st.integers(1, 400))
    return draw(timelines(size)), draw(timelines(size))


def expand(timeline: Timeline) -> list[int]:
    line: list[int] = []
    ends = (*timeline.starts[1:], timeline.length)
    for start, end, state in zip(timeline.starts, ends, timeline.states, strict=True):
        line += [state] * (end - start)
    return line


def is_normal(timeline: Timeline) -> bool:
    starts, states = timeline.starts, timeline.states
    return (
        starts[0] == 0
        and all(a < b for a, b in itertools.pairwise(starts))
        and starts[-1] < timeline.length
        and all(a != b for a, b in itertools.pairwise(states))
    )


@given(st.lists(st.tuples(st.integers(0, 59), STATE), max_size=12), STATE)
def test_results_in_one_second_combine_with_and_in_any_order(
    points: list[tuple[int, int]], initial: int
) -> None:
    points.sort(key=lambda p: p[0])  # by second only: states in the drawn order
    line = [initial] * 60
    for second in sorted({p[0] for p in points}):
        states = [state for s, state in points if s == second]
        combined = states[0]
        for state in states[1:]:
            combined = AND[combined][state]
        line[second:] = [combined] * (60 - second)
    forward = from_results(initial, points, 60, AND)
    backward = from_results(initial, sorted(points[::-1], key=lambda p: p[0]), 60, AND)
    assert expand(forward) == line
    assert backward == forward


@given(pairs(), TABLES)
def test_combining_is_commutative(pair: tuple[Timeline, Timeline], table: object) -> None:
    a, b = pair
    assert combine(a, b, table) == combine(b, a, table)  # type: ignore[arg-type]


@given(timelines(), TABLES)
def test_combining_a_timeline_with_itself_is_the_identity(a: Timeline, table: object) -> None:
    assert combine(a, a, table) == a  # type: ignore[arg-type]


@given(pairs(), TABLES)
def test_combining_equals_the_table_second_by_second(
    pair: tuple[Timeline, Timeline], table: tuple[tuple[int, ...], ...]
) -> None:
    a, b = pair
    combined = combine(a, b, table)
    assert is_normal(combined)
    assert expand(combined) == [table[x][y] for x, y in zip(expand(a), expand(b), strict=True)]


@given(timelines(), st.lists(st.tuples(st.integers(0, 400), st.integers(1, 100)), max_size=4))
def test_overlay_replaces_exactly_the_merged_intervals(
    timeline: Timeline, raw: list[tuple[int, int]]
) -> None:
    size = timeline.length
    spans = sorted((s, min(s + d, size)) for s, d in raw if s < size)
    merged: list[tuple[int, int]] = []
    for begin, end in spans:
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((begin, end))
    result = overlay(timeline, merged, 5)
    assert is_normal(result)
    line = expand(timeline)
    for begin, end in spans:
        line[begin:end] = [5] * (end - begin)
    assert expand(result) == line


@given(timelines())
def test_seconds_add_up(timeline: Timeline) -> None:
    line = expand(timeline)
    assert timeline.seconds() == [line.count(s) for s in range(len(STATES))]


seconds_per_state = st.lists(st.integers(0, 86400), min_size=6, max_size=6).filter(
    lambda s: sum(s) > 0
)


@given(seconds_per_state)
def test_daily_values_are_percentages_or_minus_one(seconds: list[int]) -> None:
    f = day_figures(DAY, seconds)
    for value in (f.availability, f.reliability):
        assert value == -1.0 or 0.0 <= value <= 100.0
    assert f.reliability == -1.0 or f.reliability >= f.availability
    for fraction in (f.up, f.unknown, f.down):
        assert 0.0 <= fraction <= 1.0
    assert f.up_seconds + f.unknown_seconds + f.down_seconds + f.critical_seconds == sum(seconds)


@given(st.lists(seconds_per_state, min_size=1, max_size=31))
def test_period_values_are_percentages_never_minus_one(days: list[list[int]]) -> None:
    figures: list[DayFigures] = [
        day_figures(DAY + timedelta(days=i), s) for i, s in enumerate(days)
    ]
    period = aggregate(figures, "p")
    assert 0.0 <= period.availability <= 100.0
    assert 0.0 <= period.reliability <= 100.0
    assert period.days == len(days)


# --- the engine against the per-second reference -------------------------------------------

ENDPOINTS = [("a", VAC), ("b", VAC), ("c", ARC), ("d", "webdav")]
ORIGIN = at(0, day(-1))  # the scenario runs over D-1, D and D+1
SPAN = 3 * 86400
# coarse times make same-second results, midnights and coinciding changes likely
MOMENT = st.one_of(
    st.integers(0, SPAN - 1),
    st.integers(0, 3 * 24 - 1).map(lambda h: 3600 * h),
    st.sampled_from([0, 86400 - 1, 86400, 2 * 86400 - 1, 2 * 86400]),
)


@st.composite
def scenarios(
    draw: st.DrawFn,
) -> tuple[list[Sample], list[DowntimeWindow], list[Membership], datetime]:
    samples = [
        Sample(
            *draw(st.sampled_from(ENDPOINTS)),
            draw(st.sampled_from([*METRICS, "org.lhcb.WN-cvmfs"])),
            ORIGIN + timedelta(seconds=draw(MOMENT)),
            draw(st.sampled_from(["OK", "WARNING", "CRITICAL", "UNKNOWN"])),
        )
        for _ in range(draw(st.integers(0, 20)))
    ]
    # whole VMs, as vmsam sends them: all four metrics in one second, for every endpoint
    for endpoint, service_type in ENDPOINTS:
        for moment in draw(st.lists(MOMENT, min_size=1, max_size=6)):
            status = draw(st.sampled_from(["OK", "OK", "WARNING", "CRITICAL", "UNKNOWN"]))
            samples += [
                Sample(endpoint, service_type, m, ORIGIN + timedelta(seconds=moment), status)
                for m in METRICS
            ]
    downtimes = [
        DowntimeWindow(
            *draw(st.sampled_from(ENDPOINTS)),
            ORIGIN + timedelta(seconds=(begin := draw(MOMENT))),
            ORIGIN + timedelta(seconds=begin + draw(st.integers(-100, 2 * 86400))),
            draw(st.booleans()),
        )
        for _ in range(draw(st.integers(0, 4)))
    ]
    memberships = [
        Membership(
            endpoint,
            service_type,
            draw(st.sampled_from(["SITE", "SITE", "SITE", "OTHER"])),
            draw(st.sampled_from([VO, VO, VO, "lhcb"])),
            ORIGIN + timedelta(seconds=draw(MOMENT)),
        )
        for endpoint, service_type in draw(
            st.lists(st.sampled_from(ENDPOINTS), min_size=1, max_size=5)
        )
    ]
    now = ORIGIN + timedelta(seconds=draw(st.one_of(st.just(SPAN), st.integers(1, SPAN))))
    return samples, downtimes, memberships, now


Scenario = tuple[list[Sample], list[DowntimeWindow], list[Membership], datetime]
SLOW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SLOW
@given(scenarios())
def test_site_figures_equal_the_per_second_reference(scenario: Scenario) -> None:
    samples, downtimes, memberships, now = scenario
    query = {"site": "SITE", "vo": VO, "start": day(-1), "end": day(1), "now": now}
    ours = ENGINE.site_days(samples, downtimes, memberships, **query)  # type: ignore[arg-type]
    theirs = reference_ar.site_days(
        ENGINE.profiles,
        samples,
        downtimes,
        memberships,
        **query,  # type: ignore[arg-type]
    )
    assert [f.as_result() for f in ours] == theirs


@SLOW
@given(scenarios(), st.sampled_from(ENDPOINTS[:3]))
def test_endpoint_figures_equal_the_per_second_reference(
    scenario: Scenario, endpoint: tuple[str, str]
) -> None:
    samples, downtimes, _, now = scenario
    query = {
        "endpoint": endpoint[0],
        "service_type": endpoint[1],
        "vo": VO,
        "start": day(-1),
        "end": day(1),
        "now": now,
    }
    ours = ENGINE.endpoint_days(samples, downtimes, **query)  # type: ignore[arg-type]
    theirs = reference_ar.endpoint_days(
        ENGINE.profiles,
        samples,
        downtimes,
        **query,  # type: ignore[arg-type]
    )
    assert [f.as_result() for f in ours] == theirs
