"""Argument types and threshold options shared by the probes.

Every threshold is a pair of options per measure in the monitoring-plugins style,
``--<measure>-warning RANGE`` and ``--<measure>-critical RANGE`` (Nagios ranges, see
probes._common.ranges). Options the probes had before ranges (``--warn-free-pct 10``) stay
as aliases that set the range they always meant (``--free-warning 10:``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from nagiosplugin import Range

from probes._common.ranges import nested, parse_range, range_text

RANGE_HELP = (
    "RANGE is a Nagios range of the values that are fine, a value outside it alerts: "
    "N is 0..N, N: is N or more, ~:N is N or less, A:B is A..B; @A:B alerts inside A..B "
    "instead. A critical range must lie around its warning range."
)


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def percent(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"must be between 0 and 100, got {text!r}")
    return value


def nagios_range(text: str) -> Range:
    try:
        return parse_range(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


@dataclass(frozen=True)
class Measure:
    """A measured value judged against a WARNING and a CRITICAL range."""

    option: str  # "fd" gives --fd-warning and --fd-critical
    what: str  # for --help: what the number is, with its unit
    warning: str | None = None  # the default ranges; None never alerts
    critical: str | None = None
    # -w/-c too: the probe's main measure, as check_disk has them for free space
    short: bool = False
    critical_said: str = ""  # for --help, when the default critical range is found at run time

    @property
    def warning_dest(self) -> str:
        return f"{self.option.replace('-', '_')}_warning"

    @property
    def critical_dest(self) -> str:
        return f"{self.option.replace('-', '_')}_critical"


def source_dest(dest: str) -> str:
    """Where the namespace keeps which option set ``dest`` (``default`` when none did)."""
    return f"{dest}_from"


class _SetRanges(argparse.Action):
    """Stores a range into one or more destinations and says which option set them."""

    def __init__(
        self,
        option_strings: Sequence[str],
        dest: str,
        *,
        targets: Sequence[str] = (),
        convert: Callable[[float], Range] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(option_strings, dest, **kwargs)
        self.targets = tuple(targets) or (dest,)
        self.convert = convert

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        value = values if self.convert is None else self.convert(values)
        for target in self.targets:
            setattr(namespace, target, value)
            setattr(namespace, source_dest(target), option_string)


def add_thresholds(parser: argparse.ArgumentParser, *measures: Measure) -> None:
    for measure in measures:
        what = measure.what.replace("%", "%%")
        for level, default, dest, said in (
            ("warning", measure.warning, measure.warning_dest, ""),
            ("critical", measure.critical, measure.critical_dest, measure.critical_said),
        ):
            names = [f"--{measure.option}-{level}"]
            if measure.short:
                names.insert(0, f"-{level[0]}")
            parser.add_argument(
                *names,
                dest=dest,
                type=nagios_range,
                action=_SetRanges,
                default=None if default is None else parse_range(default),
                metavar="RANGE",
                help=f"{level.upper()} range for {what} (default {said or default or 'none'})",
            )
            parser.set_defaults(**{source_dest(dest): "default"})


def add_alias(
    parser: argparse.ArgumentParser,
    option: str,
    *,
    targets: Sequence[str],
    kind: Callable[[str], float],
    convert: Callable[[float], Range],
    metavar: str,
    text: str,
) -> None:
    """An option of the probes before ranges, kept so that existing command lines work."""
    parser.add_argument(
        option,
        dest=targets[0],
        targets=targets,
        type=kind,
        action=_SetRanges,
        convert=convert,
        metavar=metavar,
        default=argparse.SUPPRESS,
        help=text,
    )


def check_thresholds(
    parser: argparse.ArgumentParser, args: argparse.Namespace, measures: Sequence[Measure]
) -> None:
    """A warning range outside its critical range would never be seen: a usage error."""
    for measure in measures:
        warning: Range | None = getattr(args, measure.warning_dest)
        critical: Range | None = getattr(args, measure.critical_dest)
        if warning is None or critical is None or nested(warning, critical):
            continue
        parser.error(
            f"warning range {range_text(warning)} ({given(args, measure.warning_dest)}) "
            f"is not inside critical range {range_text(critical)} "
            f"({given(args, measure.critical_dest)})"
        )


def given(args: argparse.Namespace, dest: str) -> str:
    return str(getattr(args, source_dest(dest), "default"))


Limits = dict[str, tuple[Range | None, Range | None]]


def limits(args: argparse.Namespace, measures: Sequence[Measure]) -> Limits:
    """Each measure's (warning, critical) ranges as the command line set them."""
    return {
        m.option: (getattr(args, m.warning_dest), getattr(args, m.critical_dest)) for m in measures
    }
