"""Measuring scratch: one inspection shared by the resources, each part a metric."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import nagiosplugin
from nagiosplugin import Metric

from probes._common.contexts import Stalled, Unreadable
from probes._cvmfs_config import ClientConfig
from probes._isolated import Child
from probes._plugin import Hung, Pending, reason
from probes._system import Mount, mount_at, mount_containing, normalise, read_mounts, read_swaps
from probes.scratch._measure import Inspection, device, inspect_scratch, write_test
from vmsam.shared.deadline import Deadline
from vmsam.vm.mjf import Features, MJFError

MJF_LIMIT_KEY = "scratch_limit_bytes"


def inside(path: str, directory: str) -> bool:
    """Whether ``path`` is ``directory`` or below it, by the strings alone."""
    path, directory = normalise(path), normalise(directory)
    return path == directory or path.startswith(directory.rstrip("/") + "/")


@dataclass(frozen=True)
class Skipped:
    """A part not checked because the scratch directory itself is unusable."""

    what: str


@dataclass(frozen=True)
class Presence:
    path: str
    problem: str | None


@dataclass(frozen=True)
class Placement:
    path: str
    root_path: str
    mount: Mount | None
    holder: Mount | None  # the mount the path is on when it is not a mount point itself
    own_device: bool


@dataclass(frozen=True)
class Permissions:
    path: str
    mode: int
    tmp_mode: int | None
    tmp_kind: str | None


@dataclass(frozen=True)
class WriteFailure:
    megabytes: int
    problem: str


@dataclass(frozen=True)
class CacheLocation:
    base: str | None
    on_scratch: bool


@dataclass(frozen=True)
class SwapFiles:
    on_scratch: list[str]
    elsewhere: list[str]


class ScratchInspector:
    """Inspects the scratch directory once, within the deadline, for all resources."""

    def __init__(self, path: str, root_path: str, deadline: Deadline) -> None:
        self.path = path
        self.root_path = root_path
        self.deadline = deadline
        self._answer: Inspection | Presence | Stalled | None = None

    def answer(self) -> Inspection | Presence | Stalled:
        """The inspection, or why there is none (missing, hung, ...)."""
        if self._answer is None:
            outcome = Child(inspect_scratch, self.path, self.root_path).outcome(self.deadline)
            error = outcome.error
            if outcome.complete and outcome.records:
                self._answer = Inspection(**outcome.records[0])
            elif isinstance(error, FileNotFoundError) and error.filename == self.path:
                self._answer = Presence(self.path, f"{self.path} does not exist")
            elif error is not None:
                self._answer = Presence(self.path, reason(error))
            elif outcome.hung is not None:
                self._answer = Stalled(self.path, outcome.problem())
            else:
                self._answer = Presence(self.path, outcome.problem())
        return self._answer

    def inspection(self) -> Inspection | None:
        answer = self.answer()
        return answer if isinstance(answer, Inspection) else None

    def devices(self, paths: Sequence[str]) -> dict[str, int | None]:
        """Each path's device; None when it does not exist or does not answer in time."""
        children = [(path, Child(device, path)) for path in paths]
        devices: dict[str, int | None] = {}
        for path, child in children:
            outcome = child.outcome(self.deadline)
            devices[path] = outcome.records[0]["device"] if outcome.complete else None
        return devices

    def holds(self, path: str, device: int | None, scratch: Inspection) -> bool:
        """Whether ``path`` is on the scratch filesystem (by its name, or by its device)."""
        if inside(path, self.path) or inside(path, scratch.realpath):
            return True
        return scratch.own_device and device == scratch.device


def _limit(features: Features) -> int | str:
    """MJF's scratch limit in bytes, or why there is none."""
    if features.job is None:
        return "no jobfeatures found"
    value = features.job.get(MJF_LIMIT_KEY)
    if value is None:
        return f"no {MJF_LIMIT_KEY} in {features.job.location}"
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if limit <= 0:
        return f"{MJF_LIMIT_KEY} {value!r} is not a positive integer"
    return limit


class ScratchDirectory(nagiosplugin.Resource):
    """Existence, placement, free space and inodes, permissions of scratch."""

    def __init__(self, inspector: ScratchInspector, mounts_file: str) -> None:
        self.inspector = inspector
        self.mounts_file = mounts_file

    @property
    def name(self) -> str:
        return "scratch"

    def probe(self) -> Iterator[Metric]:
        path = self.inspector.path
        answer = self.inspector.answer()
        if isinstance(answer, Stalled):
            yield Metric("scratch", answer, context="hung")
            return
        if isinstance(answer, Presence):
            yield Metric("scratch", answer)
            return
        yield Metric("scratch", Presence(path, None))
        yield from self._placement(answer)
        for name, available, total in (
            ("free", answer.avail_bytes, answer.total_bytes),
            ("inodes_free", answer.avail_inodes, answer.total_inodes),
        ):
            if total == 0:
                yield Metric(name, None, context="unlimited")
            else:
                percent = 100.0 * available / total
                yield Metric(name, percent, "%", min=0, max=100, context=name)
        yield Metric(
            "permissions", Permissions(path, answer.mode, answer.tmp_mode, answer.tmp_kind)
        )

    def _placement(self, scratch: Inspection) -> Iterator[Metric]:
        try:
            mounts = read_mounts(self.mounts_file)
        except OSError as exc:
            yield Metric(
                "filesystem", Unreadable("mounts table", reason(exc)), context="unreadable"
            )
            return
        path = self.inspector.path
        mount = mount_at(path, mounts) or mount_at(scratch.realpath, mounts)
        placement = Placement(
            path,
            self.inspector.root_path,
            mount,
            mount_containing(scratch.realpath, mounts),
            scratch.own_device,
        )
        yield Metric("filesystem", placement)


