"""Judging scratch: placement, size, free space and inodes, permissions, the write test, the
cvmfs cache and swap; the summary."""

from __future__ import annotations

import os
from dataclasses import dataclass

import nagiosplugin
from nagiosplugin import Critical, Metric, Ok, Performance, Range, Resource, Result, Results, Warn

from probes._common.arguments import Limits
from probes._common.contexts import Fixed, Threshold, cannot_tell, hung
from probes._common.ranges import at_least, breach, is_lower_bound, scaled, span
from probes._common.summary import ProbeSummary
from probes.scratch._resources import (
    CacheLocation,
    Permissions,
    Placement,
    Presence,
    ScratchDirectory,
    ScratchSize,
    Skipped,
    SwapFiles,
    WriteFailure,
)

GB = 10**9
MB = 10**6
DEFAULT_MIN_SIZE_GB = 40
WANTED_MODE = 0o1777


def human_bytes(count: float) -> str:
    if count >= GB:
        return f"{count / GB:.1f} GB"
    return f"{count / MB:.1f} MB"


class PresenceContext(nagiosplugin.Context):
    def evaluate(self, metric: Metric, resource: Resource) -> Result:
        value: Presence = metric.value
        if value.problem:
            return self.result_cls(Critical, value.problem, metric)
        return self.result_cls(Ok, f"{value.path} is a directory", metric)


class PlacementContext(nagiosplugin.Context):
    """A scratch on the root overlay is too slow for jobs: CRITICAL."""

    def evaluate(self, metric: Metric, resource: Resource) -> Result:
        value: Placement = metric.value
        if value.mount is None:
            where = f" (it is on {value.holder.mountpoint})" if value.holder else ""
            text = f"{value.path} is not a mount point{where}"
            return self.result_cls(Critical, text, metric)
        if not value.own_device:
            text = f"{value.path} has the same device as {value.root_path}"
            return self.result_cls(Critical, text, metric)
        mount = value.mount
        text = f"{value.path} is its own filesystem: {mount.fstype} on {mount.device}"
        return self.result_cls(Ok, text, metric)


class FreeContext(Threshold):
    """Free space or free inodes in percent of the total."""

    def __init__(self, name: str, limits: tuple[Range | None, Range | None]) -> None:
        super().__init__(name, *limits, text=self.said, unit="%", digits=2)

    def said(self, metric: Metric, resource: Resource) -> str:
        assert isinstance(resource, ScratchDirectory)
        scratch = resource.inspector.inspection()
        assert scratch is not None
        if metric.name == "free":
            amount = f"{human_bytes(scratch.avail_bytes)} of {human_bytes(scratch.total_bytes)}"
            return f"free space {metric.value:.1f}% ({amount})"
        return f"free inodes {metric.value:.1f}% ({scratch.avail_inodes} of {scratch.total_inodes})"

    def explain(self, metric: Metric, resource: Resource, limits: Range) -> str:
        return f"{self.said(metric, resource)}, {breach(limits, metric.value, self.unit)}"


@dataclass(frozen=True)
class SizeLimit:
    """The critical size range in bytes, and where it came from."""

    limits: Range
    source: str
    shown: Range | None = None  # as given, in GB; None for a limit in bytes


class SizeThreshold(Threshold):
    def __init__(self, warning_gb: Range | None, critical: SizeLimit) -> None:
        super().__init__(
            "size",
            None if warning_gb is None else scaled(warning_gb, GB),
            critical.limits,
            text=self.said,
        )
        self.warning_gb = warning_gb
        self.limit = critical

    def said(self, metric: Metric, resource: Resource) -> str:
        limits = self.limit.limits
        if is_lower_bound(limits) or self.limit.shown is None:
            needed = f"at least {human_bytes(limits.start)}"
        else:
            return (
                f"size {human_bytes(metric.value)}, critical range {span(self.limit.shown)} GB "
                f"({self.limit.source})"
            )
        return f"size {human_bytes(metric.value)}, {needed} required ({self.limit.source})"

    def explain(self, metric: Metric, resource: Resource, limits: Range) -> str:
        text = self.said(metric, resource)
        if limits == self.limit.limits and not limits.invert:
            return f"too {'small' if metric.value < limits.start else 'large'}: {text}"
        shown = self.limit.shown if limits == self.limit.limits else self.warning_gb
        if shown is None:
            return f"{text} ({breach(limits, metric.value, ' B')})"
        return f"{text} ({breach(shown, metric.value / GB, ' GB')})"


