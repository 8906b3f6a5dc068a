"""Daily and period figures: formulas, -1 conventions, half-up rounding, the epsilon."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from vmsam.server.availability import (
    STATES,
    AvailabilityError,
    DayFigures,
    aggregate,
    monthly,
    report,
    round_half_up,
)
from vmsam.server.availability._figures import day_figures

DAY = date(2024, 3, 5)


def figures(day: date = DAY, /, **spent: int) -> DayFigures:
    """Figures of a day from seconds per state name, CRITICAL filling up to 86400."""
    seconds = [spent.get(state, 0) for state in STATES]
    seconds[STATES.index("CRITICAL")] += 86400 - sum(seconds)
    return day_figures(day, seconds)


def test_formulas_from_exact_seconds() -> None:
    f = figures(OK=30000, WARNING=6000, UNKNOWN=1000, MISSING=400, DOWNTIME=7000)
    assert (f.up_seconds, f.unknown_seconds, f.down_seconds) == (36000, 1400, 7000)
    assert f.critical_seconds == 86400 - 36000 - 1400 - 7000
    assert f.availability == 42.35294  # 36000 / 85000
    assert f.reliability == 46.15385  # 36000 / 78000
    assert (f.up, f.unknown, f.down) == (0.41667, 0.0162, 0.08102)


def test_formulas_match_a_decimal_computation() -> None:
    f = figures(OK=30000, WARNING=6000, UNKNOWN=1000, MISSING=400, DOWNTIME=7000)

    def half_up(value: Decimal) -> float:
        return float(value.quantize(Decimal("0.00001"), rounding=ROUND_HALF_UP))

    assert f.availability == half_up(Decimal(3600000) / Decimal(86400 - 1400))
    assert f.reliability == half_up(Decimal(3600000) / Decimal(86400 - 1400 - 7000))
    assert f.up == half_up(Decimal(36000) / Decimal(86400))
    assert f.unknown == half_up(Decimal(1400) / Decimal(86400))
    assert f.down == half_up(Decimal(7000) / Decimal(86400))


@given(st.lists(st.integers(0, 86400), min_size=len(STATES), max_size=len(STATES)))
def test_every_day_figure_is_the_decimal_half_up_of_its_exact_ratio(seconds: list[int]) -> None:
    assume(sum(seconds) > 0)
    f = day_figures(DAY, seconds)
    total = sum(seconds)
    up = seconds[STATES.index("OK")] + seconds[STATES.index("WARNING")]
    unknown = seconds[STATES.index("UNKNOWN")] + seconds[STATES.index("MISSING")]
    down = seconds[STATES.index("DOWNTIME")]

    def half_up(numerator: int, denominator: int) -> float:
        if denominator == 0:
            return -1.0
        exact = Decimal(numerator) / Decimal(denominator)  # 28 digits: enough for a tie
        return float(exact.quantize(Decimal("0.00001"), rounding=ROUND_HALF_UP))

    assert f.availability == half_up(100 * up, total - unknown)
    assert f.reliability == half_up(100 * up, total - unknown - down)
    assert (f.up, f.unknown, f.down) == (
        half_up(up, total),
        half_up(unknown, total),
        half_up(down, total),
    )


@pytest.mark.parametrize(
    ("spent", "availability", "reliability"),
    [
        ({"MISSING": 86400}, -1.0, -1.0),
        ({"UNKNOWN": 40000, "MISSING": 46400}, -1.0, -1.0),
        ({"DOWNTIME": 86400}, 0.0, -1.0),
        ({"DOWNTIME": 40000, "UNKNOWN": 46400}, 0.0, -1.0),
        ({}, 0.0, 0.0),  # CRITICAL all day
        ({"OK": 86400}, 100.0, 100.0),
        ({"WARNING": 43200, "DOWNTIME": 43200}, 50.0, 100.0),
    ],
)
def test_undefined_values_are_minus_one(
    spent: dict[str, int], availability: float, reliability: float
) -> None:
    f = figures(**spent)
    assert (f.availability, f.reliability) == (availability, reliability)


def test_half_up_at_an_exact_tie_in_the_sixth_decimal() -> None:
    # 1 s up out of 6400 counted: A = 0.015625, a tie that binary floats hold exactly;
    # round() rounds it to even, half-up away from zero
    f = figures(OK=1, MISSING=86400 - 6400)
    assert f.availability == 0.01563
    assert round(100 / 6400, 5) == 0.01562
    f = figures(OK=1, MISSING=86400 - 32000)  # 0.003125
    assert f.availability == 0.00313
    f = figures(OK=3951, MISSING=86400 - 32000)  # 12.346875
    assert f.availability == 12.34688
    assert round_half_up(Fraction(1234565, 10**7)) == 0.12346
    assert round_half_up(Fraction(1234564999, 10**10)) == 0.12346
    assert round_half_up(Fraction(1234549999, 10**10)) == 0.12345
    assert round_half_up(Fraction(1, 3)) == 0.33333
    assert round_half_up(Fraction(2, 3)) == 0.66667


def test_impossible_second_counts_are_refused() -> None:
    with pytest.raises(AvailabilityError):
        day_figures(DAY, [0] * 6)
    with pytest.raises(AvailabilityError):
        day_figures(DAY, [86401, -1, 0, 0, 0, 0])
    with pytest.raises(AvailabilityError):
        day_figures(DAY, [86400])


# --- periods ----------------------------------------------------------------------------------


def month(days: int, start: date = date(2024, 3, 1), **spent: int) -> list[DayFigures]:
    return [figures(start + timedelta(days=i), **spent) for i in range(days)]


def test_a_month_missing_throughout_gives_zero_not_minus_one() -> None:
    period = aggregate(month(31, MISSING=86400), "2024-03")
    assert (period.availability, period.reliability) == (0.0, 0.0)
    assert (period.up, period.unknown, period.down) == (0.0, 1.0, 0.0)


def test_a_month_in_downtime_throughout_gives_zero() -> None:
    period = aggregate(month(30, DOWNTIME=86400), "2024-04")
    assert (period.availability, period.reliability) == (0.0, 0.0)


def test_a_month_up_throughout_gives_not_quite_one_hundred() -> None:
    # 1 / 1.00000001 * 100 = 99.999999000... -> 100.0 at 5 decimals
    period = aggregate(month(31, OK=86400), "2024-03")
    assert (period.availability, period.reliability) == (100.0, 100.0)


def test_period_formula_with_the_epsilon() -> None:
    days = month(10, OK=86400) + month(10, date(2024, 3, 11), MISSING=86400)
    days += month(10, date(2024, 3, 21), DOWNTIME=86400)
    period = aggregate(days, "custom")
    third = Fraction(1, 3)
    epsilon = Fraction("1.00000001")
    assert period.availability == round_half_up(100 * third / (epsilon - third))
    assert period.availability == 50.0  # 49.99999925
    assert period.reliability == round_half_up(100 * third / (epsilon - 2 * third))
    assert period.reliability == 100.0  # 99.999997
    assert (period.up, period.unknown, period.down) == (0.33333, 0.33333, 0.33333)
    assert (period.start, period.end, period.days) == (date(2024, 3, 1), date(2024, 3, 30), 30)


def test_periods_average_the_exact_daily_fractions_not_the_rounded_ones() -> None:
    period = aggregate([figures(OK=28800)], "one day")  # up = 1/3 exactly
    assert period.availability == 33.33333
    # from the rounded 0.33333 it would be 33.33300
    assert round_half_up(Fraction("0.33333") / Fraction("1.00000001") * 100) == 33.333


def test_a_partial_current_day_weighs_by_its_fractions() -> None:
    today = day_figures(DAY, [3600, 0, 0, 0, 3600, 0])  # 2 h so far, half up
    period = aggregate([figures(date(2024, 3, 4), OK=86400), today], "two days")
    assert today.up == 0.5
    assert period.up == 0.75
    assert period.availability == round_half_up(Fraction(3, 4) / Fraction("1.00000001") * 100)


def test_monthly_groups_by_calendar_month_in_order() -> None:
    days = month(3, date(2024, 2, 28), OK=86400) + month(3, date(2024, 3, 30), MISSING=86400)
    periods = monthly(list(reversed(days)))
    assert [p.label for p in periods] == ["2024-02", "2024-03", "2024-04"]
    assert periods[0].days == 2  # 28, 29 February (leap year)
    assert periods[1].days == 3  # 1, 30, 31 March
    assert periods[1].up == 0.33333
    assert periods[1].unknown == 0.66667
    assert periods[2].days == 1
    assert periods[2].availability == 0.0


def test_aggregating_nothing_is_refused() -> None:
    with pytest.raises(AvailabilityError, match="no days"):
        aggregate([], "2024-03")


def test_report_has_the_architecture_shape() -> None:
    days = [figures(OK=43200), figures(date(2024, 3, 6), MISSING=86400)]
    daily = report("SITE", "daily", days)
    assert daily == {
        "name": "SITE",
        "granularity": "daily",
        "results": [
            {
                "date": "2024-03-05",
                "availability": 50.0,
                "reliability": 50.0,
                "up": 0.5,
                "unknown": 0.0,
                "down": 0.0,
            },
            {
                "date": "2024-03-06",
                "availability": -1.0,
                "reliability": -1.0,
                "up": 0.0,
                "unknown": 1.0,
                "down": 0.0,
            },
        ],
    }
    monthly_report = report("SITE", "monthly", monthly(days))
    expected = round_half_up(Fraction(1, 4) / (Fraction("1.00000001") - Fraction(1, 2)) * 100)
    assert expected == 50.0  # 49.999999...
    assert monthly_report["results"] == [
        {
            "date": "2024-03",
            "availability": expected,
            "reliability": expected,
            "up": 0.25,
            "unknown": 0.5,
            "down": 0.0,
        }
    ]
