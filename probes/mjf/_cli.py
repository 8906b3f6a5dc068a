"""The command line of check_wn_mjf."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import NoReturn

import nagiosplugin

from probes._common.arguments import RANGE_HELP, Measure, add_thresholds, check_thresholds, limits
from probes._mjf_options import add_mjf_arguments
from probes._plugin import PART_SHARE, ProbeArgumentParser, run
from probes.mjf._contexts import MJFSummary, contexts
from probes.mjf._resources import Locator, MachineJobFeatures
from vmsam.shared.deadline import Deadline

SERVICE = "WN-MJF"

MEASURES = (
    # a job start further ahead than 5 minutes is a clock or factory problem
    Measure("future", "the seconds jobstart_secs lies in the future", warning="~:300"),
    Measure("seconds-left", "the seconds before the job or the machine ends"),
)


def parser() -> ProbeArgumentParser:
    p = ProbeArgumentParser(
        SERVICE,
        prog="check_wn_mjf",
        description="Check the Machine/Job Features (HEPiX MJF) of a pilot VM.",
        epilog=RANGE_HELP,
    )
    add_mjf_arguments(p, etc_dir=True)
    p.add_argument(
        "--uuid", default="", metavar="UUID", help="the VM's UUID, which job_id should be"
    )
    add_thresholds(p, *MEASURES)
    return p


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = parser()
    args = p.parse_args(argv)
    check_thresholds(p, args, MEASURES)
    return args


def build_check(args: argparse.Namespace) -> nagiosplugin.Check:
    locator = Locator(args, dict(os.environ))
    deadline = Deadline(args.timeout).share(PART_SHARE)
    return nagiosplugin.Check(
        MachineJobFeatures(locator, deadline, args.uuid.strip() or None),
        *contexts(limits(args, MEASURES)),
        MJFSummary(),
    )


def main(argv: Sequence[str] | None = None) -> NoReturn:
    args = parse_args(argv)
    run(SERVICE, lambda: build_check(args), args.timeout)
