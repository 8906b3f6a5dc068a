"""The sampling plan and staleness of endpoints."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.availability.helpers import METRICS, at
from vmsam.server.availability.freshness import (
    FreshnessError,
    Staleness,
    TargetUnreachable,
    daily_probability,
    endpoint_freshness,
    fraction_for,
    staleness,
)


def test_daily_probability_is_one_minus_the_poisson_zero() -> None:
    assert daily_probability(2.0, 0.1) == pytest.approx(1 - math.exp(-4.8))
    assert daily_probability(2.0, 0.1, metrics=4) == pytest.approx((1 - math.exp(-4.8)) ** 4)
    assert daily_probability(5.0, 0.0) == 0.0
    assert daily_probability(0.0, 1.0) == 0.0


def test_fraction_for_a_worked_case() -> None:
    # one VM start per hour, 99 %: exp(-24 f) <= 0.01, f = ln(100) / 24
    f = fraction_for(1.0, 0.99)
    assert f == pytest.approx(math.log(100) / 24, rel=1e-12)
    assert round(f, 5) == 0.19188
    assert daily_probability(1.0, f) >= 0.99
    assert daily_probability(1.0, math.nextafter(f, 0.0)) < 0.99


def test_more_independent_metrics_need_a_larger_fraction() -> None:
    assert fraction_for(1.0, 0.99, metrics=4) > fraction_for(1.0, 0.99)


def test_a_busy_space_needs_only_a_small_fraction() -> None:
    assert fraction_for(100.0, 0.999) < 0.003


def test_when_even_testing_every_vm_is_not_enough() -> None:
    with pytest.raises(TargetUnreachable) as caught:
        fraction_for(0.1, 0.99)
    error = caught.value
    assert error.best == pytest.approx(1 - math.exp(-2.4))
    assert error.vm_starts_per_hour_needed == pytest.approx(math.log(100) / 24)
    assert "VM starts per hour" in str(error)
    with pytest.raises(TargetUnreachable):
        fraction_for(0.0, 0.5)  # no VM ever starts


@pytest.mark.parametrize(
    ("rate", "target", "metrics"),
    [(1.0, 0.0, 1), (1.0, 1.0, 1), (1.0, 1.5, 1), (1.0, math.nan, 1), (-1.0, 0.9, 1),
     (math.inf, 0.9, 1), (math.nan, 0.9, 1), (1.0, 0.9, 0)],
)  # fmt: skip
def test_bad_plan_arguments_are_refused(rate: float, target: float, metrics: int) -> None:
    with pytest.raises(FreshnessError):
        fraction_for(rate, target, metrics)


def test_a_fraction_outside_zero_one_is_refused() -> None:
    with pytest.raises(FreshnessError):
        daily_probability(1.0, 1.01)


@given(
    st.floats(0.001, 1000.0),
    st.floats(0.001, 0.999999),
    st.integers(1, 6),
)
def test_fraction_for_is_the_smallest_sufficient_fraction(
    rate: float, target: float, metrics: int
) -> None:
    if daily_probability(rate, 1.0, metrics) < target:
        with pytest.raises(TargetUnreachable) as caught:
            fraction_for(rate, target, metrics)
        needed = caught.value.vm_starts_per_hour_needed
        assert daily_probability(needed * 1.000001, 1.0, metrics) >= target
        return
    f = fraction_for(rate, target, metrics)
    assert 0.0 < f <= 1.0
    assert daily_probability(rate, f, metrics) >= target
    assert daily_probability(rate, math.nextafter(f, 0.0), metrics) < target


# --- staleness -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("last", "expected"),
    [
        (at(0), Staleness.FRESH),
        (at(11), Staleness.FRESH),
        (at(-0.001), Staleness.AT_RISK),  # yesterday 23:59:56: today carried over
        (at(-24), Staleness.AT_RISK),
        (at(-24.001), Staleness.MISSING),
        (None, Staleness.MISSING),
    ],
)
def test_staleness_follows_the_carry_over_rule(last: object, expected: Staleness) -> None:
    assert staleness(last, at(12)) is expected  # type: ignore[arg-type]


def test_staleness_reads_naive_times_as_utc() -> None:
    assert staleness(at(-1).replace(tzinfo=None), at(12)) is Staleness.AT_RISK


def test_endpoint_freshness_takes_the_worst_metric_and_the_risk_until_midnight() -> None:
    now = at(18)
    last = {METRICS[0]: at(17), METRICS[1]: at(17), METRICS[2]: at(17), METRICS[3]: at(-2)}
    result = endpoint_freshness(last, METRICS, now=now, tested_boots_per_hour=0.5)
    assert result.staleness is Staleness.AT_RISK
    assert [m.staleness for m in result.metrics] == [Staleness.FRESH] * 3 + [Staleness.AT_RISK]
    assert result.metrics[3].age == timedelta(hours=20)
    assert result.risk_of_missing_tomorrow == pytest.approx(math.exp(-0.5 * 6))


def test_a_fresh_endpoint_has_no_risk_and_unknown_rate_no_estimate() -> None:
    last = dict.fromkeys(METRICS, at(1))
    fresh = endpoint_freshness(last, METRICS, now=at(5), tested_boots_per_hour=0.0)
    assert fresh.staleness is Staleness.FRESH
    assert fresh.risk_of_missing_tomorrow == 0.0
    assert endpoint_freshness(last, METRICS, now=at(5)).risk_of_missing_tomorrow is None


def test_a_metric_never_seen_is_missing() -> None:
    result = endpoint_freshness({METRICS[0]: at(1)}, METRICS, now=at(5))
    assert result.staleness is Staleness.MISSING
    assert result.metrics[1].last_result is None
    assert result.metrics[1].age is None
