"""Judging: the repository, its attributes against their ranges, the cache; the summary."""

from __future__ import annotations

from collections.abc import Callable

import nagiosplugin
from nagiosplugin import Critical, Metric, Ok, Resource, Result, Results, Warn

from probes._common.arguments import Limits
from probes._common.contexts import Fixed, Threshold, cannot_tell, hung
from probes._common.summary import ProbeSummary, plural
from probes.cvmfs._resources import Access, AttributeProblem, CachePlace, CvmfsClient


def repository_of(metric: Metric) -> str:
    """The repository a per-repository metric (``<repository>_<what>``) is about."""
    return metric.name.rsplit("_", 1)[0]


class RepositoryContext(nagiosplugin.Context):
    """Not mounted, or mounted and not listable: CRITICAL (unless the VO can do without)."""

    def __init__(self) -> None:
        super().__init__("repository")

    def evaluate(self, metric: Metric, resource: Resource) -> Result:
        access: Access = metric.value
        name = access.repository.name
        if access.mount is None:
            if not access.repository.required:
                return self.result_cls(Ok, f"{name} not mounted, not required for this VO", metric)
            where = access.path + (f" ({access.failure})" if access.failure else "")
            return self.result_cls(Critical, f"{name} not mounted at {where}", metric)
        if access.inspection is None:
            return self.result_cls(Critical, f"{name} cannot be listed: {access.failure}", metric)
        entries = access.inspection.entries
        return self.result_cls(
            Ok,
            f"{name} mounted ({access.mount.fstype}) at {access.path}, "
            f"{plural(entries, 'entry', 'entries')} at its root",
            metric,
        )


def said(template: str) -> Callable[[Metric, Resource], str]:
    """A text from ``template`` with the metric's repository and value."""

    def text(metric: Metric, resource: Resource) -> str:
        return template.format(repository=repository_of(metric), value=metric.value)

    return text


def nclg_text(metric: Metric, resource: Resource) -> str:
    # each loaded catalog holds a file descriptor: too many of them starve the client
    assert isinstance(resource, CvmfsClient)
    repository = repository_of(metric)
    numbers = resource.numbers[repository]
    return (
        f"{repository} has {numbers['nclg']} catalogs loaded, "
        f"{metric.value:.1f}% of maxfd {numbers['maxfd']}"
    )


def attribute_problem(metric: Metric) -> str:
    problem: AttributeProblem = metric.value
    return f"{problem.repository} attribute user.{problem.attribute}: {problem.problem}"


def attributes(metric: Metric) -> str:
    """What an admin wants to see (server, proxy, client version), not judged."""
    details: dict[str, str] = metric.value
    shown = ", ".join(f"{name} {value}" for name, value in details.items())
    return f"{repository_of(metric)} attributes: {shown or 'none'}"


class CachePlaceContext(nagiosplugin.Context):
    """The cache belongs on scratch: the root filesystem is a slow, small overlay."""

    def __init__(self) -> None:
        super().__init__("cache_place")

    def evaluate(self, metric: Metric, resource: Resource) -> Result:
        place: CachePlace = metric.value
        setting = place.setting
        quota = "unlimited" if setting.quota_mb in (None, -1) else f"{setting.quota_mb} MB"
        text = (
            f"{place.repository} cache {setting.base} (quota {quota}) on a partition of "
            f"{place.partition.size_bytes / 1e9:.1f} GB"
        )
        if not place.exists:
            text += f", not created yet (measured at {place.partition.measured})"
        if place.scratch is not None and not place.on_scratch:
            return self.result_cls(Warn, f"{text}, not on scratch {place.scratch}", metric)
        return self.result_cls(Ok, text, metric)


class CvmfsSummary(ProbeSummary):
    def ok(self, results: Results) -> str:
        revisions = {
            repository_of(r.metric): r.metric.value
            for r in results
            if r.metric is not None and r.metric.context == "revision"
        }
        checked = [
            r.metric.name
            for r in results
            if r.metric is not None
            and r.metric.context == "repository"
            and r.metric.value.mount is not None
        ]
        shown = ", ".join(
            f"{name} r{revisions[name]}" if name in revisions else name for name in checked
        )
        return f"{plural(len(checked), 'repository', 'repositories')} mounted and healthy: {shown}"


def contexts(limits: Limits) -> list[nagiosplugin.Context]:
    def threshold(option: str, template: str, perfdata: bool, name: str = "") -> Threshold:
        warning, critical = limits[option]
        return Threshold(name or option, warning, critical, text=said(template), perfdata=perfdata)

    nclg_warning, nclg_critical = limits["nclg"]
    return [
        RepositoryContext(),
        hung(),
        cannot_tell(),
        threshold("revision", "{repository} revision {value}", perfdata=True),
        threshold("nioerr", "{repository} had {value} I/O errors since mount", perfdata=True),
        threshold("fd", "{repository} uses {value}% of its file descriptors", perfdata=True),
        threshold(
            "ncleanup24", "{repository} cleaned its cache {value} times in 24 h", perfdata=False
        ),
        threshold(
            "expires", "{repository} root catalog expires in {value} minutes", perfdata=False
        ),
        threshold(
            "cache", "{repository} cache partition {value}% full", perfdata=True, name="cache_fill"
        ),
        Threshold("nclg", nclg_warning, nclg_critical, text=nclg_text, perfdata=False),
        Fixed("attribute_problem", Warn, attribute_problem),
        Fixed("attributes", Ok, attributes),
        Fixed(
            "cache_unconfigured",
            Ok,
            lambda m: f"{repository_of(m)} has no CVMFS_CACHE_BASE configured, cache check skipped",
        ),
        Fixed(
            "config_problem",
            Warn,
            lambda m: f"cvmfs client configuration {m.value}: cache not checked",
        ),
        CachePlaceContext(),
    ]
