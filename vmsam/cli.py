"""The ``vmsam`` command. Subcommands import their modules lazily: the init hook runs in
every VM boot, and an unsampled VM must pay for little more than the interpreter start."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from vmsam import __version__


def _demo(args: argparse.Namespace) -> int:
    from vmsam.demo import run_demo

    return run_demo(keep=args.keep)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vmsam", description="SAM worker-node tests for the pilot VMs of VM-only sites"
    )
    parser.add_argument("--version", action="version", version=f"vmsam {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo", help="run the probes on a simulated healthy VM and a broken one"
    )
    demo.add_argument("--keep", action="store_true", help="keep the simulated VM trees")
    demo.set_defaults(handler=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    status: int = args.handler(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
