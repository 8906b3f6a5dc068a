"""probes._common: Nagios ranges, threshold options and the way results are said."""

from __future__ import annotations

import argparse

import pytest
from nagiosplugin import Range

from probes._common import arguments, ranges, summary
from probes._plugin import status_text
from probes.cvmfs._cli import catalogs_per_maxfd

# --- ranges ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fine", "alerts"),
    [
        ("10", [0, 5, 10], [-1, 10.5]),
        ("10:", [10, 1e9], [9.99, -3]),
        ("~:90", [-1e9, 90], [90.1]),
        ("5:10", [5, 7.5, 10], [4.9, 10.1]),
        ("@5:10", [4.9, 10.1], [5, 7.5, 10]),
        ("0:", [0, 3], [-0.5]),
        ("~:", [-1e9, 0, 1e9], []),
    ],
)
def test_ranges_mean_what_the_guidelines_say(
    text: str, fine: list[float], alerts: list[float]
) -> None:
    limits = ranges.parse_range(text)
    assert [limits.match(v) for v in fine] == [True] * len(fine)
    assert [limits.match(v) for v in alerts] == [False] * len(alerts)


@pytest.mark.parametrize("text", ["", "abc", "10:5", "1_0", " 10", "1e3", "~", "10::", "@", "5.:"])
def test_text_that_is_not_a_range_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a Nagios range"):
        ranges.parse_range(text)


@pytest.mark.parametrize(
    ("text", "shown"),
    [("0:", "0:"), ("10", "10"), ("0:10", "10"), ("~:80", "~:80"), ("@5:10", "@5:10")],
)
def test_range_text_keeps_zero_lower_bounds_that_str_drops(text: str, shown: str) -> None:
    limits = ranges.parse_range(text)
    assert ranges.range_text(limits) == shown
    assert ranges.parse_range(ranges.range_text(limits)) == limits


def test_numbers_never_come_out_in_scientific_notation() -> None:
    assert ranges.plain(1e-05) == "0.00001"
    assert ranges.plain(40e9) == "40000000000"
    # exact: the range built from a computed limit judges as the limit itself would
    assert float(ranges.plain(100 / 3)) == 100 / 3


@pytest.mark.parametrize(
    ("text", "value", "said"),
    [
        ("~:80", 85, "above 80"),
        ("10:", 8, "below 10"),
        ("5:10", 11, "above 10"),
        ("@5:10", 7, "inside 5:10"),
        ("@~:0", -1, "inside ~:0"),
    ],
)
def test_breach_says_which_side_was_crossed(text: str, value: float, said: str) -> None:
    assert ranges.breach(ranges.parse_range(text), value) == said


def test_scaled_ranges_are_whole_bytes() -> None:
    assert ranges.range_text(ranges.scaled(ranges.parse_range("0.01:"), 10**9)) == "10000000:"
    assert ranges.range_text(ranges.scaled(ranges.parse_range("@1:2.5"), 10**9)) == (
        "@1000000000:2500000000"
    )


@pytest.mark.parametrize(
    ("warning", "critical", "nested"),
    [("10:", "5:", True), ("5:", "10:", False), ("~:80", "~:90", True), ("~:90", "~:80", False)],
)
def test_a_warning_range_must_lie_inside_its_critical_range(
    warning: str, critical: str, nested: bool
) -> None:
    assert ranges.nested(ranges.parse_range(warning), ranges.parse_range(critical)) is nested


@pytest.mark.parametrize("factor", [1, 3, 7, 10, 11.5, 64])
def test_the_old_nclg_factor_judges_as_before(factor: float) -> None:
    limits = catalogs_per_maxfd(factor)
    for maxfd in (3, 7, 1000, 130560):
        for nclg in range(0, maxfd + 2, max(1, maxfd // 97)):
            old_warned = nclg * factor > maxfd
            assert (not limits.match(100.0 * nclg / maxfd)) is old_warned, (nclg, maxfd)


def test_an_nclg_factor_of_zero_never_warns() -> None:
    assert catalogs_per_maxfd(0).match(1e12)


# --- threshold options ------------------------------------------------------------------------

MEASURE = arguments.Measure("free", "the free space", warning="10:", critical="5:", short=True)


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    arguments.add_thresholds(p, MEASURE)
    arguments.add_alias(
        p,
        "--warn-free-pct",
        targets=["free_warning"],
        kind=arguments.percent,
        convert=ranges.at_least,
        metavar="PCT",
        text="old form",
    )
    args = p.parse_args(argv)
    arguments.check_thresholds(p, args, [MEASURE])
    return args


def test_threshold_options_have_range_defaults_and_short_forms() -> None:
    args = parse()
    assert (args.free_warning, args.free_critical) == (Range("10:"), Range("5:"))
    assert arguments.given(args, "free_warning") == "default"
    args = parse("-w", "20:", "--free-critical", "@0:1")
    assert (args.free_warning, args.free_critical) == (Range("20:"), Range("@0:1"))
    assert arguments.given(args, "free_warning") == "-w"


def test_an_old_option_sets_the_range_it_meant_and_is_named_as_the_source() -> None:
    args = parse("--warn-free-pct", "40")
    assert args.free_warning == Range("40:")
    assert arguments.given(args, "free_warning") == "--warn-free-pct"


def test_inconsistent_ranges_are_a_usage_error() -> None:
    with pytest.raises(SystemExit):
        parse("--free-warning", "1:", "--free-critical", "20:")


# --- how results are said ---------------------------------------------------------------------


def test_plural() -> None:
    assert summary.plural(1, "repository", "repositories") == "1 repository"
    assert summary.plural(2, "repository", "repositories") == "2 repositories"
    assert summary.plural(0, "CA") == "0 CAs"


def test_the_status_line_never_carries_a_semicolon() -> None:
    assert status_text("a;b |\nc") == "a,b / c"
