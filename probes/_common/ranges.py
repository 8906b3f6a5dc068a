"""Thresholds in Nagios range syntax, judged with nagiosplugin.Range: how the probes build,
show and explain them. The grammar itself (``parse_range``) is vmsam.shared.ranges, which
the server's threshold profiles use too."""

from __future__ import annotations

import math
from decimal import Decimal

from nagiosplugin import Range

from vmsam.shared.ranges import parse_range

__all__ = [
    "EVERYTHING",
    "at_least",
    "at_most",
    "breach",
    "is_lower_bound",
    "nested",
    "parse_range",
    "plain",
    "range_text",
    "readable",
    "scaled",
    "span",
]

# matches every value: the threshold that never alerts
EVERYTHING = Range("~:")


def plain(number: float) -> str:
    """A number exactly, in the decimal notation Nagios ranges and perfdata allow (no
    exponent, no trailing zeros)."""
    if float(number).is_integer():
        return str(int(number))
    return format(Decimal(repr(float(number))), "f")


def readable(number: float) -> str:
    """A number for a person: at most six decimals."""
    return plain(round(number, 6))


def range_text(limits: Range) -> str:
    """The range in Nagios syntax; unlike ``str(Range)``, ``0:`` stays ``0:``, not ``''``."""
    text = "@" if limits.invert else ""
    if limits.start == -math.inf:
        text += "~:"
    elif limits.start != 0 or limits.end == math.inf:
        text += f"{plain(limits.start)}:"
    if limits.end != math.inf:
        text += plain(limits.end)
    return text


def at_least(number: float) -> Range:
    return parse_range(f"{plain(number)}:")


def at_most(number: float) -> Range:
    return parse_range(f"~:{plain(number)}")


def scaled(limits: Range, factor: float) -> Range:
    """The range with finite bounds times ``factor``, rounded to whole numbers (a range in GB
    judged on bytes)."""

    def bound(value: float) -> float:
        return value if math.isinf(value) else round(value * factor)

    return Range(
        ("@" if limits.invert else "")
        + ("~" if limits.start == -math.inf else plain(bound(limits.start)))
        + ":"
        + ("" if limits.end == math.inf else plain(bound(limits.end)))
    )


def is_lower_bound(limits: Range) -> bool:
    """Whether the range is ``N:``: only values below N alert."""
    return not limits.invert and limits.end == math.inf and limits.start != -math.inf


def span(limits: Range) -> str:
    """Both ends of the range for a person, ``0:10`` rather than ``10``."""
    start = "~" if limits.start == -math.inf else readable(limits.start)
    end = "" if limits.end == math.inf else readable(limits.end)
    return f"{'@' if limits.invert else ''}{start}:{end}"


def breach(limits: Range, value: float, unit: str = "") -> str:
    """Why ``value`` alerts against ``limits``, e.g. ``above 80`` or ``inside 5:10``."""
    if limits.invert:
        return f"inside {span(limits)[1:]}{unit}"
    if value < limits.start:
        return f"below {readable(limits.start)}{unit}"
    return f"above {readable(limits.end)}{unit}"


def nested(warning: Range, critical: Range) -> bool:
    """Whether every value the critical range alerts on also alerts against the warning
    range, as it must for WARNING to come before CRITICAL (inverted ranges are not
    compared)."""
    if warning.invert or critical.invert:
        return True
    return critical.start <= warning.start and warning.end <= critical.end
