"""check_wn_scratch: is the scratch partition there, its own, big enough, free and writable?

Jobs on a pilot VM put their work, the cvmfs cache and swap on ``/scratch``, a partition of
its own from the hypervisor; the root filesystem is a slow copy-on-write overlay. What is
judged, and how hard, is decided in PROBES.md (check_wn_scratch).

Everything that touches the scratch filesystem (stat, statvfs, the write test, the
devices of the cvmfs cache and swap files) runs in child processes (probes._isolated): a
hung scratch is reported as broken, not waited for.
"""

from __future__ import annotations

import argparse
import errno
import os
import stat
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NoReturn

import nagiosplugin
from nagiosplugin.state import Critical, Ok, ServiceState, Unknown, Warn

from probes._cvmfs_config import DEFAULT_CONFIG_DIR, ClientConfig
from probes._isolated import Child, Record
from probes._mjf_options import add_mjf_arguments, discover_features
from probes._plugin import (
    PART_SHARE,
    Deadline,
    Hung,
    Pending,
    ProbeArgumentParser,
    one_line,
    reason,
    run,
)
from probes._system import (
    DEFAULT_MOUNTS_FILE,
    DEFAULT_SWAPS_FILE,
    Mount,
    mount_at,
    mount_containing,
    normalise,
    read_mounts,
    read_swaps,
)
from vmsam.vm.mjf import Features, MJFError

SERVICE = "WN-SCRATCH"
GB = 10**9
MB = 10**6
DEFAULT_MIN_SIZE_GB = 40.0
WANTED_MODE = 0o1777
MJF_LIMIT_KEY = "scratch_limit_bytes"
MJF_TIMEOUT = 5.0


def human_bytes(count: int) -> str:
    if count >= GB:
        return f"{count / GB:.1f} GB"
    return f"{count / MB:.1f} MB"


def inside(path: str, directory: str) -> bool:
    """Whether ``path`` is ``directory`` or below it, by the strings alone."""
    path, directory = normalise(path), normalise(directory)
    return path == directory or path.startswith(directory.rstrip("/") + "/")


# --- measurements, in child processes (probes._isolated) ----------------------------------


@dataclass(frozen=True)
class Inspection:
    """What stat and statvfs say about the scratch directory."""

    realpath: str
    device: int
    root_device: int
    mode: int
    tmp_mode: int | None
    tmp_kind: str | None  # why tmp does not count as a directory: "missing", "a symlink", ...
    total_bytes: int
    avail_bytes: int
    total_inodes: int
    avail_inodes: int

    @property
    def own_device(self) -> bool:
        return self.device != self.root_device


def inspect_scratch(path: str, root_path: str) -> Iterator[Record]:
    info = os.stat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise NotADirectoryError(errno.ENOTDIR, "not a directory", path)
    vfs = os.statvfs(path)
    tmp_mode: int | None = None
    tmp_kind: str | None = None
    try:
        tmp = os.lstat(os.path.join(path, "tmp"))
    except FileNotFoundError:
        tmp_kind = "missing"
    else:
        if stat.S_ISLNK(tmp.st_mode):
            tmp_kind = "a symlink, not a directory"
        elif not stat.S_ISDIR(tmp.st_mode):
            tmp_kind = "not a directory"
        else:
            tmp_mode = stat.S_IMODE(tmp.st_mode)
    yield asdict(
        Inspection(
            realpath=os.path.realpath(path),
            device=info.st_dev,
            root_device=os.stat(root_path).st_dev,
            mode=stat.S_IMODE(info.st_mode),
            tmp_mode=tmp_mode,
            tmp_kind=tmp_kind,
            total_bytes=vfs.f_blocks * vfs.f_frsize,
            # f_bavail, not f_bfree: jobs do not run as root and cannot use the reserved blocks
            avail_bytes=vfs.f_bavail * vfs.f_frsize,
            total_inodes=vfs.f_files,
            avail_inodes=vfs.f_favail,
        )
    )


