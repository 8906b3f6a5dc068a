"""Daily and period figures from second counts, with ARGO's formulas and conventions.

All arithmetic is exact (integers and fractions); only the published values are rounded,
half-up to 5 decimals, so a value exactly halfway rounds away from zero whatever its binary
floating-point neighbour would do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from typing import Literal

from vmsam.server.availability._profiles import (
    CRITICAL,
    DOWNTIME,
    MISSING,
    OK,
    STATES,
    UNKNOWN,
    WARNING,
)
from vmsam.shared.errors import AvailabilityError

SECONDS_PER_DAY = 86_400
UNDEFINED = -1.0
# ARGO's period denominator: keeps it above 0, so a period MISSING throughout gives 0
_ONE_PLUS_EPSILON = Fraction("1.00000001")
_SCALE = 100_000

Granularity = Literal["daily", "monthly", "custom"]


def round_half_up(value: Fraction) -> float:
    """``value`` rounded half-up to 5 decimals."""
    return _rounded(value.numerator, value.denominator)


def _rounded(numerator: int, denominator: int) -> float:
    """``numerator / denominator`` (denominator > 0) rounded half-up to 5 decimals, in
    integers: a month's report rounds hundreds of thousands of day figures, and building
    a Fraction for each costs more than the rest of their arithmetic."""
    return (2 * _SCALE * numerator + denominator) // (2 * denominator) / _SCALE


@dataclass(frozen=True)
class DayFigures:
    """One UTC day (the current one up to now): rounded figures and the exact seconds."""

    day: date
    availability: float
    reliability: float
    up: float
    unknown: float
    down: float
    up_seconds: int
    unknown_seconds: int
    down_seconds: int
    critical_seconds: int
    total_seconds: int

    def as_result(self) -> dict[str, str | float]:
        return _result(self.day.isoformat(), self)

    @property
    def fractions(self) -> tuple[Fraction, Fraction, Fraction]:
        """The exact up, unknown and down fractions of the day, which periods average."""
        total = self.total_seconds
        return (
            Fraction(self.up_seconds, total),
            Fraction(self.unknown_seconds, total),
            Fraction(self.down_seconds, total),
        )


@dataclass(frozen=True)
class PeriodFigures:
    """A month or a custom range, from the daily fractions of ``days`` days."""

    label: str
    start: date
    end: date
    days: int
    availability: float
    reliability: float
    up: float
    unknown: float
    down: float

    def as_result(self) -> dict[str, str | float]:
        return _result(self.label, self)


def _result(label: str, figures: DayFigures | PeriodFigures) -> dict[str, str | float]:
    return {
        "date": label,
        "availability": figures.availability,
        "reliability": figures.reliability,
        "up": figures.up,
        "unknown": figures.unknown,
        "down": figures.down,
    }


def day_figures(day: date, seconds: Sequence[int]) -> DayFigures:
    """The figures of ``day`` from the seconds spent in each state (indexed like STATES)."""
    if len(seconds) != len(STATES) or min(seconds) < 0 or sum(seconds) == 0:
        raise AvailabilityError(f"bad second counts for {day}: {list(seconds)}")
    total = sum(seconds)
    up = seconds[OK] + seconds[WARNING]
    unknown = seconds[UNKNOWN] + seconds[MISSING]
    down = seconds[DOWNTIME]
    return DayFigures(
        day=day,
        availability=_percent(up, total - unknown),
        reliability=_percent(up, total - unknown - down),
        up=_rounded(up, total),
        unknown=_rounded(unknown, total),
        down=_rounded(down, total),
        up_seconds=up,
        unknown_seconds=unknown,
        down_seconds=down,
        critical_seconds=seconds[CRITICAL],
        total_seconds=total,
    )


def _percent(numerator: int, denominator: int) -> float:
    return UNDEFINED if denominator == 0 else _rounded(100 * numerator, denominator)


def aggregate(days: Sequence[DayFigures], label: str) -> PeriodFigures:
    """ARGO's period figures: averages of the exact daily fractions, with the epsilon."""
    if not days:
        raise AvailabilityError(f"no days to aggregate for {label}")
    count = len(days)
    up = sum((d.fractions[0] for d in days), Fraction()) / count
    unknown = sum((d.fractions[1] for d in days), Fraction()) / count
    down = sum((d.fractions[2] for d in days), Fraction()) / count
    return PeriodFigures(
        label=label,
        start=min(d.day for d in days),
        end=max(d.day for d in days),
        days=count,
        availability=round_half_up(100 * up / (_ONE_PLUS_EPSILON - unknown)),
        reliability=round_half_up(100 * up / (_ONE_PLUS_EPSILON - unknown - down)),
        up=round_half_up(up),
        unknown=round_half_up(unknown),
        down=round_half_up(down),
    )


def monthly(days: Sequence[DayFigures]) -> list[PeriodFigures]:
    """One period per calendar month present in ``days``, labelled ``YYYY-MM``, in order."""
    months: dict[str, list[DayFigures]] = {}
    for figures in sorted(days, key=lambda d: d.day):
        months.setdefault(figures.day.strftime("%Y-%m"), []).append(figures)
    return [aggregate(group, label) for label, group in months.items()]


def report(
    name: str, granularity: Granularity, figures: Sequence[DayFigures | PeriodFigures]
) -> dict[str, object]:
    """The A/R JSON document, the same for the API and the CLI."""
    return {
        "name": name,
        "granularity": granularity,
        "results": [f.as_result() for f in figures],
    }
