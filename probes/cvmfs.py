"""check_wn_cvmfs: are the VO's CernVM-FS repositories mounted, readable and healthy?

For each repository: a mount of its own (mounts table, by path string), its root listed
within the time budget, and the client's ``user.*`` attributes judged with the rules of the
cvmfs project's own check (DOMAIN.md section 5, PROBES.md). The cache partition named by
the client configuration is checked for fill and, given ``--scratch``, for its place.

Every touch of a repository or of the cache happens in a child process, all in parallel
within one deadline: a hung FUSE mount blocks its callers in the kernel, and a repository
that hung is reported as broken (CRITICAL) while the others are still judged.
"""

from __future__ import annotations

import argparse
import errno
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nagiosplugin
from nagiosplugin import Critical, Metric, Ok, Performance, Result, Unknown, Warn

from probes._cvmfs_config import DEFAULT_CONFIG_DIR, CacheSetting, ClientConfig
from probes._isolated import Child, Outcome, Record
from probes._plugin import PART_SHARE, Deadline, ProbeArgumentParser, run
from probes._system import DEFAULT_MOUNTS_FILE, Mount, mount_at, normalise, read_mounts

SERVICE = "WN-CVMFS"
DEFAULT_CVMFS_ROOT = "/cvmfs"
GRID_REPOSITORY = "grid.cern.ch"

VO_REPOSITORIES: dict[str, tuple[str, ...]] = {
    "lhcb": ("lhcb.cern.ch", "lhcb-condb.cern.ch", GRID_REPOSITORY),
    "atlas": ("atlas.cern.ch", "atlas-condb.cern.ch", GRID_REPOSITORY),
    "cms": ("cms.cern.ch", GRID_REPOSITORY),
}

NUMERIC_ATTRIBUTES = ("revision", "nioerr", "usedfd", "maxfd", "nclg", "expires", "ncleanup24")
TEXT_ATTRIBUTES = ("version", "host", "proxy")
ATTRIBUTES = NUMERIC_ATTRIBUTES + TEXT_ATTRIBUTES
# what a client mounted with a fixed root hash answers for user.expires
NEVER_EXPIRES = "never"

_REPOSITORY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_VO_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


# --- what is checked -----------------------------------------------------------------------


@dataclass(frozen=True)
class Repository:
    name: str
    # a VO's own repository outside the built-in lists is checked only when it is there
    required: bool = True


def repositories_for(vo: str) -> list[Repository]:
    """The repositories a VO's jobs need (PROBES.md)."""
    if vo in VO_REPOSITORIES:
        return [Repository(name) for name in VO_REPOSITORIES[vo]]
    return [Repository(f"{vo}.cern.ch", required=False), Repository(GRID_REPOSITORY)]


# --- measuring, in child processes (probes._isolated) -----------------------------------


def inspect_repository(path: str) -> Iterator[Record]:
    """The listing first, so that a hang after it says where it hung."""
    yield {"entries": len(os.listdir(path))}
    attributes: dict[str, str] = {}
    missing: dict[str, str] = {}
    for name in ATTRIBUTES:
        try:
            raw = os.getxattr(path, f"user.{name}")
        except OSError as exc:
            # the path is the repository's, already named in the report
            missing[name] = "missing" if exc.errno == errno.ENODATA else exc.strerror or str(exc)
        else:
            attributes[name] = raw.decode("utf-8", errors="replace").strip("\x00 \n")
    yield {"attributes": attributes, "missing": missing}


def measure_partition(base: str) -> Iterator[Record]:
    # the cache directory may not exist yet (cvmfs creates it on first use); the partition
    # it will be on is that of its nearest existing parent
    path = base
    while True:
        try:
            fs = os.statvfs(path)
            break
        except FileNotFoundError:
            parent = os.path.dirname(path)
            if parent == path:
                raise
            path = parent
    used = fs.f_blocks - fs.f_bfree
    usable = used + fs.f_bavail
    used_pct = 100.0 * used / usable if usable else 0.0
    size_bytes = fs.f_blocks * fs.f_frsize
    yield {"measured": path, "used_pct": round(used_pct, 1), "size_bytes": size_bytes}