class ScratchSize(nagiosplugin.Resource):
    """Total size, and MJF's scratch_limit_bytes unless a size range is given. Measured
    last: waiting for a slow MJF server then costs the other parts none of their time."""

    def __init__(
        self,
        inspector: ScratchInspector,
        locate: Callable[[], Features] | None,
        deadline: Deadline,
    ) -> None:
        self.inspector = inspector
        self.deadline = deadline
        # started at once so the MJF lookup runs while scratch is inspected
        self._lookup = None if locate is None else Pending(lambda: _limit(locate()))
        self.limit: int | str = "not asked"  # the MJF limit in bytes, or why there is none

    @property
    def name(self) -> str:
        return "size"

    def probe(self) -> Metric:
        scratch = self.inspector.inspection()
        if scratch is None:
            return Metric("size", Skipped("size"), context="skipped")
        if self._lookup is not None:
            try:
                self.limit = self._lookup.result(self.deadline)
            except (MJFError, Hung, OSError) as exc:
                self.limit = f"MJF unavailable: {reason(exc)}"
        return Metric("size", scratch.total_bytes, "B", min=0)


class WriteTest(nagiosplugin.Resource):
    def __init__(self, inspector: ScratchInspector, megabytes: int) -> None:
        self.inspector = inspector
        self.megabytes = megabytes

    @property
    def name(self) -> str:
        return "write"

    def probe(self) -> Metric:
        if self.inspector.inspection() is None:
            return Metric("write", Skipped("write test"), context="skipped")
        child = Child(write_test, self.inspector.path, str(self.megabytes))
        outcome = child.outcome(self.inspector.deadline)
        if outcome.error is not None:
            problem = reason(outcome.error)
        elif not outcome.complete or not outcome.records:
            problem = outcome.problem()
        elif "speed" in outcome.records[0]:
            # unitless with the unit in the label: MB/s is no perfdata unit
            return Metric("write_MBps", outcome.records[0]["speed"], min=0, context="write")
        else:
            problem = outcome.records[0]["problem"]
        return Metric("write", WriteFailure(self.megabytes, problem), context="write_failed")


class CvmfsCache(nagiosplugin.Resource):
    """Where the cvmfs client configuration puts the cache, and whether that is on scratch."""

    def __init__(self, inspector: ScratchInspector, config: ClientConfig) -> None:
        self.inspector = inspector
        self.config = config

    @property
    def name(self) -> str:
        return "cvmfs_cache"

    def probe(self) -> Metric:
        scratch = self.inspector.inspection()
        if scratch is None:
            return Metric("cvmfs_cache", Skipped("cvmfs cache location"), context="skipped")
        problem = self.config.problem()
        if problem is not None:
            return Metric("cvmfs_cache", problem, context="config_problem")
        try:
            # what applies to every repository: config.d is the cvmfs probe's business
            setting = self.config.cache()
        except OSError as exc:
            unreadable = Unreadable("cvmfs client configuration", reason(exc))
            return Metric("cvmfs_cache", unreadable, context="unreadable")
        if setting is None:
            return Metric("cvmfs_cache", CacheLocation(None, on_scratch=False))
        base = setting.base
        on_scratch = self.inspector.holds(base, self.inspector.devices([base])[base], scratch)
        return Metric("cvmfs_cache", CacheLocation(base, on_scratch))


class ScratchSwap(nagiosplugin.Resource):
    """Which swap files from the swaps table are on scratch."""

    def __init__(self, inspector: ScratchInspector, swaps_file: str) -> None:
        self.inspector = inspector
        self.swaps_file = swaps_file

    @property
    def name(self) -> str:
        return "swap"

    def probe(self) -> Metric:
        scratch = self.inspector.inspection()
        if scratch is None:
            return Metric("swap", Skipped("swap"), context="skipped")
        try:
            swaps = read_swaps(self.swaps_file)
        except (OSError, ValueError) as exc:
            return Metric("swap", Unreadable("swaps table", reason(exc)), context="unreadable")
        files = [swap.filename for swap in swaps if swap.kind == "file"]
        devices = self.inspector.devices(files)
        on_scratch = [f for f in files if self.inspector.holds(f, devices[f], scratch)]
        elsewhere = [swap.filename for swap in swaps if swap.filename not in on_scratch]
        return Metric("swap", SwapFiles(on_scratch, elsewhere))