class SizeContext(nagiosplugin.Context):
    """Total size against ranges in GB; without a critical range given, at least MJF's
    scratch_limit_bytes, else at least 40 GB."""

    def __init__(self, warning: Range | None, critical: Range | None, source: str) -> None:
        super().__init__("size")
        self.warning = warning
        self.critical = critical
        self.source = source

    def judge(self, resource: Resource) -> SizeThreshold:
        if self.critical is not None:
            limit = SizeLimit(scaled(self.critical, GB), self.source, self.critical)
        else:
            assert isinstance(resource, ScratchSize)
            if isinstance(resource.limit, int):
                limit = SizeLimit(at_least(resource.limit), "MJF scratch_limit_bytes")
            else:
                shown = at_least(DEFAULT_MIN_SIZE_GB)
                limit = SizeLimit(scaled(shown, GB), f"default, {resource.limit}", shown)
        return SizeThreshold(self.warning, limit)

    def evaluate(self, metric: Metric, resource: Resource) -> Result:
        return self.judge(resource).evaluate(metric, resource)

    def performance(self, metric: Metric, resource: Resource) -> Performance | None:
        return self.judge(resource).performance(metric, resource)


class PermissionsContext(nagiosplugin.Context):
    """Jobs of several users share scratch and scratch/tmp: both must be 1777."""

    def evaluate(self, metric: Metric, resource: Resource) -> Result:
        value: Permissions = metric.value
        tmp = os.path.join(value.path, "tmp")
        problems = []
        if value.mode != WANTED_MODE:
            problems.append(f"{value.path} has mode {value.mode:04o}, not {WANTED_MODE:04o}")
        if value.tmp_kind is not None:
            problems.append(f"{tmp} is {value.tmp_kind}")
        elif value.tmp_mode != WANTED_MODE:
            problems.append(f"{tmp} has mode {value.tmp_mode:04o}, not {WANTED_MODE:04o}")
        if problems:
            return self.result_cls(Warn, " and ".join(problems), metric)
        return self.result_cls(Ok, f"{value.path} and {tmp} have mode {WANTED_MODE:04o}", metric)


class CacheContext(nagiosplugin.Context):
    def __init__(self, name: str, scratch: str, config_dir: str) -> None:
        super().__init__(name)
        self.scratch = scratch
        self.config_dir = config_dir

    def evaluate(self, metric: Metric, resource: Resource) -> Result:
        value: CacheLocation = metric.value
        if value.base is None:
            text = f"cvmfs cache not configured in {self.config_dir}: not checked"
            return self.result_cls(Ok, text, metric)
        if value.on_scratch:
            return self.result_cls(Ok, f"cvmfs cache {value.base} is on scratch", metric)
        return self.result_cls(Warn, f"cvmfs cache {value.base} is not on {self.scratch}", metric)


class SwapContext(nagiosplugin.Context):
    def __init__(self, name: str, scratch: str) -> None:
        super().__init__(name)
        self.scratch = scratch

    def evaluate(self, metric: Metric, resource: Resource) -> Result:
        value: SwapFiles = metric.value
        if value.on_scratch:
            text = f"swap file on scratch: {', '.join(value.on_scratch)}"
            return self.result_cls(Ok, text, metric)
        others = ", ".join(value.elsewhere) or "none"
        return self.result_cls(
            Warn, f"no swap file on {self.scratch} (swap in use: {others})", metric
        )


class ScratchSummary(ProbeSummary):
    def __init__(self, path: str) -> None:
        self.path = path

    def ok(self, results: Results) -> str:
        def value(name: str) -> object:
            metric = results[name].metric if name in results else None
            return None if metric is None else metric.value

        size, free, speed = value("size"), value("free"), value("write_MBps")
        text = f"{self.path} is its own filesystem"
        if isinstance(size, int):
            text += f" of {human_bytes(size)}"
        if isinstance(free, float):
            text += f", {free:.1f}% free"
        if isinstance(speed, float):
            text += f", writes {speed:.1f} MB/s"
        return text


def contexts(
    limits: Limits, *, size_source: str, write_mb: int, path: str, config_dir: str
) -> list[nagiosplugin.Context]:
    def write_said(metric: Metric, resource: Resource) -> str:
        return f"wrote, synced and read back {write_mb} MB at {metric.value:.1f} MB/s"

    def write_failed(metric: Metric) -> str:
        failure: WriteFailure = metric.value
        return f"write test of {failure.megabytes} MB failed: {failure.problem}"

    def skipped(metric: Metric) -> str:
        value: Skipped = metric.value
        return f"{value.what} not checked: no usable scratch"

    def unlimited(metric: Metric) -> str:
        what = "amount of space" if metric.name == "free" else "number of inodes"
        return f"no fixed {what} (nothing to run out of)"

    return [
        PresenceContext("scratch"),
        hung(),
        cannot_tell(),
        Fixed("skipped", Ok, skipped),
        PlacementContext("filesystem"),
        SizeContext(*limits["size"], source=size_source),
        FreeContext("free", limits["free"]),
        FreeContext("inodes_free", limits["inodes"]),
        Fixed("unlimited", Ok, unlimited),
        PermissionsContext("permissions"),
        Threshold("write", *limits["write"], text=write_said, unit=" MB/s", digits=1),
        Fixed("write_failed", Critical, write_failed),
        CacheContext("cvmfs_cache", path, config_dir),
        Fixed(
            "config_problem",
            Warn,
            lambda m: f"cvmfs client configuration {m.value}: cache location not checked",
        ),
        SwapContext("swap", path),
    ]