@dataclass(frozen=True)
class Inspection:
    entries: int
    attributes: dict[str, str]
    missing: dict[str, str]


@dataclass(frozen=True)
class Partition:
    """The partition holding the cache; ``measured`` is the nearest existing directory."""

    measured: str
    used_pct: float
    size_bytes: int


# --- metric values ------------------------------------------------------------------------


@dataclass(frozen=True)
class Access:
    """Whether a repository is mounted and could be listed."""

    repository: Repository
    path: str
    mount: Mount | None
    failure: str | None = None
    hung: bool = False
    inspection: Inspection | None = None


@dataclass(frozen=True)
class AttributeProblem:
    repository: str
    attribute: str
    problem: str


@dataclass(frozen=True)
class Ratio:
    """A value judged against a limit derived from another (nclg against maxfd)."""

    value: float
    reference: float


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


@dataclass(frozen=True)
class CacheFailure:
    repository: str
    base: str
    problem: str
    hung: bool


# --- the resource -------------------------------------------------------------------------


class CvmfsClient(nagiosplugin.Resource):  # type: ignore[misc]
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

    @property
    def name(self) -> str:
        return "cvmfs"

    def path(self, repository: Repository) -> str:
        return normalise(os.path.join(self.cvmfs_root, repository.name))

    def probe(self) -> Iterator[Metric]:
        inspecting = {r.name: Child(inspect_repository, self.path(r)) for r in self.repositories}
        settings = {r.name: self.config.cache(r.name) for r in self.repositories}
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
            access = self._access(repository, mounts, inspected[repository.name])
            yield Metric(repository.name, access, context="repository")
            if access.mount is None or access.inspection is None:
                continue
            yield from attribute_metrics(repository.name, access.inspection)
            setting = settings[repository.name]
            if setting is None:
                yield Metric(f"{repository.name}_cache", None, context="cache_unconfigured")
            else:
                yield from cache_metrics(
                    repository.name, setting, measured[setting.base], self.scratch
                )

    def _access(self, repository: Repository, mounts: list[Mount], outcome: Outcome) -> Access:
        path = self.path(repository)
        mount = mount_at(path, mounts)
        if outcome.hung is not None:
            step = "reading attributes" if outcome.records else "listing"
            return Access(repository, path, mount, failure=f"{step} {outcome.problem()}", hung=True)
        if isinstance(outcome.error, FileNotFoundError):
            return Access(repository, path, mount, failure="no such directory")
        if not outcome.complete or len(outcome.records) < 2:
            return Access(repository, path, mount, failure=outcome.problem())
        inspection = Inspection(int(outcome.records[0]["entries"]), **outcome.records[1])
        return Access(repository, path, mount, inspection=inspection)


def cache_metrics(
    repository: str, setting: CacheSetting, outcome: Outcome, scratch: str | None
) -> Iterator[Metric]:
    if not outcome.complete or not outcome.records:
        failure = CacheFailure(
            repository, setting.base, outcome.problem(), hung=outcome.hung is not None
        )
        yield Metric(f"{repository}_cache", failure, context="cache_failure")
        return
    partition = Partition(**outcome.records[-1])
    yield Metric(
        f"{repository}_cache", partition.used_pct, "%", min=0, max=100, context="cache_fill"
    )
    place = CachePlace(repository, setting, partition, scratch)
    yield Metric(f"{repository}_cache_place", place, context="cache_place")


def attribute_metrics(repository: str, inspection: Inspection) -> Iterator[Metric]:
    """Metrics from the ``user.*`` attributes; a missing or garbled one is reported as such."""
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
            yield Metric(f"{repository}_nclg", Ratio(numbers["nclg"], maxfd), context="nclg")
    details = {
        name: inspection.attributes[name]
        for name in ATTRIBUTES
        if name in inspection.attributes and name not in problems
    }
    yield Metric(f"{repository}_attributes", details, context="attributes")


