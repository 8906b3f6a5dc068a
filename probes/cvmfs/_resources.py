"""Measuring: every repository and its cache, in parallel child processes, as metrics."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import nagiosplugin
from nagiosplugin import Metric

from probes._common.contexts import Stalled, Unreadable
from probes._cvmfs_config import CacheSetting, ClientConfig
from probes._isolated import Child, Outcome
from probes._system import Mount, mount_at, normalise, read_mounts
from probes.cvmfs._measure import (
    ATTRIBUTES,
    NUMERIC_ATTRIBUTES,
    inspect_repository,
    measure_partition,
)
from probes.cvmfs._repositories import Repository
from vmsam.shared.deadline import Deadline

# what a client mounted with a fixed root hash answers for user.expires
NEVER_EXPIRES = "never"


@dataclass(frozen=True)
class Inspection:
    entries: int
    attributes: dict[str, str]
    missing: dict[str, str]


@dataclass(frozen=True)
class Access:
    """Whether a repository is mounted and could be listed."""

    repository: Repository
    path: str
    mount: Mount | None
    failure: str | None = None
    inspection: Inspection | None = None


@dataclass(frozen=True)
class AttributeProblem:
    repository: str
    attribute: str
    problem: str


@dataclass(frozen=True)
class Partition:
    """The partition holding the cache; ``measured`` is the nearest existing directory."""

    measured: str
    used_pct: float
    size_bytes: int


@dataclass(frozen=True)
class CachePlace:
    repository: str
    setting: CacheSetting
    partition: Partition
    scratch: str | None

    @property
    def on_scratch(self) -> bool:
        scratch = self.scratch or ""
        return self.setting.base == scratch or self.setting.base.startswith(
            scratch.rstrip("/") + "/"
        )

    @property
    def exists(self) -> bool:
        return self.partition.measured == self.setting.base


class CvmfsClient(nagiosplugin.Resource):
    """Measures every repository and its cache in parallel within one deadline."""

    def __init__(
        self,
        *,
        cvmfs_root: str,
        repositories: list[Repository],
        mounts_file: str,
        config: ClientConfig,
        scratch: str | None,
        deadline: Deadline,
    ) -> None:
        self.cvmfs_root = cvmfs_root
        self.repositories = repositories
        self.mounts_file = mounts_file
        self.config = config
        self.scratch = scratch
        self.deadline = deadline
        # the numeric attributes per repository, for contexts that say more than one of them
        self.numbers: dict[str, dict[str, int]] = {}

    @property
    def name(self) -> str:
        return "cvmfs"

    def path(self, repository: Repository) -> str:
        return normalise(os.path.join(self.cvmfs_root, repository.name))

    def probe(self) -> Iterator[Metric]:
        inspecting = {r.name: Child(inspect_repository, self.path(r)) for r in self.repositories}
        config_problem = self.config.problem()
        settings = {
            r.name: None if config_problem else self.config.cache(r.name) for r in self.repositories
        }
        # several repositories usually share one cache: measured once, judged for each
        measuring = {
            setting.base: Child(measure_partition, setting.base)
            for setting in settings.values()
            if setting is not None
        }
        inspected = {name: child.outcome(self.deadline) for name, child in inspecting.items()}
        measured = {base: child.outcome(self.deadline) for base, child in measuring.items()}
        # read after the repositories were touched: an automounter mounts them on access
        mounts = read_mounts(self.mounts_file)
        for repository in self.repositories:
            name = repository.name
            outcome = inspected[name]
            if outcome.hung is not None:
                step = "reading attributes" if outcome.records else "listing"
                yield Metric(name, Stalled(f"{name} {step}", outcome.problem()), context="hung")
                continue
            access = self._access(repository, mounts, outcome)
            yield Metric(name, access, context="repository")
            if access.mount is None or access.inspection is None:
                continue
            yield from self._attribute_metrics(name, access.inspection)
            setting = settings[name]
            if config_problem is not None:
                continue
            if setting is None:
                yield Metric(f"{name}_cache", None, context="cache_unconfigured")
            else:
                yield from self._cache_metrics(name, setting, measured[setting.base])
        if config_problem is not None:
            yield Metric("cvmfs_config", config_problem, context="config_problem")

    def _access(self, repository: Repository, mounts: list[Mount], outcome: Outcome) -> Access:
        path = self.path(repository)
        mount = mount_at(path, mounts)
        if isinstance(outcome.error, FileNotFoundError):
            return Access(repository, path, mount, failure="no such directory")
        if not outcome.complete or len(outcome.records) < 2:
            return Access(repository, path, mount, failure=outcome.problem())
        inspection = Inspection(int(outcome.records[0]["entries"]), **outcome.records[1])
        return Access(repository, path, mount, inspection=inspection)

    def _cache_metrics(
        self, repository: str, setting: CacheSetting, outcome: Outcome
    ) -> Iterator[Metric]:
        name = f"{repository}_cache"
        what = f"{repository} cache partition {setting.base}"
        if outcome.hung is not None:
            yield Metric(name, Stalled(what, outcome.problem()), context="hung")
            return
        if not outcome.complete or not outcome.records:
            yield Metric(name, Unreadable(what, outcome.problem()), context="unreadable")
            return
        partition = Partition(**outcome.records[-1])
        yield Metric(name, partition.used_pct, "%", min=0, max=100, context="cache_fill")
        place = CachePlace(repository, setting, partition, self.scratch)
        yield Metric(f"{repository}_cache_place", place, context="cache_place")

    def _attribute_metrics(self, repository: str, inspection: Inspection) -> Iterator[Metric]:
        """Metrics from the ``user.*`` attributes; a missing or garbled one is its own."""
        numbers: dict[str, int] = {}
        problems = dict(inspection.missing)
        for name in NUMERIC_ATTRIBUTES:
            text = inspection.attributes.get(name)
            if text is None or (name == "expires" and text.startswith(NEVER_EXPIRES)):
                continue
            try:
                numbers[name] = int(text)
            except ValueError:
                problems[name] = f"not a number: {text!r}"
        self.numbers[repository] = numbers
        for name, problem in problems.items():
            yield Metric(
                f"{repository}_{name}",
                AttributeProblem(repository, name, problem),
                context="attribute_problem",
            )
        if "revision" in numbers:
            yield Metric(f"{repository}_revision", numbers["revision"], context="revision")
        if "nioerr" in numbers:
            yield Metric(f"{repository}_nioerr", numbers["nioerr"], "c", min=0, context="nioerr")
        if "ncleanup24" in numbers:
            yield Metric(f"{repository}_ncleanup24", numbers["ncleanup24"], context="ncleanup24")
        if "expires" in numbers:
            yield Metric(f"{repository}_expires", numbers["expires"], context="expires")
        maxfd = numbers.get("maxfd")
        if maxfd is not None and maxfd > 0:
            if "usedfd" in numbers:
                fd_pct = round(100.0 * numbers["usedfd"] / maxfd, 1)
                yield Metric(f"{repository}_fd", fd_pct, "%", min=0, max=100, context="fd")
            if "nclg" in numbers:
                # unrounded: judged as exactly as "nclg * factor > maxfd" was
                nclg_pct = 100.0 * numbers["nclg"] / maxfd
                yield Metric(f"{repository}_nclg", nclg_pct, "%", context="nclg")
        details = {
            name: inspection.attributes[name]
            for name in ATTRIBUTES
            if name in inspection.attributes and name not in problems
        }
        yield Metric(f"{repository}_attributes", details, context="attributes")
