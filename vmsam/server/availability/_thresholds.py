"""Threshold profiles: a metric's status derived from its perfdata with Nagios ranges, in
place of the probe's own verdict (ARGO's threshold profiles, docs/availability.md).

    [thresholds]
    name = "strict-scratch"
    [[thresholds.rules]]
    metric = "org.*.WN-scratch"                               # a shell-style pattern
    labels = { write_MBps = { warning = "50:", critical = "20:" } }

A result of a metric that a rule covers, with one of the rule's labels in its perfdata, is
CRITICAL when a value lies outside its critical range, else WARNING outside its warning
range, else OK (the worst label wins). Without any of the labels, the probe's status stands;
with a label whose value is no number, too, and the result is counted as unjudged.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from vmsam.shared.errors import ProfileError
from vmsam.shared.ranges import parse_range

if TYPE_CHECKING:
    from nagiosplugin import Range

# one perfdata item: 'label'=value[UOM];warn;crit;min;max, a quoted label may hold blanks
# and '' for a quote (monitoring-plugins guidelines)
_ITEM = re.compile(r"(?:'((?:[^']|'')+)'|([^\s'=]+))=(\S*)")
_VALUE = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_LEVELS = ("warning", "critical")


def perf_values(perf_data: str | None) -> dict[str, str]:
    """Each label of ``perf_data`` with the text of its value (UOM and ranges cut off)."""
    if not perf_data:
        return {}
    values: dict[str, str] = {}
    for quoted, plain_label, rest in _ITEM.findall(perf_data):
        label = quoted.replace("''", "'") if quoted else plain_label
        values.setdefault(label, rest.split(";", 1)[0])
    return values


def perf_number(text: str) -> float | None:
    """The number at the start of a perfdata value (``12.5MB`` gives 12.5), None if none."""
    found = _VALUE.match(text)
    if found is None:
        return None
    number = float(found.group())
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class LabelLimits:
    """The warning and critical ranges of one perfdata label (either may be left out)."""

    label: str
    warning: str | None
    critical: str | None
    # parsed once; the texts above are what the profile (and its fingerprint) is
    ranges: tuple[Range | None, Range | None] = field(compare=False, repr=False)

    def state(self, value: float) -> str:
        warning, critical = self.ranges
        if critical is not None and not critical.match(value):
            return "CRITICAL"
        if warning is not None and not warning.match(value):
            return "WARNING"
        return "OK"


@dataclass(frozen=True)
class ThresholdRule:
    metric: str  # fnmatch pattern, case-sensitive
    limits: tuple[LabelLimits, ...]


_SEVERITY = {"OK": 0, "WARNING": 1, "CRITICAL": 2}


@dataclass(frozen=True)
class ThresholdProfile:
    """A named list of rules; the first whose pattern matches a metric covers it."""

    name: str
    rules: tuple[ThresholdRule, ...]
    _by_metric: dict[str, ThresholdRule | None] = field(
        default_factory=dict, compare=False, repr=False
    )

    def rule_for(self, metric: str) -> ThresholdRule | None:
        if metric not in self._by_metric:
            self._by_metric[metric] = next(
                (rule for rule in self.rules if fnmatchcase(metric, rule.metric)), None
            )
        return self._by_metric[metric]

    def covers(self, metric: str) -> bool:
        return self.rule_for(metric) is not None

    def derive(self, metric: str, status: str, perf_data: str | None) -> str | None:
        """The status of a result of ``metric`` under this profile: derived from the
        perfdata of the labels the profile covers, ``status`` when it has none of them, and
        None when one of them holds no number (the caller keeps ``status`` and counts it)."""
        rule = self.rule_for(metric)
        if rule is None:
            return status
        values = perf_values(perf_data)
        worst: str | None = None
        for limits in rule.limits:
            text = values.get(limits.label)
            if text is None:
                continue
            number = perf_number(text)
            if number is None:
                return None
            state = limits.state(number)
            if worst is None or _SEVERITY[state] > _SEVERITY[worst]:
                worst = state
        return status if worst is None else worst


def threshold_profile(document: Any) -> ThresholdProfile:
    """The ``thresholds`` section of a profile file; ProfileError naming what is wrong."""
    where = "threshold profile"
    if not isinstance(document, dict):
        raise ProfileError(f"{where} must be a table with a name and rules")
    unknown = sorted(set(document) - {"name", "rules"})
    if unknown:
        raise ProfileError(f"{where}: unknown key(s) {', '.join(unknown)} (expected name, rules)")
    name = document.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ProfileError(f"{where}: 'name' must be a non-empty string")
    rules = document.get("rules")
    if not isinstance(rules, list) or not rules:
        raise ProfileError(f"{where} {name}: 'rules' must be a non-empty list")
    return ThresholdProfile(
        name, tuple(_rule(entry, f"{where} {name}, rule {n}") for n, entry in enumerate(rules, 1))
    )


def _rule(entry: Any, where: str) -> ThresholdRule:
    if not isinstance(entry, dict) or set(entry) != {"metric", "labels"}:
        raise ProfileError(f"{where}: a rule is a table of exactly 'metric' and 'labels'")
    metric, labels = entry["metric"], entry["labels"]
    if not isinstance(metric, str) or not metric:
        raise ProfileError(f"{where}: 'metric' must be a non-empty string (a pattern)")
    if not isinstance(labels, dict) or not labels:
        raise ProfileError(f"{where} ({metric}): 'labels' must be a non-empty table")
    return ThresholdRule(
        metric,
        tuple(
            _limits(label, limits, f"{where} ({metric}), label {label!r}")
            for label, limits in labels.items()
        ),
    )


def _limits(label: str, limits: Any, where: str) -> LabelLimits:
    if not label or any(char.isspace() or char in "='" for char in label):
        raise ProfileError(f"{where}: not a perfdata label (no blanks, '=' or quotes)")
    if not isinstance(limits, Mapping) or not limits or set(limits) - set(_LEVELS):
        raise ProfileError(f"{where}: give 'warning', 'critical' or both, and nothing else")
    texts: list[str | None] = []
    ranges: list[Range | None] = []
    for level in _LEVELS:
        text = limits.get(level)
        if text is None:
            texts.append(None)
            ranges.append(None)
            continue
        if not isinstance(text, str):
            raise ProfileError(f"{where}: {level} must be a Nagios range as a string")
        try:
            ranges.append(parse_range(text))
        except ValueError as exc:
            raise ProfileError(f"{where}: {level} is {exc}") from None
        texts.append(text)
    return LabelLimits(label, texts[0], texts[1], (ranges[0], ranges[1]))