# --- judging ------------------------------------------------------------------------------


def repository_of(metric: Metric) -> str:
    """The repository a per-repository metric (``<repository>_<what>``) is about."""
    return str(metric.name).rsplit("_", 1)[0]


def plain(number: float) -> str:
    """A number as Nagios ranges and people read it: never in scientific notation."""
    return f"{number:.6f}".rstrip("0").rstrip(".")


class RepositoryContext(nagiosplugin.Context):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__("repository")

    def evaluate(self, metric: Metric, resource: Any) -> Result:
        access: Access = metric.value
        name = access.repository.name
        if access.hung:
            return Result(Critical, f"{name} {access.failure}", metric)
        if access.mount is None:
            if not access.repository.required:
                return Result(Ok, f"{name} not mounted, not required for this VO", metric)
            where = f"{access.path}" + (f" ({access.failure})" if access.failure else "")
            return Result(Critical, f"{name} not mounted at {where}", metric)
        if access.inspection is None:
            return Result(Critical, f"{name} cannot be listed: {access.failure}", metric)
        entries = access.inspection.entries
        return Result(
            Ok,
            f"{name} mounted ({access.mount.fstype}) at {access.path}, "
            f"{entries} {'entry' if entries == 1 else 'entries'} at its root",
            metric,
        )


class Threshold(nagiosplugin.Context):  # type: ignore[misc]
    """WARNING when a value passes a limit (above it, or below it with ``below=True``)."""

    def __init__(
        self, name: str, limit: float, text: str, *, below: bool = False, perfdata: bool = False
    ) -> None:
        super().__init__(name)
        self.limit = limit
        self.text = text
        self.below = below
        self.perfdata = perfdata

    def evaluate(self, metric: Metric, resource: Any) -> Result:
        repository = repository_of(metric)
        said = self.text.format(repository=repository, value=metric.value)
        passed = metric.value < self.limit if self.below else metric.value > self.limit
        if passed:
            side = "below" if self.below else "above"
            return Result(Warn, f"{said} ({side} {plain(self.limit)})", metric)
        return Result(Ok, said, metric)

    def performance(self, metric: Metric, resource: Any) -> Performance | None:
        if not self.perfdata:
            return None
        # a Nagios range alerts outside start:end; the rule here is a one-sided limit
        warn = f"{plain(self.limit)}:" if self.below else f"~:{plain(self.limit)}"
        return Performance(
            metric.name, metric.value, metric.uom or "", warn, min=metric.min, max=metric.max
        )


class RevisionContext(nagiosplugin.Context):  # type: ignore[misc]
    """The revision is recorded, not judged: catalogs are published at each site's pace."""

    def __init__(self) -> None:
        super().__init__("revision")

    def evaluate(self, metric: Metric, resource: Any) -> Result:
        return Result(Ok, f"{repository_of(metric)} revision {metric.value}", metric)

    def performance(self, metric: Metric, resource: Any) -> Performance:
        return Performance(metric.name, metric.value)


class NclgContext(nagiosplugin.Context):  # type: ignore[misc]
    """Each loaded catalog holds a file descriptor: too many of them starve the client."""

    def __init__(self, factor: float) -> None:
        super().__init__("nclg")
        self.factor = factor

    def evaluate(self, metric: Metric, resource: Any) -> Result:
        ratio: Ratio = metric.value
        repository = repository_of(metric)
        said = (
            f"{repository} has {plain(ratio.value)} catalogs loaded "
            f"(maxfd {plain(ratio.reference)})"
        )
        if ratio.value * self.factor > ratio.reference:
            return Result(Warn, f"{said}, more than maxfd/{plain(self.factor)}", metric)
        return Result(Ok, said, metric)


