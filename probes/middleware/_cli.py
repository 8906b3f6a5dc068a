"""The command line of check_wn_middleware."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import NoReturn

import nagiosplugin

from probes._common.arguments import (
    RANGE_HELP,
    Measure,
    add_alias,
    add_thresholds,
    check_thresholds,
    limits,
    positive_float,
)
from probes._common.ranges import at_least
from probes._isolated import Child
from probes._mjf_options import add_mjf_arguments
from probes._plugin import PART_SHARE, Pending, ProbeArgumentParser, run
from probes.middleware._contexts import MiddlewareSummary, contexts
from probes.middleware._proxy import Shutdown, read_proxy_file, read_shutdown
from probes.middleware._resources import ProxyResource, TrustStoreResource
from probes.middleware._truststore import read_trust_store
from vmsam.shared.deadline import Deadline

SERVICE = "WN-MIDDLEWARE"
DEFAULT_GRID_ROOT = "/cvmfs/grid.cern.ch"
MJF_TIMEOUT = 5.0

MEASURES = (
    Measure("crl", "the hours until a CRL's nextUpdate", warning="9:", critical="0:"),
    Measure(
        "proxy",
        "the hours the proxy has left (it must also outlive the VM's shutdown from MJF)",
        warning="6:",
        critical="0:",
    ),
)


def parser() -> ProbeArgumentParser:
    p = ProbeArgumentParser(
        SERVICE,
        prog="check_wn_middleware",
        description="Check the grid trust store, VOMS files and setup scripts under the "
        "grid root, and the VM's X.509 proxy.",
        epilog=RANGE_HELP,
    )
    p.add_argument(
        "--grid-root",
        default=DEFAULT_GRID_ROOT,
        metavar="DIR",
        help="where grid.cern.ch is (default %(default)s)",
    )
    p.add_argument("--vo", help="VO whose vomsdir and vomses entry must exist (default: any VO)")
    p.add_argument("--proxy", metavar="FILE", help="X.509 proxy to check (default: none)")
    add_thresholds(p, *MEASURES)
    for option, target in (("--crl-warn-hours", "crl"), ("--proxy-warn-hours", "proxy")):
        add_alias(
            p,
            option,
            targets=[f"{target}_warning"],
            kind=positive_float,
            convert=at_least,
            metavar="HOURS",
            text=f"old form of --{target}-warning HOURS:",
        )
    add_mjf_arguments(p)
    return p


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = parser()
    args = p.parse_args(argv)
    check_thresholds(p, args, MEASURES)
    return args


def build_check(args: argparse.Namespace) -> nagiosplugin.Check:
    # every part starts at once, so that a hung one costs the others nothing
    deadline = Deadline(args.timeout).share(PART_SHARE)
    store = Child(read_trust_store, args.grid_root, args.vo or "")
    proxy: Child | None = None
    shutdown: Pending[Shutdown] | None = None
    if args.proxy:
        proxy = Child(read_proxy_file, args.proxy)
        shutdown = Pending(lambda: read_shutdown(args, min(MJF_TIMEOUT, deadline.remaining())))
    return nagiosplugin.Check(
        TrustStoreResource(args.grid_root, store, deadline),
        ProxyResource(args.proxy, proxy, shutdown, deadline),
        *contexts(limits(args, MEASURES), vo=args.vo, grid_root=args.grid_root),
        MiddlewareSummary(),
    )


def main(argv: Sequence[str] | None = None) -> NoReturn:
    args = parse_args(argv)
    run(SERVICE, lambda: build_check(args), args.timeout)
