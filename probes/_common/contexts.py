"""Contexts every probe uses: thresholds on numbers, and states that follow from a fact."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import nagiosplugin
from nagiosplugin import Critical, Metric, Ok, Performance, Range, Resource, Result, Unknown
from nagiosplugin.state import ServiceState

from probes._common.ranges import EVERYTHING, breach, range_text

Text = Callable[[Metric], str]


class Threshold(nagiosplugin.ScalarContext):
    """A number judged by ScalarContext against a WARNING and a CRITICAL range (None: no
    threshold), said as ``text(metric, resource)`` followed by why it alerts, e.g.
    ``lhcb.cern.ch uses 85% of its file descriptors (above 80)``."""

    def __init__(
        self,
        name: str,
        warning: Range | None = None,
        critical: Range | None = None,
        *,
        text: Callable[[Metric, Resource], str],
        unit: str = "",
        perfdata: bool = True,
        digits: int | None = None,
    ) -> None:
        super().__init__(name, warning or EVERYTHING, critical or EVERYTHING, fmt_metric=None)
        self.given = {Ok: None, nagiosplugin.Warn: warning, Critical: critical}
        self.text = text
        self.unit = unit  # after the bound in the breach: "below 9 h"
        self.perfdata = perfdata
        self.digits = digits  # of the perfdata value; judged is the value as measured

    def evaluate(self, metric: Metric, resource: Resource) -> Result:
        judged = super().evaluate(metric, resource)
        limits = self.given[judged.state]
        if limits is None:
            return self.result_cls(Ok, self.text(metric, resource), metric)
        return self.result_cls(judged.state, self.explain(metric, resource, limits), metric)

    def explain(self, metric: Metric, resource: Resource, limits: Range) -> str:
        """What a value that alerts against ``limits`` is said as."""
        return f"{self.text(metric, resource)} ({breach(limits, metric.value, self.unit)})"

    # ScalarContext always gives perfdata; a Check takes None from any context as "none"
    def performance(  # type: ignore[override]
        self, metric: Metric, resource: Resource
    ) -> Performance | None:
        if not self.perfdata:
            return None
        value = metric.value if self.digits is None else round(metric.value, self.digits)
        warning, critical = self.perfdata_ranges(metric, resource)
        return Performance(
            metric.name,
            value,
            metric.uom or "",
            range_text(warning) if warning else "",
            range_text(critical) if critical else "",
            metric.min,
            metric.max,
        )

    def perfdata_ranges(
        self, metric: Metric, resource: Resource
    ) -> tuple[Range | None, Range | None]:
        """The (warning, critical) ranges perfdata carries: those judged by, unless a
        context judges by more than its ranges."""
        return self.given[nagiosplugin.Warn], self.given[Critical]


class Fixed(nagiosplugin.Context):
    """A state that follows from the kind of fact measured, said by ``text(metric)``."""

    def __init__(self, name: str, state: ServiceState, text: Text) -> None:
        super().__init__(name)
        self.state = state
        self.text = text

    def evaluate(self, metric: Metric, resource: Resource) -> Result:
        return self.result_cls(self.state, self.text(metric), metric)


@dataclass(frozen=True)
class Unreadable:
    """Something the probe needed could not be read: it cannot tell."""

    what: str
    why: str


@dataclass(frozen=True)
class Stalled:
    """A part that did not answer in time: that part is broken."""

    what: str
    hung: str  # "did not answer within 2.4 s"


def cannot_tell(name: str = "unreadable") -> Fixed:
    def text(metric: Metric) -> str:
        value: Unreadable = metric.value
        return f"cannot tell: {value.what} unreadable: {value.why}"

    return Fixed(name, Unknown, text)


def hung(name: str = "hung") -> Fixed:
    def text(metric: Metric) -> str:
        value: Stalled = metric.value
        return f"{value.what} {value.hung}"

    return Fixed(name, Critical, text)


class Tally(nagiosplugin.Context):
    """Perfdata only: the things counted are judged one by one elsewhere, so the tally is
    not listed in long output."""

    def evaluate(self, metric: Metric, resource: Resource) -> Result:
        return self.result_cls(Ok, f"{metric.name}={metric.value}", metric)

    def performance(self, metric: Metric, resource: Resource) -> Performance:
        return Performance(metric.name, metric.value, min=metric.min)