class AttributeProblemContext(nagiosplugin.Context):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__("attribute_problem")

    def evaluate(self, metric: Metric, resource: Any) -> Result:
        problem: AttributeProblem = metric.value
        return Result(
            Warn,
            f"{problem.repository} attribute user.{problem.attribute}: {problem.problem}",
            metric,
        )


class AttributesContext(nagiosplugin.Context):  # type: ignore[misc]
    """Attributes an admin wants to see (server, proxy, client version), not judged."""

    def __init__(self) -> None:
        super().__init__("attributes")

    def evaluate(self, metric: Metric, resource: Any) -> Result:
        details: dict[str, str] = metric.value
        shown = ", ".join(f"{name} {value}" for name, value in details.items())
        return Result(Ok, f"{repository_of(metric)} attributes: {shown or 'none'}", metric)


class CacheUnconfiguredContext(nagiosplugin.Context):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__("cache_unconfigured")

    def evaluate(self, metric: Metric, resource: Any) -> Result:
        repository = repository_of(metric)
        return Result(
            Ok, f"{repository} has no CVMFS_CACHE_BASE configured, cache check skipped", metric
        )


class CachePlaceContext(nagiosplugin.Context):  # type: ignore[misc]
    """The cache belongs on scratch: the root filesystem is a slow, small overlay."""

    def __init__(self) -> None:
        super().__init__("cache_place")

    def evaluate(self, metric: Metric, resource: Any) -> Result:
        place: CachePlace = metric.value
        setting = place.setting
        quota = "unlimited" if setting.quota_mb in (None, -1) else f"{setting.quota_mb} MB"
        said = (
            f"{place.repository} cache {setting.base} (quota {quota}) on a partition of "
            f"{place.partition.size_bytes / 1e9:.1f} GB"
        )
        if not place.exists:
            said += f", not created yet (measured at {place.partition.measured})"
        if place.scratch is not None and not place.on_scratch:
            return Result(Warn, f"{said}, not on scratch {place.scratch}", metric)
        return Result(Ok, said, metric)


class CacheFailureContext(nagiosplugin.Context):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__("cache_failure")

    def evaluate(self, metric: Metric, resource: Any) -> Result:
        failure: CacheFailure = metric.value
        said = f"{failure.repository} cache partition {failure.base}: {failure.problem}"
        # a hung partition is that part broken; any other error means we could not tell
        return Result(Critical if failure.hung else Unknown, said, metric)


class CvmfsSummary(nagiosplugin.Summary):  # type: ignore[misc]
    def ok(self, results: nagiosplugin.Results) -> str:
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
        return f"{len(checked)} repositories mounted and healthy: {shown}"

    def problem(self, results: nagiosplugin.Results) -> str:
        worst_first = sorted(
            (r for r in results if r.state != Ok), key=lambda r: r.state, reverse=True
        )
        return "; ".join(str(r) for r in worst_first)

    def verbose(self, results: nagiosplugin.Results) -> list[str]:
        return [f"{str(r.state).upper()}: {r}" for r in results]


# --- command line -------------------------------------------------------------------------


def non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def repository_name(text: str) -> str:
    if not _REPOSITORY_NAME.match(text) or text in {".", ".."}:
        raise argparse.ArgumentTypeError(f"not a repository name: {text!r}")
    return text


def vo_name(text: str) -> str:
    if not _VO_NAME.match(text):
        raise argparse.ArgumentTypeError(f"not a VO name: {text!r}")
    return text


