"""The command line of check_wn_cvmfs."""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import nagiosplugin
from nagiosplugin import Range

from probes._common.arguments import (
    RANGE_HELP,
    Measure,
    add_alias,
    add_thresholds,
    check_thresholds,
    limits,
    non_negative_float,
)
from probes._common.ranges import EVERYTHING, at_least, at_most
from probes._cvmfs_config import DEFAULT_CONFIG_DIR, ClientConfig
from probes._plugin import PART_SHARE, ProbeArgumentParser, run
from probes._system import DEFAULT_MOUNTS_FILE, normalise
from probes.cvmfs._contexts import CvmfsSummary, contexts
from probes.cvmfs._repositories import Repository, repositories_for
from probes.cvmfs._resources import CvmfsClient
from vmsam.shared.deadline import Deadline

SERVICE = "WN-CVMFS"
DEFAULT_CVMFS_ROOT = "/cvmfs"

MEASURES = (
    Measure("revision", "the root catalog's revision", warning="0:"),
    Measure("nioerr", "the I/O errors since mount", warning="~:0"),
    Measure("fd", "the file descriptors in use, in % of maxfd", warning="~:80"),
    Measure("nclg", "the catalogs loaded, in % of maxfd", warning="~:10"),
    Measure("ncleanup24", "the cache cleanups in the last 24 h", warning="~:24"),
    Measure("expires", "the minutes until the root catalog expires", warning="0:"),
    Measure("cache", "the cache partition's fill, in %", warning="~:95"),
)

_REPOSITORY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_VO_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


def repository_name(text: str) -> str:
    if not _REPOSITORY_NAME.match(text) or text in {".", ".."}:
        raise argparse.ArgumentTypeError(f"not a repository name: {text!r}")
    return text


def vo_name(text: str) -> str:
    if not _VO_NAME.match(text):
        raise argparse.ArgumentTypeError(f"not a VO name: {text!r}")
    return text


def catalogs_per_maxfd(factor: float) -> Range:
    """``--nclg-factor F`` warned when nclg * F > maxfd, that is above 100/F % of maxfd."""
    return EVERYTHING if factor == 0 else at_most(100 / factor)


def parser() -> ProbeArgumentParser:
    p = ProbeArgumentParser(
        SERVICE,
        prog="check_wn_cvmfs",
        description="Check that the CernVM-FS repositories a VO needs are mounted, "
        "readable and healthy (Nagios plugin).",
        epilog=RANGE_HELP,
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
        help="cvmfs client configuration; WARNING when it does not exist (default %(default)s)",
    )
    p.add_argument(
        "--scratch", metavar="PATH", help="WARNING when the cvmfs cache is not on this partition"
    )
    add_thresholds(p, *MEASURES)
    for option, target, metavar, kind, convert, meaning in (
        ("--nioerr-warn", "nioerr", "N", non_negative_float, at_most, "~:N"),
        ("--fd-warn-pct", "fd", "PCT", non_negative_float, at_most, "~:PCT"),
        ("--nclg-factor", "nclg", "F", non_negative_float, catalogs_per_maxfd, "~:100/F"),
        ("--ncleanup24-warn", "ncleanup24", "N", non_negative_float, at_most, "~:N"),
        ("--expires-warn", "expires", "MINUTES", float, at_least, "MINUTES:"),
        ("--cache-warn-pct", "cache", "PCT", non_negative_float, at_most, "~:PCT"),
    ):
        add_alias(
            p,
            option,
            targets=[f"{target}_warning"],
            kind=kind,
            convert=convert,
            metavar=metavar,
            text=f"old form of --{target}-warning {meaning}",
        )
    return p


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = parser()
    args = p.parse_args(argv)
    if not args.repo and not args.vo:
        p.error("give --repo NAME (repeatable) or --vo VO")
    if args.repo and len(set(args.repo)) != len(args.repo):
        p.error("a repository is given twice")
    check_thresholds(p, args, MEASURES)
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
    return nagiosplugin.Check(client, *contexts(limits(args, MEASURES)), CvmfsSummary())


def main(argv: Sequence[str] | None = None) -> NoReturn:
    args = parse_args(argv)
    run(SERVICE, lambda: build_check(args), args.timeout)
