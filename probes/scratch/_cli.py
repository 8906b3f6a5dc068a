"""The command line of check_wn_scratch."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

import nagiosplugin

from probes._common.arguments import (
    RANGE_HELP,
    Measure,
    add_alias,
    add_thresholds,
    check_thresholds,
    given,
    limits,
    percent,
    positive_float,
    positive_int,
)
from probes._common.ranges import at_least
from probes._cvmfs_config import DEFAULT_CONFIG_DIR, ClientConfig
from probes._mjf_options import add_mjf_arguments, discover_features
from probes._plugin import PART_SHARE, ProbeArgumentParser, run
from probes._system import DEFAULT_MOUNTS_FILE, DEFAULT_SWAPS_FILE, normalise
from probes.scratch._contexts import DEFAULT_MIN_SIZE_GB, ScratchSummary, contexts
from probes.scratch._resources import (
    CvmfsCache,
    ScratchDirectory,
    ScratchInspector,
    ScratchSize,
    ScratchSwap,
    WriteTest,
)
from vmsam.shared.deadline import Deadline
from vmsam.vm.mjf import Features

SERVICE = "WN-SCRATCH"
MJF_TIMEOUT = 5.0

MEASURES = (
    Measure("free", "the free space, in % of the total", "10:", "5:", short=True),
    Measure("inodes", "the free inodes, in % of the total", "10:", "5:"),
    Measure(
        "size",
        "the total size, in GB (10^9 bytes)",
        critical_said=f"N: with N from MJF scratch_limit_bytes, else {DEFAULT_MIN_SIZE_GB}:",
    ),
    Measure("write", "the write test's speed, in MB/s"),
)


def parser() -> ProbeArgumentParser:
    p = ProbeArgumentParser(
        SERVICE,
        prog="check_wn_scratch",
        description="Check the scratch partition of a worker node (pilot VM).",
        epilog=RANGE_HELP,
    )
    p.add_argument("--path", default="/scratch", help="scratch directory (default %(default)s)")
    add_thresholds(p, *MEASURES)
    for option, targets, kind, meaning in (
        ("--min-size-gb", ["size_critical"], positive_float, "--size-critical GB:"),
        (
            "--warn-free-pct",
            ["free_warning", "inodes_warning"],
            percent,
            "--free-warning PCT: --inodes-warning PCT:",
        ),
        (
            "--crit-free-pct",
            ["free_critical", "inodes_critical"],
            percent,
            "--free-critical PCT: --inodes-critical PCT:",
        ),
    ):
        add_alias(
            p,
            option,
            targets=targets,
            kind=kind,
            convert=at_least,
            metavar="GB" if option == "--min-size-gb" else "PCT",
            text=f"old form of {meaning}",
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
        help="cvmfs client configuration; WARNING when it does not exist (default %(default)s)",
    )
    add_mjf_arguments(p)
    return p


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = parser()
    args = p.parse_args(argv)
    check_thresholds(p, args, MEASURES)
    return args


def build_check(args: argparse.Namespace) -> nagiosplugin.Check:
    deadline = Deadline(args.timeout).share(PART_SHARE)
    path = normalise(args.path)

    def locate() -> Features:
        return discover_features(args, min(MJF_TIMEOUT, deadline.remaining()))

    # a size range given makes MJF's limit irrelevant: it is not asked for
    lookup: Callable[[], Features] | None = locate if args.size_critical is None else None
    inspector = ScratchInspector(path, args.root_path, deadline)
    return nagiosplugin.Check(
        ScratchDirectory(inspector, args.mounts_file),
        WriteTest(inspector, args.write_mb),
        CvmfsCache(inspector, ClientConfig(Path(args.cvmfs_config_dir))),
        ScratchSwap(inspector, args.swaps_file),
        ScratchSize(inspector, lookup, deadline),
        *contexts(
            limits(args, MEASURES),
            size_source=given(args, "size_critical"),
            write_mb=args.write_mb,
            path=path,
            config_dir=args.cvmfs_config_dir,
        ),
        ScratchSummary(path),
    )


def main(argv: Sequence[str] | None = None) -> NoReturn:
    args = parse_args(argv)
    run(SERVICE, lambda: build_check(args), args.timeout)
