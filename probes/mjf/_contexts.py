"""Judging the feature sets, each key, and the rules across keys; the summary."""

from __future__ import annotations

import nagiosplugin
from nagiosplugin import Critical, Metric, Ok, Performance, Resource, Result, Results, Warn
from nagiosplugin.state import ServiceState

from probes._common.arguments import Limits
from probes._common.contexts import Fixed, Threshold
from probes._common.ranges import plain
from probes._common.summary import ProbeSummary
from probes.mjf._keys import KEY_BY_NAME, PERFDATA_KEYS, SET_NAMES, UUID, Need, parse_float
from probes.mjf._resources import SetReading

_SHOWN_CHARS = 40

UNCHECKED = {
    "seconds_left": "seconds left not known (no end time)",
    "shutdown_order": "shutdown order not checked (shutdowntime or shutdowntime_job unset)",
    "jobstart_ahead": "job start time not checked (jobstart_secs unknown)",
    "vm_uuid": "job_id not compared with the VM UUID (no valid job_id)",
}


def shown(value: str) -> str:
    text = value if len(value) <= _SHOWN_CHARS else value[:_SHOWN_CHARS] + "..."
    return repr(text)


class FeatureSetContext(nagiosplugin.Context):
    """A feature set must be found and readable."""

    def __init__(self) -> None:
        super().__init__("featureset")

    def evaluate(self, metric: Metric, resource: Resource) -> Result:
        reading: SetReading = metric.value
        if reading.location is None and reading.error is None:
            text = f"{reading.name} not found (looked in {reading.looked_in})"
            return self.result_cls(Critical, text, metric)
        if reading.error is not None:
            where = f" at {reading.location}" if reading.location else ""
            return self.result_cls(Critical, f"{reading.name}{where}: {reading.error}", metric)
        if reading.listed is not None:
            listing = f"lists {len(reading.listed)} keys: {' '.join(reading.listed)}"
        else:
            listing = f"no key listing ({reading.listing_error})"
        text = f"{reading.name} at {reading.location} (found by {reading.found_by}), {listing}"
        return self.result_cls(Ok, text, metric)


class KeyContext(nagiosplugin.Context):
    """One key: present as its need asks, of its type, a limit above zero."""

    def __init__(self, need: Need, absent_state: ServiceState, name: str = "") -> None:
        super().__init__(name or need)
        self.absent_state = absent_state

    def evaluate(self, metric: Metric, resource: Resource) -> Result:
        key = KEY_BY_NAME[metric.name]
        text: str | None = metric.value
        where = SET_NAMES[key.which]
        if text is None:
            said = f"{key.name} missing from {where} ({key.need})"
            return self.result_cls(self.absent_state, said, metric)
        value = key.parse(text)
        if value is None:
            said = f"{key.name}={shown(text)} is not {key.type_name}"
            return self.result_cls(Critical, said, metric)
        if key.positive and isinstance(value, int) and value <= 0:
            return self.result_cls(Critical, f"{key.name}={text} is not > 0", metric)
        return self.result_cls(Ok, f"{key.name}={text}", metric)

    def performance(self, metric: Metric, resource: Resource) -> Performance | None:
        if metric.name not in PERFDATA_KEYS or metric.value is None:
            return None
        value = parse_float(metric.value)
        if value is None:
            return None
        return Performance(metric.name, plain(round(value, 3)))


class JobStartContext(KeyContext):
    """``jobstart_secs`` is required, except that a UUID there is Vcycle's bug, not a VM fault."""

    def __init__(self) -> None:
        super().__init__("required", Critical, "jobstart_secs")

    def evaluate(self, metric: Metric, resource: Resource) -> Result:
        text: str | None = metric.value
        if text is not None and UUID.fullmatch(text):
            return self.result_cls(
                Warn,
                f"jobstart_secs holds a UUID ({text}): the Vcycle 03.x bug that writes the VM "
                "UUID into jobstart_secs instead of job_id",
                metric,
            )
        return super().evaluate(metric, resource)


class ShutdownOrderContext(nagiosplugin.Context):
    """The job cannot outlast the machine it runs on."""

    def evaluate(self, metric: Metric, resource: Resource) -> Result:
        shutdown_job, shutdown = metric.value
        if shutdown_job > shutdown:
            return self.result_cls(
                Warn,
                f"shutdowntime_job={shutdown_job} is after shutdowntime={shutdown} "
                f"(by {shutdown_job - shutdown} s)",
                metric,
            )
        return self.result_cls(Ok, "shutdowntime_job is not after shutdowntime", metric)


class VMUUIDContext(nagiosplugin.Context):
    def evaluate(self, metric: Metric, resource: Resource) -> Result:
        job_id, uuid = metric.value
        if not uuid:
            text = "job_id not compared with the VM UUID (no --uuid given)"
            return self.result_cls(Ok, text, metric)
        if job_id.lower() != uuid.lower():
            return self.result_cls(Warn, f"job_id={job_id} is not the VM UUID {uuid}", metric)
        return self.result_cls(Ok, "job_id is the VM UUID", metric)


def jobstart_said(metric: Metric, resource: Resource) -> str:
    ahead: int = metric.value
    if ahead > 0:
        return f"jobstart_secs is {ahead} s in the future"
    return f"job started {-ahead} s ago"


class MJFSummary(ProbeSummary):
    def ok(self, results: Results) -> str:
        parts = ["machine and job features complete and consistent"]
        for name in ("allocated_cpu", "hs06"):
            metric = results[name].metric if name in results else None
            if metric is not None and metric.value is not None:
                parts.append(f"{name}={metric.value}")
        left = results["seconds_left"].metric if "seconds_left" in results else None
        if left is not None and left.value is not None:
            parts.append(f"{left.value} s left")
        return ", ".join(parts)


def contexts(limits: Limits) -> list[nagiosplugin.Context]:
    return [
        FeatureSetContext(),
        KeyContext("required", Critical),
        KeyContext("recommended", Warn),
        KeyContext("optional", Ok),
        JobStartContext(),
        Fixed(
            "optional_unset",
            Ok,
            lambda m: (
                f"optional keys not set: {' '.join(m.value)}"
                if m.value
                else "all optional keys set"
            ),
        ),
        Fixed("unchecked", Ok, lambda m: UNCHECKED[m.name]),
        Threshold(
            "seconds_left",
            *limits["seconds-left"],
            text=lambda m, r: f"{m.value} s left before the job or machine ends",
            unit=" s",
        ),
        ShutdownOrderContext("shutdown_order"),
        Threshold("future", *limits["future"], text=jobstart_said, unit=" s", perfdata=False),
        VMUUIDContext("vm_uuid"),
    ]
