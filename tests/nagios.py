"""The Nagios plugin output grammar (the monitoring-plugins development guidelines).

Strict on purpose: an output this accepts is one every Nagios/Icinga/ETF parser accepts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

STATES = {0: "OK", 1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}
UNITS = {"", "s", "ms", "us", "%", "B", "KB", "MB", "GB", "TB", "c"}

_NUMBER = r"-?[0-9]+(?:\.[0-9]+)?"
_RANGE_END = rf"(?:{_NUMBER}|~)"
_RANGE = re.compile(rf"^@?(?:{_NUMBER}|(?:{_RANGE_END})?:(?:{_NUMBER})?)$")
_LABEL = r"(?:'[^'=]+'|[^'=\s]+)"
_PERF = re.compile(
    rf"^(?P<label>{_LABEL})=(?P<value>{_NUMBER})(?P<uom>[a-zA-Z%]*)"
    r"(?:;(?P<warn>[^;]*)(?:;(?P<crit>[^;]*)(?:;(?P<min>[^;]*)(?:;(?P<max>[^;]*))?)?)?)?$"
)
_PERF_ITEM = re.compile(rf"{_LABEL}=\S*")


@dataclass
class Perf:
    label: str
    value: float
    uom: str
    warn: str = ""
    crit: str = ""
    min: str = ""
    max: str = ""


@dataclass
class PluginOutput:
    exit_code: int
    service: str
    state: str
    summary: str
    perfdata: dict[str, Perf] = field(default_factory=dict)
    long_output: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join([self.summary, *self.long_output])


class GrammarError(AssertionError):
    pass


def _parse_perf(text: str) -> dict[str, Perf]:
    perfdata: dict[str, Perf] = {}
    items = _PERF_ITEM.findall(text)
    if " ".join(items) != " ".join(text.split()):
        raise GrammarError(f"perfdata has text that is not label=value: {text!r}")
    for item in items:
        match = _PERF.match(item)
        if not match:
            raise GrammarError(f"perfdata item breaks the grammar: {item!r}")
        uom = match["uom"]
        if uom not in UNITS:
            raise GrammarError(f"perfdata unit {uom!r} is not one of the guidelines': {item!r}")
        for part in ("warn", "crit"):
            threshold = match[part]
            if threshold and not _RANGE.match(threshold):
                raise GrammarError(f"{part} threshold {threshold!r} is not a range: {item!r}")
        for part in ("min", "max"):
            bound = match[part]
            if bound and not re.fullmatch(_NUMBER, bound):
                raise GrammarError(f"{part} {bound!r} is not a number: {item!r}")
        label = match["label"].strip("'")
        if label in perfdata:
            raise GrammarError(f"perfdata label {label!r} appears twice")
        perfdata[label] = Perf(
            label,
            float(match["value"]),
            uom,
            match["warn"] or "",
            match["crit"] or "",
            match["min"] or "",
            match["max"] or "",
        )
    return perfdata


def parse(exit_code: int, stdout: str) -> PluginOutput:
    """Parse plugin output, raising GrammarError where it breaks the rules."""
    if exit_code not in STATES:
        raise GrammarError(f"exit code {exit_code} is not a Nagios state")
    if "Traceback (most recent call last)" in stdout:
        raise GrammarError(f"a traceback reached the output:\n{stdout}")
    lines = stdout.rstrip("\n").split("\n")
    if not lines or not lines[0].strip():
        raise GrammarError("no status line")
    status, _, perf = lines[0].partition("|")
    match = re.match(
        r"^(?P<service>\S+) (?P<state>OK|WARNING|CRITICAL|UNKNOWN): (?P<summary>.+)$",
        status.rstrip(),
    )
    if not match:
        raise GrammarError(f"status line is not 'SERVICE STATE: summary': {lines[0]!r}")
    if match["state"] != STATES[exit_code]:
        raise GrammarError(f"state {match['state']} does not match exit code {exit_code}")
    perfdata = _parse_perf(perf.strip()) if perf.strip() else {}
    long_output = lines[1:]
    for line in long_output:
        if "|" in line:
            raise GrammarError(f"'|' in long output starts perfdata by accident: {line!r}")
    return PluginOutput(
        exit_code, match["service"], match["state"], match["summary"], perfdata, long_output
    )