def write_test(directory: str, megabytes: str) -> Iterator[Record]:
    """Write ``megabytes`` MB with fsync, read them back and compare: the write speed in MB/s,
    or what was read back wrong.

    The test file is removed whatever happens (unless the filesystem hangs under it).
    """
    count = int(megabytes)
    block = os.urandom(MB)

    def numbered(index: int) -> bytes:
        # a block misplaced by the filesystem must not compare equal to the right one
        return index.to_bytes(8, "big") + block[8:]

    handle, name = tempfile.mkstemp(prefix=".check_wn_scratch-", dir=directory)
    try:
        started = time.monotonic()
        with os.fdopen(handle, "wb") as out:
            for index in range(count):
                out.write(numbered(index))
            out.flush()
            os.fsync(out.fileno())
            elapsed = time.monotonic() - started
            # drop the cached pages so that the read-back comes from the device
            os.posix_fadvise(out.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        with open(name, "rb") as back:
            wrong = next((i for i in range(count) if back.read(MB) != numbered(i)), None)
            longer = wrong is None and back.read(1) != b""
    finally:
        os.unlink(name)
    if wrong is not None:
        yield {"problem": f"MB {wrong + 1} read back differs from what was written"}
    elif longer:
        yield {"problem": "file read back is longer than what was written"}
    else:
        yield {"speed": count / max(elapsed, 1e-6)}


def device(path: str) -> Iterator[Record]:
    yield {"device": os.stat(path).st_dev}


# --- metric values ------------------------------------------------------------------------


@dataclass(frozen=True)
class Unreadable:
    """A table or configuration the probe needed could not be read: it cannot tell."""

    what: str
    why: str


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
class Minimum:
    size: int
    source: str


@dataclass(frozen=True)
class Size:
    total: int
    minimum: Minimum


@dataclass(frozen=True)
class Free:
    what: str  # "space" or "inodes"
    available: int
    total: int

    @property
    def percent(self) -> float:
        return 100.0 * self.available / self.total


@dataclass(frozen=True)
class Permissions:
    path: str
    mode: int
    tmp_mode: int | None
    tmp_kind: str | None


@dataclass(frozen=True)
class WriteResult:
    megabytes: int
    speed: float | None
    problem: str | None


@dataclass(frozen=True)
class CacheLocation:
    base: str | None
    on_scratch: bool


@dataclass(frozen=True)
class SwapFiles:
    on_scratch: list[str]
    elsewhere: list[str]


# --- resources: measuring -----------------------------------------------------------------


class ScratchInspector:
    """Inspects the scratch directory once, within the deadline, for all resources."""

    def __init__(self, path: str, root_path: str, deadline: Deadline) -> None:
        self.path = path
        self.root_path = root_path
        self.deadline = deadline
        self._answer: Inspection | str | None = None

    def answer(self) -> Inspection | str:
        """The inspection, or why there is none (missing, hung, ...)."""
        if self._answer is None:
            outcome = Child(inspect_scratch, self.path, self.root_path).outcome(self.deadline)
            error = outcome.error
            if outcome.complete and outcome.records:
                self._answer = Inspection(**outcome.records[0])
            elif isinstance(error, FileNotFoundError) and error.filename == self.path:
                self._answer = f"{self.path} does not exist"
            elif error is not None:
                self._answer = reason(error)
            elif outcome.hung is not None:
                self._answer = f"{self.path} {outcome.hung}"
            else:
                self._answer = outcome.problem()
        return self._answer

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


class MinimumSize:
    """The least total size scratch must have: the option, else MJF's scratch_limit_bytes,
    else 40 GB. MJF being unavailable is normal on a VM and only changes the source."""

    def __init__(
        self, option_gb: float | None, locate: Callable[[], Features], deadline: Deadline
    ) -> None:
        self.option_gb = option_gb
        self.deadline = deadline
        # started at once so the MJF lookup runs while scratch is inspected
        self._lookup = None if option_gb is not None else Pending(lambda: _limit(locate()))

    def resolve(self) -> Minimum:
        if self.option_gb is not None:
            return Minimum(round(self.option_gb * GB), "--min-size-gb")
        default = round(DEFAULT_MIN_SIZE_GB * GB)
        assert self._lookup is not None
        try:
            limit = self._lookup.result(self.deadline)
        except (MJFError, Hung, OSError) as exc:
            return Minimum(default, f"default, MJF unavailable: {reason(exc)}")
        if isinstance(limit, int):
            return Minimum(limit, f"MJF {MJF_LIMIT_KEY}")
        return Minimum(default, f"default, {limit}")


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


class ScratchDirectory(nagiosplugin.Resource):  # type: ignore[misc]
    """Existence, placement, free space and inodes, permissions of scratch."""

    def __init__(self, inspector: ScratchInspector, mounts_file: str) -> None:
        self.inspector = inspector
        self.mounts_file = mounts_file

    @property
    def name(self) -> str:
        return "scratch"

    def probe(self) -> Iterator[nagiosplugin.Metric]:
        path = self.inspector.path
        answer = self.inspector.answer()
        if isinstance(answer, str):
            yield nagiosplugin.Metric("scratch", Presence(path, answer))
            return
        yield nagiosplugin.Metric("scratch", Presence(path, None))
        yield nagiosplugin.Metric("filesystem", self._placement(answer))
        yield nagiosplugin.Metric(
            "free", Free("space", answer.avail_bytes, answer.total_bytes), context="free"
        )
        yield nagiosplugin.Metric(
            "inodes_free", Free("inodes", answer.avail_inodes, answer.total_inodes), context="free"
        )
        yield nagiosplugin.Metric(
            "permissions", Permissions(path, answer.mode, answer.tmp_mode, answer.tmp_kind)
        )

    def _placement(self, scratch: Inspection) -> Placement | Unreadable:
        try:
            mounts = read_mounts(self.mounts_file)
        except OSError as exc:
            return Unreadable("mounts table", reason(exc))
        path = self.inspector.path
        mount = mount_at(path, mounts) or mount_at(scratch.realpath, mounts)
        return Placement(
            path,
            self.inspector.root_path,
            mount,
            mount_containing(scratch.realpath, mounts),
            scratch.own_device,
        )


class ScratchSize(nagiosplugin.Resource):  # type: ignore[misc]
    """Total size against the minimum. Measured last: waiting for a slow MJF server then
    costs the other parts none of their time."""

    def __init__(self, inspector: ScratchInspector, minimum: MinimumSize) -> None:
        self.inspector = inspector
        self.minimum = minimum

    @property
    def name(self) -> str:
        return "size"

    def probe(self) -> nagiosplugin.Metric:
        answer = self.inspector.answer()
        if isinstance(answer, str):
            return nagiosplugin.Metric("size", Skipped("size"))
        return nagiosplugin.Metric("size", Size(answer.total_bytes, self.minimum.resolve()))


class WriteTest(nagiosplugin.Resource):  # type: ignore[misc]
    def __init__(self, inspector: ScratchInspector, megabytes: int) -> None:
        self.inspector = inspector
        self.megabytes = megabytes

    @property
    def name(self) -> str:
        return "write"

    def probe(self) -> nagiosplugin.Metric:
        if isinstance(self.inspector.answer(), str):
            return nagiosplugin.Metric("write", Skipped("write test"))
        child = Child(write_test, self.inspector.path, str(self.megabytes))
        outcome = child.outcome(self.inspector.deadline)
        if outcome.error is not None:
            problem = reason(outcome.error)
        elif not outcome.complete or not outcome.records:
            problem = outcome.problem()
        else:
            record = outcome.records[0]
            return nagiosplugin.Metric(
                "write", WriteResult(self.megabytes, record.get("speed"), record.get("problem"))
            )
        return nagiosplugin.Metric("write", WriteResult(self.megabytes, None, problem))


class CvmfsCache(nagiosplugin.Resource):  # type: ignore[misc]
    """Where the cvmfs client configuration puts the cache, and whether that is on scratch."""

    def __init__(self, inspector: ScratchInspector, config: ClientConfig) -> None:
        self.inspector = inspector
        self.config = config

    @property
    def name(self) -> str:
        return "cvmfs_cache"

    def probe(self) -> nagiosplugin.Metric:
        scratch = self.inspector.answer()
        if isinstance(scratch, str):
            return nagiosplugin.Metric("cvmfs_cache", Skipped("cvmfs cache location"))
        try:
            # what applies to every repository: config.d is the cvmfs probe's business
            setting = self.config.cache()
        except OSError as exc:
            return nagiosplugin.Metric(
                "cvmfs_cache", Unreadable("cvmfs client configuration", reason(exc))
            )
        if setting is None:
            return nagiosplugin.Metric("cvmfs_cache", CacheLocation(None, on_scratch=False))
        base = setting.base
        on_scratch = self.inspector.holds(base, self.inspector.devices([base])[base], scratch)
        return nagiosplugin.Metric("cvmfs_cache", CacheLocation(base, on_scratch))


class ScratchSwap(nagiosplugin.Resource):  # type: ignore[misc]
    """Which swap files from the swaps table are on scratch."""

    def __init__(self, inspector: ScratchInspector, swaps_file: str) -> None:
        self.inspector = inspector
        self.swaps_file = swaps_file

    @property
    def name(self) -> str:
        return "swap"

    def probe(self) -> nagiosplugin.Metric:
        scratch = self.inspector.answer()
        if isinstance(scratch, str):
            return nagiosplugin.Metric("swap", Skipped("swap"))
        try:
            swaps = read_swaps(self.swaps_file)
        except (OSError, ValueError) as exc:
            return nagiosplugin.Metric("swap", Unreadable("swaps table", reason(exc)))
        files = [swap.filename for swap in swaps if swap.kind == "file"]
        devices = self.inspector.devices(files)
        on_scratch = [f for f in files if self.inspector.holds(f, devices[f], scratch)]
        elsewhere = [swap.filename for swap in swaps if swap.filename not in on_scratch]
        return nagiosplugin.Metric("swap", SwapFiles(on_scratch, elsewhere))


# --- contexts: judging --------------------------------------------------------------------


class Judge(nagiosplugin.Context):  # type: ignore[misc]
    """A context whose parts the probe may fail to measure (UNKNOWN) or skip (said, OK)."""

    def evaluate(self, metric: nagiosplugin.Metric, resource: object) -> nagiosplugin.Result:
        value = metric.value
        if isinstance(value, Unreadable):
            return nagiosplugin.Result(
                Unknown, f"cannot tell: {value.what} unreadable: {value.why}", metric
            )
        if isinstance(value, Skipped):
            return nagiosplugin.Result(Ok, f"{value.what} not checked: no usable scratch", metric)
        state, hint = self.judge(value)
        return nagiosplugin.Result(state, hint, metric)

    def judge(self, value: object) -> tuple[ServiceState, str]:
        raise NotImplementedError


class PresenceContext(Judge):
    def judge(self, value: object) -> tuple[ServiceState, str]:
        assert isinstance(value, Presence)
        if value.problem:
            return Critical, value.problem
        return Ok, f"{value.path} is a directory"


class PlacementContext(Judge):
    """A scratch on the root overlay is too slow for jobs: CRITICAL."""

    def judge(self, value: object) -> tuple[ServiceState, str]:
        assert isinstance(value, Placement)
        if value.mount is None:
            where = f" (it is on {value.holder.mountpoint})" if value.holder else ""
            return Critical, f"{value.path} is not a mount point{where}"
        if not value.own_device:
            return Critical, f"{value.path} has the same device as {value.root_path}"
        mount = value.mount
        return Ok, f"{value.path} is its own filesystem: {mount.fstype} on {mount.device}"


class SizeContext(Judge):
    def judge(self, value: object) -> tuple[ServiceState, str]:
        assert isinstance(value, Size)
        text = (
            f"size {human_bytes(value.total)}, at least {human_bytes(value.minimum.size)} "
            f"required ({value.minimum.source})"
        )
        if value.total < value.minimum.size:
            return Critical, f"too small: {text}"
        return Ok, text

    def performance(
        self, metric: nagiosplugin.Metric, resource: object
    ) -> nagiosplugin.Performance | None:
        value = metric.value
        if not isinstance(value, Size):
            return None
        return nagiosplugin.Performance(
            "size", value.total, "B", crit=f"{value.minimum.size}:", min=0
        )


class FreeContext(Judge):
    """Free space and free inodes, in percent of the total, against the same thresholds."""

    def __init__(self, name: str, warn_pct: float, crit_pct: float) -> None:
        super().__init__(name)
        self.warn_pct = warn_pct
        self.crit_pct = crit_pct

    def judge(self, value: object) -> tuple[ServiceState, str]:
        assert isinstance(value, Free)
        if value.total == 0:
            return Ok, f"no fixed number of {value.what} (nothing to run out of)"
        amount = (
            f"{human_bytes(value.available)} of {human_bytes(value.total)}"
            if value.what == "space"
            else f"{value.available} of {value.total}"
        )
        text = f"free {value.what} {value.percent:.1f}% ({amount})"
        if value.percent < self.crit_pct:
            return Critical, f"{text}, below {self.crit_pct:g}%"
        if value.percent < self.warn_pct:
            return Warn, f"{text}, below {self.warn_pct:g}%"
        return Ok, text

    def performance(
        self, metric: nagiosplugin.Metric, resource: object
    ) -> nagiosplugin.Performance | None:
        value = metric.value
        if not isinstance(value, Free) or value.total == 0:
            return None
        return nagiosplugin.Performance(
            metric.name,
            round(value.percent, 2),
            "%",
            warn=f"{self.warn_pct:g}:",
            crit=f"{self.crit_pct:g}:",
            min=0,
            max=100,
        )


class PermissionsContext(Judge):
    """Jobs of several users share scratch and scratch/tmp: both must be 1777."""

    def judge(self, value: object) -> tuple[ServiceState, str]:
        assert isinstance(value, Permissions)
        tmp = os.path.join(value.path, "tmp")
        problems = []
        if value.mode != WANTED_MODE:
            problems.append(f"{value.path} has mode {value.mode:04o}, not {WANTED_MODE:04o}")
        if value.tmp_kind is not None:
            problems.append(f"{tmp} is {value.tmp_kind}")
        elif value.tmp_mode != WANTED_MODE:
            problems.append(f"{tmp} has mode {value.tmp_mode:04o}, not {WANTED_MODE:04o}")
        if problems:
            return Warn, "; ".join(problems)
        return Ok, f"{value.path} and {tmp} have mode {WANTED_MODE:04o}"


class WriteContext(Judge):
    def judge(self, value: object) -> tuple[ServiceState, str]:
        assert isinstance(value, WriteResult)
        if value.problem is not None:
            return Critical, f"write test of {value.megabytes} MB failed: {value.problem}"
        return Ok, f"wrote, synced and read back {value.megabytes} MB at {value.speed:.1f} MB/s"

    def performance(
        self, metric: nagiosplugin.Metric, resource: object
    ) -> nagiosplugin.Performance | None:
        value = metric.value
        if not isinstance(value, WriteResult) or value.speed is None:
            return None
        return nagiosplugin.Performance("write_MBps", round(value.speed, 1), min=0)


class CacheContext(Judge):
    def __init__(self, name: str, scratch: str, config_dir: str) -> None:
        super().__init__(name)
        self.scratch = scratch
        self.config_dir = config_dir

    def judge(self, value: object) -> tuple[ServiceState, str]:
        assert isinstance(value, CacheLocation)
        if value.base is None:
            return Ok, f"cvmfs cache not configured in {self.config_dir}: not checked"
        if value.on_scratch:
            return Ok, f"cvmfs cache {value.base} is on scratch"
        return Warn, f"cvmfs cache {value.base} is not on {self.scratch}"


class SwapContext(Judge):
    def __init__(self, name: str, scratch: str) -> None:
        super().__init__(name)
        self.scratch = scratch

    def judge(self, value: object) -> tuple[ServiceState, str]:
        assert isinstance(value, SwapFiles)
        if value.on_scratch:
            return Ok, f"swap file on scratch: {', '.join(value.on_scratch)}"
        others = ", ".join(value.elsewhere) or "none"
        return Warn, f"no swap file on {self.scratch} (swap in use: {others})"


class ScratchSummary(nagiosplugin.Summary):  # type: ignore[misc]
    def __init__(self, path: str) -> None:
        self.path = path

    def ok(self, results: nagiosplugin.Results) -> str:
        size = results["size"].metric.value
        free = results["free"].metric.value
        write = results["write"].metric.value
        return (
            f"{self.path} is its own filesystem of {human_bytes(size.total)}, "
            f"{free.percent:.1f}% free, writes {write.speed:.1f} MB/s"
        )

    def problem(self, results: nagiosplugin.Results) -> str:
        # worst first: Results iterates in decreasing significance
        return "; ".join(str(result) for result in results if result.state != Ok)

    def verbose(self, results: nagiosplugin.Results) -> list[str]:
        return [f"{str(result.state).upper()} - {result}" for result in results]


# --- command line -------------------------------------------------------------------------


def percent(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"must be between 0 and 100, got {text!r}")
    return value


def positive_gb(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def parser() -> ProbeArgumentParser:
    p = ProbeArgumentParser(
        SERVICE,
        prog="check_wn_scratch",
        description="Check the scratch partition of a worker node (pilot VM).",
    )
    p.add_argument("--path", default="/scratch", help="scratch directory (default %(default)s)")
    p.add_argument(
        "--min-size-gb",
        type=positive_gb,
        metavar="GB",
        help="least total size in 10^9 bytes (default: MJF scratch_limit_bytes, else "
        f"{DEFAULT_MIN_SIZE_GB:g})",
    )
    p.add_argument(
        "--warn-free-pct",
        type=percent,
        default=10.0,
        metavar="PCT",
        help="WARNING below this %% of free space or inodes (default %(default)g)",
    )
    p.add_argument(
        "--crit-free-pct",
        type=percent,
        default=5.0,
        metavar="PCT",
        help="CRITICAL below this %% of free space or inodes (default %(default)g)",
    )
    p.add_argument(
        "--write-mb",
        type=positive_int,
        default=16,
        metavar="MB",
        help="size of the write test in 10^6 bytes (default %(default)s)",
    )
    p.add_argument(
        "--mounts-file", default=DEFAULT_MOUNTS_FILE, help="mounts table (default %(default)s)"
    )
    p.add_argument(
        "--swaps-file", default=DEFAULT_SWAPS_FILE, help="swaps table (default %(default)s)"
    )
    p.add_argument(
        "--root-path",
        default="/",
        help="root filesystem scratch must not be on (default %(default)s)",
    )
    p.add_argument(
        "--cvmfs-config-dir",
        default=DEFAULT_CONFIG_DIR,
        help="cvmfs client configuration (default %(default)s)",
    )
    add_mjf_arguments(p)
    return p


def build_check(args: argparse.Namespace) -> nagiosplugin.Check:
    deadline = Deadline(args.timeout).share(PART_SHARE)
    path = normalise(args.path)

    def locate() -> Features:
        return discover_features(args, min(MJF_TIMEOUT, deadline.remaining()))

    inspector = ScratchInspector(path, args.root_path, deadline)
    return nagiosplugin.Check(
        ScratchDirectory(inspector, args.mounts_file),
        WriteTest(inspector, args.write_mb),
        CvmfsCache(inspector, ClientConfig(Path(args.cvmfs_config_dir))),
        ScratchSwap(inspector, args.swaps_file),
        ScratchSize(inspector, MinimumSize(args.min_size_gb, locate, deadline)),
        PresenceContext("scratch"),
        PlacementContext("filesystem"),
        SizeContext("size"),
        FreeContext("free", args.warn_free_pct, args.crit_free_pct),
        PermissionsContext("permissions"),
        WriteContext("write"),
        CacheContext("cvmfs_cache", path, args.cvmfs_config_dir),
        SwapContext("swap", path),
        ScratchSummary(path),
    )


def main(argv: Sequence[str] | None = None) -> NoReturn:
    p = parser()
    args = p.parse_args(argv)
    if args.crit_free_pct > args.warn_free_pct:
        p.error(
            one_line(
                f"--crit-free-pct {args.crit_free_pct:g} is above --warn-free-pct "
                f"{args.warn_free_pct:g}"
            )
        )
    run(SERVICE, lambda: build_check(args), args.timeout)
