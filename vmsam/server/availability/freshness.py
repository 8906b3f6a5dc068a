"""Will a space have results every UTC day? The sampling plan and staleness of endpoints.

Results arrive only when a tested VM boots. With VM starts at ``r`` per hour, each tested
with probability ``f``, tested boots form a Poisson process of rate ``r f``, so
P(no result in a day) = exp(-24 r f). One tested VM runs every probe, so all the metrics of a
space arrive together and ``metrics=1`` is exact for vmsam's hook; ``metrics=m`` treats the
metrics as ``m`` independent streams each of rate ``r f`` (a conservative plan, for probes
that run in separate VMs).

Under the carry-over rule a metric with a result on day D-1 covers all of day D, so the
staleness that matters is by UTC day, not by hours since the last result.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from vmsam.server.availability._time import as_utc
from vmsam.shared.errors import FreshnessError, TargetUnreachable

HOURS_PER_DAY = 24.0


def daily_probability(vm_starts_per_hour: float, fraction: float, metrics: int = 1) -> float:
    """P(at least one result per metric in a UTC day) = (1 - exp(-24 r f)) ** metrics."""
    _check_rate(vm_starts_per_hour)
    _check_metrics(metrics)
    if not 0.0 <= fraction <= 1.0:
        raise FreshnessError(f"fraction must be within [0, 1], not {fraction}")
    return float((-math.expm1(-HOURS_PER_DAY * vm_starts_per_hour * fraction)) ** metrics)


def fraction_for(vm_starts_per_hour: float, target: float, metrics: int = 1) -> float:
    """The smallest sampling fraction f in [0, 1] with daily_probability(r, f, m) >= target.

    Raises TargetUnreachable when even f = 1 is not enough (the rate of VM starts is too
    low for the target), FreshnessError when target is not in (0, 1) or r is negative.
    """
    _check_rate(vm_starts_per_hour)
    _check_metrics(metrics)
    if not 0.0 < target < 1.0:
        raise FreshnessError(f"target must be within (0, 1), not {target}")
    # (1 - exp(-24 r f)) ** m >= p  <=>  24 r f >= -ln(1 - p ** (1/m))
    needed = -math.log1p(-(target ** (1.0 / metrics))) / HOURS_PER_DAY
    best = daily_probability(vm_starts_per_hour, 1.0, metrics)
    if best < target:
        raise TargetUnreachable(target, best, needed)
    fraction = min(1.0, needed / vm_starts_per_hour)
    # the closed form can land a few ulps either side of the smallest sufficient float
    while daily_probability(vm_starts_per_hour, fraction, metrics) < target:
        fraction = math.nextafter(fraction, 2.0)
    while (
        daily_probability(vm_starts_per_hour, smaller := math.nextafter(fraction, 0.0), metrics)
        >= target
    ):
        fraction = smaller
    return fraction


def _check_rate(vm_starts_per_hour: float) -> None:
    if not (vm_starts_per_hour >= 0.0 and math.isfinite(vm_starts_per_hour)):
        raise FreshnessError(f"VM starts per hour must be >= 0, not {vm_starts_per_hour}")


def _check_metrics(metrics: int) -> None:
    if metrics < 1:
        raise FreshnessError(f"metrics must be >= 1, not {metrics}")


class Staleness(StrEnum):
    FRESH = "fresh"
    """A result today: today and tomorrow are covered."""
    AT_RISK = "at_risk"
    """Last result yesterday: today is covered by the carry-over, tomorrow starts MISSING
    unless a result arrives before midnight UTC."""
    MISSING = "missing"
    """No result yesterday or today: today is MISSING until one arrives."""


_ORDER = (Staleness.FRESH, Staleness.AT_RISK, Staleness.MISSING)


def staleness(last_result: datetime | None, now: datetime) -> Staleness:
    """How the carry-over rule sees a metric whose last result is ``last_result``."""
    if last_result is None:
        return Staleness.MISSING
    days = (as_utc(now).date() - as_utc(last_result).date()).days
    if days <= 0:
        return Staleness.FRESH
    return Staleness.AT_RISK if days == 1 else Staleness.MISSING


@dataclass(frozen=True)
class MetricFreshness:
    metric: str
    last_result: datetime | None
    age: timedelta | None
    staleness: Staleness


@dataclass(frozen=True)
class EndpointFreshness:
    """The freshness of an endpoint's metrics and, given the observed rate of tested VM
    boots, the probability that tomorrow starts MISSING for at least one of them."""

    metrics: tuple[MetricFreshness, ...]
    staleness: Staleness
    tested_boots_per_hour: float | None
    risk_of_missing_tomorrow: float | None


def endpoint_freshness(
    last_results: Mapping[str, datetime],
    metrics: Sequence[str],
    *,
    now: datetime,
    tested_boots_per_hour: float | None = None,
) -> EndpointFreshness:
    """Freshness of ``metrics`` (the profile's, for the endpoint's service type) from the
    time of the last result of each metric."""
    per_metric = tuple(
        MetricFreshness(
            metric,
            last_results.get(metric),
            _age(last_results.get(metric), now),
            staleness(last_results.get(metric), now),
        )
        for metric in metrics
    )
    worst = max((m.staleness for m in per_metric), key=_ORDER.index, default=Staleness.MISSING)
    risk = None
    if tested_boots_per_hour is not None:
        _check_rate(tested_boots_per_hour)
        if worst is Staleness.FRESH:
            risk = 0.0
        else:
            moment = as_utc(now)
            midnight = datetime(moment.year, moment.month, moment.day, tzinfo=UTC) + timedelta(
                days=1
            )
            hours_left = (midnight - moment).total_seconds() / 3600.0
            risk = math.exp(-tested_boots_per_hour * hours_left)
    return EndpointFreshness(per_metric, worst, tested_boots_per_hour, risk)


def _age(last_result: datetime | None, now: datetime) -> timedelta | None:
    return None if last_result is None else as_utc(now) - as_utc(last_result)
