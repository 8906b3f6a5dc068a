"""The timeline rules of docs/availability.md, one behaviour per test, through the engine."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.availability.helpers import (
    ARC,
    DAY,
    ENGINE,
    METRICS,
    VAC,
    VO,
    at,
    day,
    member,
    results,
)
from vmsam.server.availability import (
    AvailabilityError,
    DayFigures,
    DowntimeWindow,
    Engine,
    Membership,
    Sample,
    load_profiles,
)

H = 3600


def endpoint(
    samples: list[Sample],
    downtimes: list[DowntimeWindow] | None = None,
    *,
    start: date = DAY,
    end: date = DAY,
    now: datetime | None = None,
    name: str = "space1",
    service_type: str = VAC,
) -> list[DayFigures]:
    return ENGINE.endpoint_days(
        samples,
        downtimes or [],
        endpoint=name,
        service_type=service_type,
        vo=VO,
        start=start,
        end=end,
        now=now,
    )


def site(
    samples: list[Sample],
    memberships: list[Membership],
    downtimes: list[DowntimeWindow] | None = None,
    *,
    start: date = DAY,
    end: date = DAY,
    engine: Engine = ENGINE,
) -> list[DayFigures]:
    return engine.site_days(
        samples, downtimes or [], memberships, site="SITE", vo=VO, start=start, end=end
    )


def seconds(f: DayFigures) -> tuple[int, int, int, int]:
    return f.up_seconds, f.unknown_seconds, f.down_seconds, f.critical_seconds


# --- the worked examples ---------------------------------------------------------------


def test_first_worked_example() -> None:
    samples = results(
        "space1", [(at(0), "OK"), (at(3), "CRITICAL"), (at(18), "UNKNOWN"), (at(22), "OK")]
    )
    [figures] = endpoint(samples)
    assert figures.availability == 25.0
    assert figures.reliability == 25.0
    assert figures.up == 0.20833
    assert figures.unknown == 0.16667
    assert figures.down == 0.0


def test_second_worked_example() -> None:
    samples = results(
        "space1", [(at(0), "OK"), (at(3), "CRITICAL"), (at(12), "UNKNOWN"), (at(22), "OK")]
    )
    downtime = DowntimeWindow("space1", VAC, at(18), at(22))
    [figures] = endpoint(samples, [downtime])
    assert figures.availability == 27.77778
    assert figures.reliability == 35.71429
    assert figures.down == 0.16667
    assert figures.up == 0.20833
    assert figures.unknown == 0.25


# --- metric timelines ----------------------------------------------------------------------


def test_the_previous_days_last_status_carries_over_midnight() -> None:
    samples = results("space1", [(at(-20), "OK"), (at(-4), "CRITICAL"), (at(6), "OK")])
    [figures] = endpoint(samples)
    assert seconds(figures) == (18 * H, 0, 0, 6 * H)


def test_same_second_results_at_the_end_of_the_previous_day_carry_over_anded() -> None:
    # two VMs reporting in the same last second of D-1: the worse one is carried
    samples = results("space1", [(at(-1), "OK"), (at(-1), "WARNING"), (at(-1), "OK")])
    [figures] = endpoint(samples)
    assert figures.availability == 100.0
    samples += results("space1", [(at(-1), "UNKNOWN")])
    [figures] = endpoint(samples)
    assert figures.unknown == 1.0
    assert figures.availability == -1.0


def test_results_two_days_back_never_carry_over() -> None:
    samples = results("space1", [(at(-30), "OK")])  # D-2 at 18:00
    yesterday, today = endpoint(samples, start=day(-1), end=DAY)
    assert yesterday.availability == 100.0  # carried from D-2 into D-1 ...
    assert today.unknown == 1.0  # ... but not across the empty D-1
    assert today.availability == -1.0
    assert today.reliability == -1.0


def test_a_day_before_its_first_result_is_missing() -> None:
    samples = results("space1", [(at(6), "OK")])
    [figures] = endpoint(samples)
    assert seconds(figures) == (18 * H, 6 * H, 0, 0)
    assert figures.availability == 100.0


def test_a_day_without_results_has_no_figure() -> None:
    [figures] = endpoint([])
    assert (figures.availability, figures.reliability) == (-1.0, -1.0)
    assert (figures.up, figures.unknown, figures.down) == (0.0, 1.0, 0.0)


@pytest.mark.parametrize("order", [["OK", "CRITICAL"], ["CRITICAL", "OK"]])
def test_results_in_the_same_second_combine_with_and_whatever_their_order(
    order: list[str],
) -> None:
    samples = results("space1", [(at(0), "OK")])
    samples += results("space1", [(at(12), status) for status in order])
    [figures] = endpoint(samples)
    assert seconds(figures) == (12 * H, 0, 0, 12 * H)


def test_a_result_at_midnight_belongs_to_the_new_day() -> None:
    samples = results("space1", [(at(-12), "OK"), (at(0), "CRITICAL")])
    yesterday, today = endpoint(samples, start=day(-1), end=DAY)
    assert yesterday.availability == 100.0  # 00:00:00 of D is not the last result of D-1
    assert today.availability == 0.0  # ... and it replaces the carried OK from the first second


def test_the_current_day_covers_midnight_to_now() -> None:
    now = at(12, day(1))
    samples = results("space1", [(at(-1, day(1)), "OK"), (at(6, day(1)), "CRITICAL")])
    samples += results("space1", [(at(13, day(1)), "OK")])  # after now: not yet counted
    figures = endpoint(samples, start=DAY, end=day(5), now=now)
    assert [f.day for f in figures] == [DAY, day(1)]  # days after now left out
    current = figures[1]
    assert current.total_seconds == 12 * H
    assert seconds(current) == (6 * H, 0, 0, 6 * H)
    assert current.availability == 50.0
    assert current.up == 0.5


def test_a_range_starting_after_now_is_empty() -> None:
    assert endpoint([], start=day(3), end=day(4), now=at(0, day(3))) == []


def test_one_metric_missing_makes_the_endpoint_missing() -> None:
    samples = results("space1", [(at(0), "OK")], metrics=METRICS[:3])
    [figures] = endpoint(samples)
    assert figures.availability == -1.0


def test_metrics_outside_the_profile_do_not_count() -> None:
    samples = results("space1", [(at(0), "OK")])
    samples += results("space1", [(at(0), "CRITICAL")], metrics=["org.lhcb.WN-cvmfs", "other"])
    [figures] = endpoint(samples)
    assert figures.availability == 100.0


def test_the_worst_metric_decides_the_endpoint() -> None:
    samples = results("space1", [(at(0), "OK")], metrics=METRICS[1:])
    samples += results("space1", [(at(0), "OK"), (at(6), "WARNING"), (at(12), "CRITICAL")],
                       metrics=METRICS[:1])  # fmt: skip
    [figures] = endpoint(samples)
    assert seconds(figures) == (12 * H, 0, 0, 12 * H)


def test_naive_and_non_utc_timestamps_are_read_as_utc_instants() -> None:
    plus_two = timezone(timedelta(hours=2))
    samples = results("space1", [(at(0).replace(tzinfo=None), "OK")])
    samples += results("space1", [(at(14).astimezone(plus_two), "CRITICAL")])
    [figures] = endpoint(samples)
    assert seconds(figures) == (12 * H + 2 * H, 0, 0, 10 * H)


def test_subsecond_timestamps_count_from_their_second() -> None:
    samples = results(
        "space1", [(at(0), "OK"), (at(12) + timedelta(microseconds=999_999), "CRITICAL")]
    )
    [figures] = endpoint(samples)
    assert figures.critical_seconds == 12 * H


# --- downtimes ----------------------------------------------------------------------------


def test_a_downtime_replaces_critical() -> None:
    # CRITICAL AND DOWNTIME would be CRITICAL: the downtime is not combined, it replaces
    samples = results("space1", [(at(0), "CRITICAL")])
    [figures] = endpoint(samples, [DowntimeWindow("space1", VAC, at(6), at(18))])
    assert seconds(figures) == (0, 0, 12 * H, 12 * H)
    assert figures.availability == 0.0
    assert figures.reliability == 0.0


def test_a_downtime_replaces_missing_and_ok_alike() -> None:
    samples = results("space1", [(at(12), "OK")])
    [figures] = endpoint(samples, [DowntimeWindow("space1", VAC, at(6), at(18))])
    assert seconds(figures) == (6 * H, 6 * H, 12 * H, 0)


def test_overlapping_downtimes_merge() -> None:
    samples = results("space1", [(at(0), "OK")])
    windows = [
        DowntimeWindow("space1", VAC, at(2), at(6)),
        DowntimeWindow("space1", VAC, at(4), at(8)),
        DowntimeWindow("space1", VAC, at(5), at(7)),
        DowntimeWindow("space1", VAC, at(8), at(9)),  # touching
    ]
    [figures] = endpoint(samples, windows)
    assert seconds(figures) == (17 * H, 0, 7 * H, 0)


def test_a_downtime_across_midnight_is_clipped_to_each_day() -> None:
    samples = results("space1", [(at(-24), "OK")] + [(at(h * 24), "OK") for h in range(3)])
    window = DowntimeWindow("space1", VAC, at(-3), at(27))  # D-1 21:00 to D+1 03:00
    before, inside, after = endpoint(samples, [window], start=day(-1), end=day(1))
    assert before.down_seconds == 3 * H
    assert inside.down_seconds == 24 * H
    assert (inside.availability, inside.reliability) == (0.0, -1.0)
    assert after.down_seconds == 3 * H


def test_unscheduled_and_foreign_downtimes_change_nothing() -> None:
    samples = results("space1", [(at(0), "CRITICAL")])
    windows = [
        DowntimeWindow("space1", VAC, at(0), at(24), scheduled=False),
        DowntimeWindow("space2", VAC, at(0), at(24)),
        DowntimeWindow("space1", ARC, at(0), at(24)),
        DowntimeWindow("space1", VAC, at(10), at(10)),  # empty
        DowntimeWindow("space1", VAC, at(12), at(11)),  # backwards
    ]
    [figures] = endpoint(samples, windows)
    assert seconds(figures) == (0, 0, 0, 24 * H)


# --- sites ----------------------------------------------------------------------------------


def test_two_spaces_of_a_site_combine_with_or() -> None:
    samples = results("a", [(at(0), "CRITICAL"), (at(12), "OK")])
    samples += results("b", [(at(0), "OK"), (at(12), "CRITICAL")])
    [figures] = site(samples, [member("a", at(0)), member("b", at(0))])
    assert figures.availability == 100.0
    # each alone is half down
    [alone] = site(samples, [member("a", at(0))])
    assert alone.availability == 50.0


def test_a_space_and_a_conventional_ce_are_one_group_combined_with_or() -> None:
    samples = results("space", [(at(0), "CRITICAL"), (at(12), "OK")])
    samples += results("ce.example.org", [(at(0), "OK"), (at(18), "UNKNOWN")], service_type=ARC)
    memberships = [member("space", at(0)), member("ce.example.org", at(0), service_type=ARC)]
    [figures] = site(samples, memberships)
    # 00-12 CRITICAL OR OK = OK, 12-18 OK OR OK, 18-24 OK OR UNKNOWN = OK
    assert figures.availability == 100.0
    samples += results("space", [(at(18), "CRITICAL")])
    [figures] = site(samples, memberships)
    assert figures.critical_seconds == 6 * H  # UNKNOWN OR CRITICAL = CRITICAL


def test_a_silent_member_is_missing_and_missing_is_neutral_in_or() -> None:
    samples = results("a", [(at(0), "WARNING")])
    [figures] = site(samples, [member("a", at(-240)), member("b", at(-240))])
    assert figures.availability == 100.0
    [figures] = site(samples, [member("b", at(-240))])
    assert figures.availability == -1.0


def test_a_site_without_members_has_no_figure() -> None:
    samples = results("a", [(at(0), "OK")])
    [figures] = site(samples, [member("a", at(0), site="ELSEWHERE")])
    assert figures.availability == -1.0
    assert figures.unknown == 1.0


def test_memberships_of_another_vo_do_not_count() -> None:
    samples = results("a", [(at(0), "OK")])
    [figures] = site(samples, [Membership("a", VAC, "SITE", "lhcb", at(0))])
    assert figures.availability == -1.0


def test_unmonitored_service_types_take_no_part() -> None:
    samples = results("a", [(at(0), "OK")])
    samples += results("se", [(at(0), "CRITICAL")], service_type="webdav")
    [figures] = site(samples, [member("a", at(0)), member("se", at(0), service_type="webdav")])
    assert figures.availability == 100.0


def test_a_downtime_of_one_space_is_covered_by_the_other() -> None:
    samples = results("a", [(at(0), "OK")]) + results("b", [(at(0), "OK")])
    downtime = DowntimeWindow("a", VAC, at(0), at(24))
    [figures] = site(samples, [member("a", at(0)), member("b", at(0))], [downtime])
    assert figures.availability == 100.0
    both = [downtime, DowntimeWindow("b", VAC, at(6), at(12))]
    [figures] = site(samples, [member("a", at(0)), member("b", at(0))], both)
    assert figures.down_seconds == 6 * H


def two_groups(tmp_path: Path) -> Engine:
    """Profiles with a second group (storage, AND with compute), to see participation."""
    document = {
        "metrics": {
            "services": [
                {"service": VAC, "metrics": list(METRICS)},
                {"service": "SRM", "metrics": ["org.{vo}.SRM-put"]},
            ]
        },
        "aggregation": {
            "metric_operation": "AND",
            "profile_operation": "AND",
            "groups": [
                {"name": name, "operation": "OR", "services": [{"name": st, "operation": "OR"}]}
                for name, st in (("compute", VAC), ("storage", "SRM"))
            ],
        },
    }  # fmt: skip
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(document))
    return Engine(load_profiles(path))


def test_an_endpoint_takes_part_from_the_day_it_was_first_seen(tmp_path: Path) -> None:
    engine = two_groups(tmp_path)
    start = date(2024, 3, 1)
    samples = results("space", [(at(24 * d, start), "OK") for d in range(8)])
    srm = [Sample("se", "SRM", f"org.{VO}.SRM-put", at(10, day(0)), "OK")]
    memberships = [member("space", at(0, start)), member("se", at(10, day(0)), service_type="SRM")]
    figures = engine.site_days(
        samples + srm, [], memberships, site="SITE", vo=VO, start=start, end=day(2)
    )
    by_day = {f.day: f for f in figures}
    # before the storage endpoint joined, the site is compute alone (not compute AND MISSING)
    assert all(by_day[date(2024, 3, d)].availability == 100.0 for d in range(1, 5))
    # on its first day it takes part: MISSING until its first result at 10:00
    assert seconds(by_day[day(0)]) == (14 * H, 10 * H, 0, 0)
    assert by_day[day(1)].availability == 100.0  # carried over
    assert by_day[day(2)].availability == -1.0  # silent: compute AND MISSING = MISSING


def test_without_the_storage_group_it_never_takes_part(tmp_path: Path) -> None:
    engine = two_groups(tmp_path)
    samples = results("space", [(at(0), "OK")])
    [figures] = site(samples, [member("space", at(0))], engine=engine)
    assert figures.availability == 100.0


def test_the_earliest_of_duplicate_memberships_counts() -> None:
    samples = results("a", [(at(-24), "OK")])
    memberships = [member("a", at(3)), member("a", at(-24))]
    yesterday, _ = site(samples, memberships, start=day(-1), end=DAY)
    assert yesterday.availability == 100.0


# --- refusals -------------------------------------------------------------------------------


def test_an_unknown_status_is_refused_with_a_reason() -> None:
    samples = [Sample("space1", VAC, METRICS[0], at(1), "ok")]
    with pytest.raises(AvailabilityError, match="unknown status 'ok'"):
        endpoint(samples)


def test_an_unmonitored_service_type_is_refused_for_an_endpoint() -> None:
    with pytest.raises(AvailabilityError, match="no metrics"):
        endpoint([], service_type="webdav")


def test_a_range_ending_before_it_starts_is_refused() -> None:
    with pytest.raises(AvailabilityError, match="before it starts"):
        endpoint([], start=day(1), end=DAY)


def test_now_defaults_to_the_wall_clock() -> None:
    today = datetime.now(UTC).date()
    figures = endpoint([], start=today - timedelta(days=1), end=today + timedelta(days=3))
    assert [f.day for f in figures] == [today - timedelta(days=1), today]
    assert figures[0].total_seconds == 86400