def parser() -> ProbeArgumentParser:
    p = ProbeArgumentParser(
        SERVICE,
        prog="check_wn_cvmfs",
        description="Check that the CernVM-FS repositories a VO needs are mounted, "
        "readable and healthy (Nagios plugin).",
    )
    p.add_argument(
        "--cvmfs-root",
        default=DEFAULT_CVMFS_ROOT,
        metavar="DIR",
        help="where repositories are mounted (default %(default)s)",
    )
    p.add_argument(
        "--repo",
        action="append",
        type=repository_name,
        metavar="NAME",
        help="a repository to check (repeatable); overrides --vo's list",
    )
    p.add_argument(
        "--vo",
        type=vo_name,
        help="check this VO's default repositories (lhcb, atlas, cms or any VO: "
        "<vo>.cern.ch when mounted, and grid.cern.ch)",
    )
    p.add_argument(
        "--mounts-file",
        default=DEFAULT_MOUNTS_FILE,
        metavar="FILE",
        help="mounts table (default %(default)s)",
    )
    p.add_argument(
        "--cvmfs-config-dir",
        default=DEFAULT_CONFIG_DIR,
        metavar="DIR",
        help="cvmfs client configuration (default %(default)s)",
    )
    p.add_argument(
        "--scratch", metavar="PATH", help="WARNING when the cvmfs cache is not on this partition"
    )
    p.add_argument(
        "--nioerr-warn",
        type=non_negative,
        default=0,
        metavar="N",
        help="WARNING above this many I/O errors since mount (default %(default)g)",
    )
    p.add_argument(
        "--fd-warn-pct",
        type=non_negative,
        default=80,
        metavar="PCT",
        help="WARNING when usedfd is above this share of maxfd (default %(default)g)",
    )
    p.add_argument(
        "--nclg-factor",
        type=non_negative,
        default=10,
        metavar="F",
        help="WARNING when loaded catalogs * F > maxfd (default %(default)g)",
    )
    p.add_argument(
        "--ncleanup24-warn",
        type=non_negative,
        default=24,
        metavar="N",
        help="WARNING above this many cache cleanups in 24 h (default %(default)g)",
    )
    p.add_argument(
        "--expires-warn",
        type=float,
        default=0,
        metavar="MINUTES",
        help="WARNING when the root catalog expires in fewer minutes than this "
        "(default %(default)g: overdue)",
    )
    p.add_argument(
        "--cache-warn-pct",
        type=non_negative,
        default=95,
        metavar="PCT",
        help="WARNING when the cache partition is fuller (default %(default)g)",
    )
    return p


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = parser()
    args = p.parse_args(argv)
    if not args.repo and not args.vo:
        p.error("give --repo NAME (repeatable) or --vo VO")
    if args.repo and len(set(args.repo)) != len(args.repo):
        p.error("a repository is given twice")
    return args


def build_check(args: argparse.Namespace) -> nagiosplugin.Check:
    repositories = (
        [Repository(name) for name in args.repo] if args.repo else repositories_for(args.vo)
    )
    client = CvmfsClient(
        cvmfs_root=args.cvmfs_root,
        repositories=repositories,
        mounts_file=args.mounts_file,
        config=ClientConfig(Path(args.cvmfs_config_dir)),
        scratch=normalise(args.scratch) if args.scratch else None,
        deadline=Deadline(args.timeout).share(PART_SHARE),
    )
    return nagiosplugin.Check(
        client,
        RepositoryContext(),
        RevisionContext(),
        Threshold(
            "nioerr",
            args.nioerr_warn,
            "{repository} had {value} I/O errors since mount",
            perfdata=True,
        ),
        Threshold(
            "fd",
            args.fd_warn_pct,
            "{repository} uses {value}% of its file descriptors",
            perfdata=True,
        ),
        Threshold(
            "ncleanup24",
            args.ncleanup24_warn,
            "{repository} cleaned its cache {value} times in 24 h",
        ),
        Threshold(
            "expires",
            args.expires_warn,
            "{repository} root catalog expires in {value} minutes",
            below=True,
        ),
        Threshold(
            "cache_fill",
            args.cache_warn_pct,
            "{repository} cache partition {value}% full",
            perfdata=True,
        ),
        NclgContext(args.nclg_factor),
        AttributeProblemContext(),
        AttributesContext(),
        CacheUnconfiguredContext(),
        CachePlaceContext(),
        CacheFailureContext(),
        CvmfsSummary(),
    )


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    run(SERVICE, lambda: build_check(args), args.timeout)
