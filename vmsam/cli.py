"""The ``vmsam`` command. Subcommands import their modules lazily: the init hook runs in
every VM boot, and an unsampled VM must pay for little more than the interpreter start."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from vmsam import __version__

EXIT_TEMPFAIL = 75  # sysexits EX_TEMPFAIL: messages remain, try again later
EXIT_CONFIG = 78  # sysexits EX_CONFIG
EXIT_NOINPUT = 66  # sysexits EX_NOINPUT: a path to ingest does not exist
EXIT_IOERR = 74  # sysexits EX_IOERR: some files could not be read


def _demo(args: argparse.Namespace) -> int:
    from vmsam.demo import run_demo

    return run_demo(keep=args.keep)


def _init_hook(args: argparse.Namespace) -> int:
    from vmsam import hook
    from vmsam.config import ConfigError, load_settings

    def say(line: str) -> None:
        print(line, flush=True)

    def body() -> int:
        try:
            settings = load_settings(args.config)
        except ConfigError as exc:
            say(f"vmsam init-hook: {exc}")
            return 0
        if args.dry_run:
            for line in hook.dry_run(settings, force=args.force):
                say(line)
            return 0
        report = hook.run_hook(settings, force=args.force)
        for line in hook.summary_lines(report):
            say(line)
        return hook.exit_code(report, strict=args.strict)

    return hook.guarded(body, say)


def _send(args: argparse.Namespace) -> int:
    from vmsam.config import ConfigError, load_settings
    from vmsam.publisher import PublishError, send_spool
    from vmsam.spool import SpoolError

    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"vmsam send: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        report = send_spool(settings, budget=args.budget)
    except PublishError as exc:
        print(f"vmsam send: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except SpoolError as exc:
        print(f"vmsam send: {exc}", file=sys.stderr)
        return EXIT_TEMPFAIL
    for error in report.errors:
        print(f"vmsam send: {error}", file=sys.stderr)
    print(f"sent {report.sent} message(s), {report.remaining} left in the spool")
    return 0 if report.remaining == 0 else EXIT_TEMPFAIL


def _consume(args: argparse.Namespace) -> int:
    from vmsam.config import ConfigError, load_settings, with_overrides

    try:
        settings = with_overrides(
            load_settings(args.config),
            consumer={"db": args.db, "destination": args.destination},
        )
    except ConfigError as exc:
        print(f"vmsam consume: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    from broker.consumer import ConsumerError, run_consumer

    try:
        return run_consumer(
            settings, metrics_port=args.metrics_port, metrics_host=args.metrics_host
        )
    except ConsumerError as exc:
        print(f"vmsam consume: {exc}", file=sys.stderr)
        return EXIT_CONFIG


def _ingest(args: argparse.Namespace) -> int:
    from pathlib import Path

    from vmsam.ingest import ingest
    from vmsam.store import Store, StoreError

    paths = [Path(path) for path in args.paths]
    missing = [str(path) for path in paths if not path.exists()]
    if missing:
        print(f"vmsam ingest: no such file or directory: {', '.join(missing)}", file=sys.stderr)
        return EXIT_NOINPUT
    try:
        store = Store(args.db)
        try:
            report = ingest(store, paths, window=args.window)
        finally:
            store.close()
    except StoreError as exc:
        print(f"vmsam ingest: {exc}", file=sys.stderr)
        return EXIT_TEMPFAIL
    for problem in report.unreadable:
        print(f"vmsam ingest: cannot read {problem}", file=sys.stderr)
    saved = report.saved
    print(
        f"stored {saved.stored}, duplicates {saved.duplicates}, "
        f"dead letters {saved.dead_letters}, files {report.files} "
        f"({report.skipped} without records skipped)"
    )
    return EXIT_IOERR if report.unreadable else 0


def _db_upgrade(args: argparse.Namespace) -> int:
    from vmsam.store import Store, StoreError

    try:
        store = Store(args.db)
        try:
            store.upgrade()
        finally:
            store.close()
    except StoreError as exc:
        print(f"vmsam db upgrade: {exc}", file=sys.stderr)
        return EXIT_TEMPFAIL
    print(f"schema of {store} is up to date")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vmsam", description="SAM worker-node tests for the pilot VMs of VM-only sites"
    )
    parser.add_argument("--version", action="version", version=f"vmsam {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    config_help = "configuration file (default $VMSAM_CONFIG or /etc/vmsam/vmsam.toml)"
    init_hook = commands.add_parser(
        "init-hook", help="in the VM: sample, run the probes, write joboutputs, spool and publish"
    )
    init_hook.add_argument("--config", help=config_help)
    init_hook.add_argument("--force", action="store_true", help="run the probes even if unsampled")
    init_hook.add_argument(
        "--dry-run", action="store_true", help="show what would be done; run and write nothing"
    )
    init_hook.add_argument(
        "--strict",
        action="store_true",
        help="exit 2 when a critical test failed, 1 when messages were left undelivered",
    )
    init_hook.set_defaults(handler=_init_hook)

    send = commands.add_parser("send", help="deliver the spooled messages to the broker(s)")
    send.add_argument("--config", help=config_help)
    send.add_argument(
        "--budget", type=float, default=300.0, help="give up after this many seconds (300)"
    )
    send.set_defaults(handler=_send)

    consume = commands.add_parser(
        "consume", help="the broker consumer service: store every result once, ack after commit"
    )
    consume.add_argument("--config", help=config_help)
    consume.add_argument(
        "--db", help="database URL (default $VMSAM_DB, then [consumer] db, then a SQLite file)"
    )
    consume.add_argument(
        "--destination", help="queue or topic to consume (default [consumer] destination)"
    )
    consume.add_argument(
        "--metrics-port", type=int, help="serve Prometheus /metrics on this port (default: none)"
    )
    consume.add_argument(
        "--metrics-host", default="", help="address for /metrics (default: all addresses)"
    )
    consume.set_defaults(handler=_consume)

    db_help = "database URL (default $VMSAM_DB, then sqlite:///vmsam.db)"
    ingest = commands.add_parser(
        "ingest",
        help="load results from message files, spool directories or joboutputs into the store",
    )
    ingest.add_argument("--db", help=db_help)
    ingest.add_argument(
        "--window",
        action="store_true",
        help="dead-letter results more than 3 days old or 1 day ahead, as ARGO does",
    )
    ingest.add_argument("paths", nargs="+", metavar="PATH", help="file or directory (recursive)")
    ingest.set_defaults(handler=_ingest)

    database = commands.add_parser("db", help="the result store's schema")
    database_commands = database.add_subparsers(dest="db_command", required=True)
    db_upgrade = database_commands.add_parser(
        "upgrade", help="create or upgrade the schema (every command does it on first use)"
    )
    db_upgrade.add_argument("--db", help=db_help)
    db_upgrade.set_defaults(handler=_db_upgrade)

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
