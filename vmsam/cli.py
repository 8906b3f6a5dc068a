"""The ``vmsam`` command. Subcommands import their modules lazily: the init hook runs in
every VM boot, and an unsampled VM must pay for little more than the interpreter start.

Errors are mapped to exit codes and messages in one place (``main``): every handler lets
a ``VmsamError`` rise, and ``main`` prints it as one line and returns its code.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from datetime import datetime
    from typing import Any

    from vmsam.server.store import Actor, Downtime, Store
    from vmsam.shared.errors import VmsamError

from vmsam import __version__

EXIT_USAGE = 2  # bad input: the status argparse itself exits with
EXIT_NOINPUT = 66  # sysexits EX_NOINPUT: a path to ingest does not exist
EXIT_IOERR = 74  # sysexits EX_IOERR: some files could not be read
EXIT_TEMPFAIL = 75  # sysexits EX_TEMPFAIL: messages remain, try again later
EXIT_CONFIG = 78  # sysexits EX_CONFIG
# the modules only the server extra brings: without them a server command says so
SERVER_MODULES = frozenset(
    {"sqlalchemy", "alembic", "fastapi", "starlette", "uvicorn", "psycopg", "prometheus_client"}
)


def exit_status(error: VmsamError) -> int:
    """The exit code of an error of the tree: the one table of it."""
    from vmsam.shared import errors

    table: tuple[tuple[type[errors.VmsamError], int], ...] = (
        (errors.ConfigError, EXIT_CONFIG),
        (errors.MissingExtra, EXIT_CONFIG),
        (errors.BrokerConfigError, EXIT_CONFIG),
        (errors.ProfileError, EXIT_CONFIG),
        (errors.GroupsError, EXIT_CONFIG),
        (errors.ContactsError, EXIT_CONFIG),
        (errors.ServeError, EXIT_CONFIG),
        (errors.ConsumerError, EXIT_CONFIG),
        (errors.VacmonError, EXIT_CONFIG),
        (errors.DatabaseURLError, EXIT_CONFIG),  # before StoreError, of which it is one
        (errors.StoreError, EXIT_TEMPFAIL),
        (errors.SpoolError, EXIT_TEMPFAIL),
        (errors.BrokerTrouble, EXIT_TEMPFAIL),
    )
    for kind, status in table:
        if isinstance(error, kind):
            return status
    return EXIT_USAGE  # a request that cannot be answered as asked


class _Exit(Exception):
    """A handler's own one-line failure that is no VmsamError (a missing input file)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def open_store(url: str | None) -> Store:
    from vmsam.server.store import Store

    return Store(url)


def _demo(args: argparse.Namespace) -> int:
    from pathlib import Path

    from vmsam.demo import run_demo

    return run_demo(keep=Path(args.keep) if args.keep else None, serve=not args.no_serve)


def _init_hook(args: argparse.Namespace) -> int:
    from vmsam.shared.config import VM_SECTIONS, read_settings
    from vmsam.vm import hook

    def say(line: str) -> None:
        print(line, flush=True)

    def body() -> int:
        configuration = read_settings(args.config, sections=VM_SECTIONS)
        if args.dry_run:
            for line in hook.dry_run(configuration, force=args.force):
                say(line)
            return 0
        report = hook.run_hook(configuration, force=args.force)
        for line in hook.summary_lines(report):
            say(line)
        return hook.exit_code(report, strict=args.strict)

    return hook.guarded(body, say)


def _check_config(args: argparse.Namespace) -> int:
    from vmsam.vm import checkconfig

    lines, findings = checkconfig.check(args.config)
    for line in lines:
        print(line)
    return checkconfig.exit_status(findings)


def _send(args: argparse.Namespace) -> int:
    from vmsam.shared.config import VM_SECTIONS, read_settings
    from vmsam.shared.errors import ConfigError
    from vmsam.vm.publisher import send_spool

    configuration = read_settings(args.config, sections=VM_SECTIONS)
    if configuration.unusable:
        raise ConfigError(configuration.source, configuration.unusable)
    for problem in configuration.problems:
        if problem.severity != "pattern":
            print(f"vmsam send: configuration {problem.severity}: {problem}", file=sys.stderr)
    report = send_spool(configuration.settings, budget=args.budget)
    for error in report.errors:
        print(f"vmsam send: {error}", file=sys.stderr)
    print(f"sent {report.sent} message(s), {report.remaining} left in the spool")
    return 0 if report.remaining == 0 else EXIT_TEMPFAIL


def _consume(args: argparse.Namespace) -> int:
    from broker.consumer import run_consumer
    from vmsam.shared.config import load_settings, with_overrides

    settings = with_overrides(
        load_settings(args.config), consumer={"db": args.db, "destination": args.destination}
    )
    return run_consumer(settings, metrics_port=args.metrics_port, metrics_host=args.metrics_host)


def _vacmon(args: argparse.Namespace) -> int:
    from vmsam.server.vacmon import run_listener
    from vmsam.shared.config import load_settings, with_overrides

    settings = with_overrides(load_settings(args.config), vacmon={"listen": args.listen})
    # --db, then $VMSAM_DB, then [consumer] db: the store the consumer fills
    return run_listener(
        settings.vacmon,
        args.db or settings.consumer.db or None,
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
    )


def _ingest(args: argparse.Namespace) -> int:
    from pathlib import Path

    from vmsam.server.ingest import ingest

    paths = [Path(path) for path in args.paths]
    missing = [str(path) for path in paths if not path.exists()]
    if missing:
        raise _Exit(f"no such file or directory: {', '.join(missing)}", EXIT_NOINPUT)
    with open_store(args.db) as store:
        report = ingest(store, paths, window=args.window)
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
    with open_store(args.db) as store:
        store.upgrade()
    print(f"schema of {store} is up to date")
    return 0


def _db_prune(args: argparse.Namespace) -> int:
    from vmsam.server.availability import load_profiles
    from vmsam.server.reports import prune

    profiles = load_profiles(args.profile) if args.profile else None
    with open_store(args.db) as store:
        done = prune(store, args.before, profiles=profiles)
    print(
        f"kept {done.figures_kept} daily figures of the days before {done.before};"
        f" removed {done.results_removed} results"
    )
    return 0


def _db_figure(args: argparse.Namespace) -> int:
    from vmsam.server.availability import load_profiles
    from vmsam.server.reports import FIGURED_DAYS, figure

    profiles = load_profiles(args.profile) if args.profile else None
    days = FIGURED_DAYS if args.days is None else args.days
    with open_store(args.db) as store:
        done = figure(store, days=days, profiles=profiles)
    for report in done:
        print(f"{report.vo}: daily figures of {report.first} to {report.last} are kept")
    if not done:
        print("no closed day has results: nothing to figure")
    return 0


def _figure(value: object) -> str:
    return "-1" if value == -1 else f"{value:.5f}"


_AR_COLUMNS = ("availability", "reliability", "up", "unknown", "down")


def _ar(args: argparse.Namespace) -> int:
    import json

    from vmsam.server.availability import load_groups, load_profiles
    from vmsam.server.reports import ar_all_document, ar_document, ar_groups_document
    from vmsam.shared.errors import ReportError

    profiles = load_profiles(args.profile) if args.profile else None
    groups = load_groups(args.groups) if args.groups else None
    if args.kind is not None and groups is None:
        raise ReportError("--kind goes with --groups")
    if args.endpoints and not args.all:
        raise ReportError("--endpoints goes with --all")
    with open_store(args.db) as store:
        if groups is not None:
            document = ar_groups_document(
                store,
                groups,
                start=args.start,
                end=args.end,
                vo=args.vo,
                granularity=args.granularity,
                kind=args.kind,
                profiles=profiles,
            )
        elif args.all:
            document = ar_all_document(
                store,
                start=args.start,
                end=args.end,
                vo=args.vo,
                granularity=args.granularity,
                endpoints=args.endpoints,
                profiles=profiles,
            )
        else:
            document = ar_document(
                store,
                site=args.site,
                endpoint=args.endpoint,
                service_type=args.service_type,
                start=args.start,
                end=args.end,
                vo=args.vo,
                granularity=args.granularity,
                profiles=profiles,
            )
    if args.json:
        print(json.dumps(document))
    elif groups is not None:
        (_groups_csv if args.csv else _groups_table)(document)
    elif args.csv:
        _ar_csv(document)
    else:
        _ar_table(document)
    return 0


_GROUP_COLUMNS = ("availability", "reliability")


def _groups_csv(document: dict[str, Any]) -> None:
    import csv

    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(("group", "kind", "date", *_GROUP_COLUMNS))
    for group in document["groups"]:
        for row in group["results"]:
            writer.writerow(
                (group["name"], group["kind"], row["date"], *(row[c] for c in _GROUP_COLUMNS))
            )


def _groups_table(document: dict[str, Any]) -> None:
    for number, group in enumerate(document["groups"]):
        if number:
            print()
        print(f"{group['name']} ({group['kind']}, {document['granularity']})")
        members = ", ".join(
            f"{m['name']} {m['weight']:g} ({m['weight_source']})"
            + ("" if m["monitored"] else " not monitored")
            for m in group["members"]
        )
        print(f"members: {members}")
        print(f"{'date':<10}  {'availability':>12}  {'reliability':>11}")
        for row in group["results"]:
            print(
                f"{row['date']:<10}  {_figure(row['availability']):>12}"
                f"  {_figure(row['reliability']):>11}"
            )


def _ar_rows(document: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(site, endpoint, service type, figures) of a document of one or of every site."""
    if "sites" not in document:
        return [(document["name"], "", "", row) for row in document["results"]]
    rows = []
    for site in document["sites"]:
        rows += [(site["name"], "", "", row) for row in site["results"]]
        for space in site.get("endpoints") or ():
            rows += [
                (site["name"], space["name"], space["service_type"], row)
                for row in space["results"]
            ]
    return rows


def _ar_csv(document: dict[str, Any]) -> None:
    import csv

    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(("site", "endpoint", "service_type", "date", *_AR_COLUMNS))
    for site, endpoint, service_type, row in _ar_rows(document):
        writer.writerow((site, endpoint, service_type, row["date"], *(row[c] for c in _AR_COLUMNS)))


def _ar_table(document: dict[str, Any]) -> None:
    widths = (12, 11, 7, 7, 7)
    header = f"{'date':<10}" + "".join(
        f"  {name:>{width}}" for name, width in zip(_AR_COLUMNS, widths, strict=True)
    )
    title = None
    for site, endpoint, service_type, row in _ar_rows(document):
        name = f"{site} / {endpoint} ({service_type})" if endpoint else site
        if name != title:
            if title is not None:
                print()
            print(f"{name} ({document['granularity']})")
            print(header)
            title = name
        figures = "".join(
            f"  {_figure(row[column]):>{width}}"
            for column, width in zip(_AR_COLUMNS, widths, strict=True)
        )
        print(f"{row['date']!s:<10}{figures}")


def _status(args: argparse.Namespace) -> int:
    import json

    from vmsam.server.availability import load_profiles
    from vmsam.server.timelines import status_document

    profiles = load_profiles(args.profile) if args.profile else None
    with open_store(args.db) as store:
        document = status_document(
            store,
            site=args.site,
            endpoint=args.endpoint,
            service_type=args.service_type,
            start=args.start,
            end=args.end,
            day=args.day,
            vo=args.vo,
            profiles=profiles,
        )
    if args.json:
        print(json.dumps(document))
    else:
        _status_text(document)
    return 0


def _pieces_text(pieces: list[dict[str, Any]], indent: str) -> None:
    for piece in pieces:
        line = f"{indent}{piece['start']}  {piece['end']}  {piece['status']:<8}"
        result = piece.get("result")
        if result:
            carried = ", carried over" if piece["carried"] else ""
            line += f"  {result['vm_uuid'] or '?'} ({result['machinetype'] or '?'}{carried})"
            line += f"  {result['summary'][:60]!r}"
        if piece.get("activity"):  # MISSING: whether VMs ran (docs/availability.md)
            line += f"  [{piece['activity']}]"
        print(line.rstrip())


def _status_text(document: dict[str, Any]) -> None:
    print(
        f"{document['name']} ({document['scope']}), vo {document['vo']},"
        f" {document['start']} to {document['end']} (UTC)"
    )
    if document["pruned"]:
        print(f"  pruned, no timeline: {', '.join(document['pruned'])}")
    _pieces_text(document["pieces"], "  ")
    for space in document["endpoints"]:
        print(f"\n{space['endpoint']} ({space['service_type']})")
        _pieces_text(space["pieces"], "  ")
        for metric in space["metrics"]:
            print(f"  {metric['metric']}")
            _pieces_text(metric["pieces"], "    ")


def _trends(args: argparse.Namespace) -> int:
    import json

    from vmsam.server.trends import trends_document

    with open_store(args.db) as store:
        document = trends_document(
            store,
            start=args.start,
            end=args.end,
            day=args.day,
            vo=args.vo,
            site=args.site,
            top=args.top,
        )
    if args.json:
        print(json.dumps(document))
    else:
        _trends_text(document)
    return 0


def _by_machinetype(entry: dict[str, Any], count: str) -> str:
    return ", ".join(f"{m['machinetype'] or '?'} {m[count]}" for m in entry["machinetypes"])


def _trends_text(document: dict[str, Any]) -> None:
    where = f", site {document['site']}" if document["site"] else ""
    print(
        f"trends of vo {document['vo']}{where}, {document['start']} to {document['end']}"
        f" ({document['days']} days, UTC)"
    )
    if document["contrast"]:
        print(document["contrast"])
    print("\nflapping: status changes (per day)  site  endpoint  metric  [by machinetype]")
    for entry in document["flapping"]:
        print(
            f"  {entry['changes']:>6} ({entry['changes_per_day']:.2f})  {entry['site']}"
            f"  {entry['endpoint']}  {entry['metric']}  [{_by_machinetype(entry, 'changes')}]"
        )
    print(
        "\nfailing: CRITICAL / WARNING of results  site  endpoint  metric"
        "  [CRITICAL by machinetype]"
    )
    for entry in document["failing"]:
        print(
            f"  {entry['critical']:>6} / {entry['warning']} of {entry['results']}  {entry['site']}"
            f"  {entry['endpoint']}  {entry['metric']}  [{_by_machinetype(entry, 'critical')}]"
        )


def calling_actor() -> Actor:
    """Who runs the CLI, for the audit log: the database's credentials are its
    authentication, the local user and host are what can be said of who used them."""
    import getpass
    import os
    import socket

    from vmsam.server.store import Actor

    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # a uid without a name (containers)
        user = f"uid {os.getuid()}"
    return Actor(f"cli:{user}", socket.gethostname())


def parse_time_option(text: str | None, flag: str) -> datetime | None:
    """The one time rule of the API (vmsam.server.reports.parse_moment), naming the flag."""
    from vmsam.server.reports import parse_moment
    from vmsam.shared.errors import ReportError

    if text is None:
        return None
    try:
        return parse_moment(text)
    except ReportError as exc:
        raise ReportError(f"{flag}: {exc}") from None


def _require_seen(store: Store, endpoint: str, service_type: str, force: bool) -> None:
    from vmsam.server.reports import unseen_endpoint
    from vmsam.shared.errors import ReportError

    reason = None if force else unseen_endpoint(store, endpoint, service_type)
    if reason is not None:
        raise ReportError(f"{reason}; give --force to declare it anyway")


@contextlib.contextmanager
def _store_checks() -> Iterator[None]:
    """The store's own ValueError for a downtime it cannot hold (an empty period, say) as a
    one-line ReportError; its errors of the tree (a duplicate, an unknown id) stay as they
    are."""
    from vmsam.shared.errors import ReportError, VmsamError

    try:
        yield
    except ValueError as exc:
        if isinstance(exc, VmsamError):
            raise
        raise ReportError(str(exc)) from None


def _print_downtime(done: str, downtime: Downtime) -> None:
    """``downtime 7: ...`` as ``downtime add`` always said it, ``removed downtime 7: ...``."""
    kind = "scheduled" if downtime.scheduled else "unscheduled"
    print(
        f"{done}downtime {downtime.id}: {downtime.endpoint} {downtime.service_type}"
        f" {downtime.start.isoformat()} to {downtime.end.isoformat()} ({kind})"
    )


def _downtime_add(args: argparse.Namespace) -> int:
    start, end = parse_time_option(args.start, "--start"), parse_time_option(args.end, "--end")
    assert start is not None and end is not None  # both are required options
    with open_store(args.db) as store, _store_checks():
        _require_seen(store, args.endpoint, args.service_type, args.force)
        added = store.add_downtime(
            args.endpoint,
            args.service_type,
            start,
            end,
            scheduled=not args.unscheduled,
            description=args.description,
            by=calling_actor(),
        )
    _print_downtime("", added)
    return 0


def _downtime_correct(args: argparse.Namespace) -> int:
    import dataclasses

    from vmsam.server.store import UnknownDowntime
    from vmsam.shared.errors import ReportError

    changes = {
        "endpoint": args.endpoint,
        "service_type": args.service_type,
        "start": parse_time_option(args.start, "--start"),
        "end": parse_time_option(args.end, "--end"),
        "scheduled": args.scheduled,
        "description": args.description,
    }
    given = {name: value for name, value in changes.items() if value is not None}
    if not given:
        raise ReportError(
            "nothing to correct: give --endpoint, --service-type, --start, --end,"
            " --scheduled, --unscheduled or --description"
        )
    with open_store(args.db) as store, _store_checks():
        current = store.downtime(_stored_id(args.id))
        if current is None:
            raise UnknownDowntime(args.id)
        corrected = dataclasses.replace(current, **given)
        moved = (corrected.endpoint, corrected.service_type) != (
            current.endpoint,
            current.service_type,
        )
        if moved:
            _require_seen(store, corrected.endpoint, corrected.service_type, args.force)
        _print_downtime("corrected ", store.correct_downtime(corrected, by=calling_actor()))
    return 0


def _stored_id(number: int) -> int:
    """``number``, or UnknownDowntime when no column could hold it (rather than a database
    error for an integer out of range)."""
    from vmsam.server.store import DOWNTIME_ID_MAX, UnknownDowntime

    if not 1 <= number <= DOWNTIME_ID_MAX:
        raise UnknownDowntime(number)
    return number


def _downtime_remove(args: argparse.Namespace) -> int:
    with open_store(args.db) as store:
        _print_downtime("removed ", store.remove_downtime(_stored_id(args.id), by=calling_actor()))
    return 0


def _downtime_list(args: argparse.Namespace) -> int:
    import json

    from vmsam.shared.errors import ReportError

    start, end = parse_time_option(args.start, "--start"), parse_time_option(args.end, "--end")
    with open_store(args.db) as store:
        downtimes = store.downtimes(args.endpoint, start, end, site=args.site, vo=args.vo)
        if not downtimes:  # as the API: a name the store does not know is an error
            unknown = store.unknown_name(site=args.site, endpoint=args.endpoint, vo=args.vo)
            if unknown is not None:
                raise ReportError(unknown)
    if args.json:
        print(json.dumps([d.as_json() for d in downtimes]))
        return 0
    for d in downtimes:
        kind = "scheduled" if d.scheduled else "unscheduled"
        # one line per downtime whatever the description holds
        description = " ".join(d.description.split())
        print(
            f"{d.id}\t{d.endpoint}\t{d.service_type}\t{d.start.isoformat()}"
            f"\t{d.end.isoformat()}\t{kind}\t{description}"
        )
    return 0


def _audit(args: argparse.Namespace) -> int:
    import json

    with open_store(args.db) as store:
        total, entries = store.audit_log(limit=args.limit, offset=args.offset)
    if args.json:
        rows = [{**vars(entry), "at": entry.at.isoformat()} for entry in entries]
        print(json.dumps({"total": total, "entries": rows}))
        return 0
    for entry in entries:
        print(
            f"{entry.at.isoformat()}\t{entry.actor}\t{entry.client}\t{entry.action}"
            f"\t{entry.kind} {entry.object_id}\t{json.dumps(entry.after or entry.before)}"
        )
    return 0


def _downtime_import_gocdb(args: argparse.Namespace) -> int:
    from pathlib import Path

    from vmsam.server.gocdb import import_downtimes, read

    path = Path(args.file)
    if not path.is_file():
        raise _Exit(f"no such file: {path}", EXIT_NOINPUT)
    data = read(path)
    with open_store(args.db) as store:
        report = import_downtimes(store, data, by=calling_actor())
    print(
        f"added {report.added} downtime(s), {report.already} already stored,"
        f" {report.ignored} ignored (not an OUTAGE, or empty)"
    )
    return 0


def _plan(args: argparse.Namespace) -> int:
    import json

    from vmsam.server.planning import plan

    try:
        rate = float(args.vm_starts_per_hour)
        target = float(args.target)
    except ValueError:
        raise _Exit("--vm-starts-per-hour and --target must be numbers", EXIT_USAGE) from None
    document = plan(rate, target)
    if args.json:
        print(json.dumps(document))
        return 0
    fraction = float(str(document["fraction"]))
    print(f"VM starts per hour: {rate:g}")
    print(f"target:             {target:g}")
    print(f"sampling fraction:  {fraction:.6f} (test {100 * fraction:.4g} % of the VMs)")
    print(f"P(a result per metric every UTC day): {document['probability']:.6f}")
    return 0


def _add_downtime_commands(commands: Any, db_help: str) -> None:
    """``downtime add|correct|remove|list|import-gocdb`` and ``audit``."""
    downtime = commands.add_parser(
        "downtime", help="declare, list, correct, remove and import downtimes (audited)"
    )
    downtime_commands = downtime.add_subparsers(dest="downtime_command", required=True)
    add = downtime_commands.add_parser("add", help="declare a downtime of an endpoint")
    add.add_argument("--db", help=db_help)
    add.add_argument("--endpoint", required=True, help="host name of the endpoint (space)")
    add.add_argument("--service-type", required=True, help="e.g. uk.ac.gridpp.vac")
    add.add_argument("--start", required=True, help=TIME_HELP)
    add.add_argument("--end", required=True, help=f"{TIME_HELP}; excluded")
    add.add_argument(
        "--unscheduled",
        action="store_true",
        help="an unscheduled downtime (changes no A/R figure, as in ARGO)",
    )
    add.add_argument("--description", default="", help="free text")
    add.add_argument("--force", action="store_true", help=FORCE_HELP)
    add.set_defaults(handler=_downtime_add)
    correct = downtime_commands.add_parser(
        "correct", help="change a stored downtime: what is given replaces its own"
    )
    correct.add_argument("--db", help=db_help)
    correct.add_argument("id", type=int, metavar="ID", help="the downtime's id (downtime list)")
    correct.add_argument("--endpoint", help="host name of the endpoint (space)")
    correct.add_argument("--service-type", help="e.g. uk.ac.gridpp.vac")
    correct.add_argument("--start", help=TIME_HELP)
    correct.add_argument("--end", help=f"{TIME_HELP}; excluded")
    severity = correct.add_mutually_exclusive_group()
    severity.add_argument(
        "--scheduled", action="store_const", const=True, dest="scheduled", help="counts in A/R"
    )
    severity.add_argument(
        "--unscheduled",
        action="store_const",
        const=False,
        dest="scheduled",
        help="changes no A/R figure",
    )
    correct.add_argument("--description", help="free text")
    correct.add_argument("--force", action="store_true", help=FORCE_HELP)
    correct.set_defaults(handler=_downtime_correct)
    remove = downtime_commands.add_parser("remove", help="remove a stored downtime")
    remove.add_argument("--db", help=db_help)
    remove.add_argument("id", type=int, metavar="ID", help="the downtime's id (downtime list)")
    remove.set_defaults(handler=_downtime_remove)
    listing = downtime_commands.add_parser("list", help="the stored downtimes, oldest first")
    listing.add_argument("--db", help=db_help)
    listing.add_argument("--endpoint", help="only this endpoint's")
    listing.add_argument("--site", help="only those of this site's endpoints")
    listing.add_argument("--vo", help="only those of endpoints with results of this VO")
    listing.add_argument("--start", help=f"overlapping from this time on: {TIME_HELP}")
    listing.add_argument("--end", help=f"overlapping before this time: {TIME_HELP}")
    listing.add_argument("--json", action="store_true", help="as JSON")
    listing.set_defaults(handler=_downtime_list)
    gocdb = downtime_commands.add_parser(
        "import-gocdb", help="import GOCDB's downtime XML (OUTAGE downtimes only, as ARGO)"
    )
    gocdb.add_argument("--db", help=db_help)
    gocdb.add_argument("file", metavar="FILE", help="the XML of GOCDB's get_downtime")
    gocdb.set_defaults(handler=_downtime_import_gocdb)

    audit = commands.add_parser(
        "audit", help="who changed which downtime or recomputation when, newest first"
    )
    audit.add_argument("--db", help=db_help)
    audit.add_argument("--limit", type=int, default=100, help="at most this many entries (100)")
    audit.add_argument("--offset", type=int, default=0, help="skip the newest ones first")
    audit.add_argument("--json", action="store_true", help="as JSON")
    audit.set_defaults(handler=_audit)


def _trust_from_gocdb(args: argparse.Namespace) -> int:
    from pathlib import Path

    from vmsam.server.gocdb import allow_list_lines, parse_endpoints, read

    path = Path(args.file)
    if not path.is_file():
        raise _Exit(f"no such file: {path}", EXIT_NOINPUT)
    endpoints, without_dn = parse_endpoints(read(path))
    wanted = set(args.service_type)
    kept = [e for e in endpoints if not wanted or e.service_type in wanted]
    print(f"# from {path}: {len(kept)} service endpoint(s); {without_dn} without a HOSTDN left out")
    for line in allow_list_lines(kept):
        print(line)
    return 0


def _alerts_run(args: argparse.Namespace) -> int:
    import logging
    from datetime import UTC, datetime
    from pathlib import Path

    from vmsam.server.alerts import Senders, load_contacts, run_forever, run_once
    from vmsam.server.availability import load_profiles

    contacts = load_contacts(Path(args.contacts))
    host, port = _smtp_address(args.smtp)
    senders = Senders(host, port, contacts.sender)
    profiles = load_profiles(args.profile) if args.profile else None
    if args.interval <= 0:
        raise _Exit("--interval must be a positive number of seconds", EXIT_USAGE)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with open_store(args.db) as store:
        if args.once:
            report = run_once(store, contacts, senders, now=datetime.now(UTC), profiles=profiles)
            print(
                f"{report.events} change(s), {report.messages} message(s) queued,"
                f" {report.delivered} delivered, {report.failed} to retry,"
                f" {report.dropped} dropped"
            )
            return 0 if report.failed == 0 else EXIT_TEMPFAIL
        with contextlib.suppress(KeyboardInterrupt):
            run_forever(store, contacts, senders, interval=args.interval, profiles=profiles)
    return 0


def _smtp_address(text: str | None) -> tuple[str | None, int]:
    """HOST or HOST:PORT (25 by default); None: no e-mail is sent."""
    if text is None:
        return None, 25
    host, _, port = text.rpartition(":") if ":" in text else (text, "", "25")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise _Exit(f"--smtp must be HOST or HOST:PORT, not {text!r:.80}", EXIT_USAGE)
    return host, int(port)


def _alerts_ack(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from vmsam.server.alerts import acknowledge
    from vmsam.server.store import Actor

    caller = calling_actor()
    by = Actor(args.by, caller.client) if args.by else caller
    with open_store(args.db) as store:
        done = acknowledge(store, args.site, args.space, by, now=datetime.now(UTC))
    for _site, endpoint, service_type, vo in done:
        print(f"acknowledged {args.site} {endpoint} ({service_type}, {vo}) by {by.name}")
    return 0


def _alerts_from_gocdb(args: argparse.Namespace) -> int:
    from pathlib import Path

    from vmsam.server.alerts import contacts_toml
    from vmsam.server.gocdb import parse_site_contacts, read

    path = Path(args.file)
    if not path.is_file():
        raise _Exit(f"no such file: {path}", EXIT_NOINPUT)
    print(f"# from {path}")
    print(contacts_toml(parse_site_contacts(read(path))), end="")
    return 0


def _add_alerts_commands(commands: Any, db_help: str) -> None:
    """``alerts run`` and ``alerts ack``: notify the site admins, stop the reminders."""
    alerts = commands.add_parser(
        "alerts", help="e-mail and webhook alerts to site admins (CRITICAL, MISSING, recovered)"
    )
    alerts_commands = alerts.add_subparsers(dest="alerts_command", required=True)
    run = alerts_commands.add_parser(
        "run", help="evaluate every space and notify its site's contacts (a loop, or --once)"
    )
    run.add_argument("--db", help=db_help)
    run.add_argument("--contacts", required=True, metavar="FILE", help="the contacts file (TOML)")
    run.add_argument(
        "--smtp", metavar="HOST[:PORT]", help="the SMTP server (default: no e-mail sent)"
    )
    run.add_argument("--profile", help="profile file overriding the shipped metric profiles")
    run.add_argument("--once", action="store_true", help="one evaluation, then exit (for cron)")
    run.add_argument(
        "--interval", type=float, default=60.0, help="seconds between evaluations (60)"
    )
    run.set_defaults(handler=_alerts_run)
    ack = alerts_commands.add_parser(
        "ack", help="acknowledge a site's open alerts: no more reminders until it changes"
    )
    ack.add_argument("--db", help=db_help)
    ack.add_argument("--site", required=True, help="the site")
    ack.add_argument("--space", help="only this space (endpoint host name) of the site")
    ack.add_argument("--by", help="who acknowledges (default: the local user)")
    ack.set_defaults(handler=_alerts_ack)
    from_gocdb = alerts_commands.add_parser(
        "from-gocdb", help="a contacts file of GOCDB's sites and their CONTACT_EMAIL"
    )
    from_gocdb.add_argument("file", metavar="FILE", help="the XML of GOCDB's get_site")
    from_gocdb.set_defaults(handler=_alerts_from_gocdb)


def _add_report_commands(commands: Any, db_help: str) -> None:
    """``ar``, ``downtime``, ``audit`` and ``plan``: A/R, downtimes, their changes and
    sampling plans."""
    ar = commands.add_parser("ar", help="daily or monthly availability/reliability from the store")
    ar.add_argument("--db", help=db_help)
    which = ar.add_mutually_exclusive_group(required=True)
    which.add_argument("--site", help="a site (its endpoints: AND of groups, OR of spaces)")
    which.add_argument("--endpoint", help="an endpoint (space): host name")
    which.add_argument("--all", action="store_true", help="every site of the VO")
    which.add_argument(
        "--groups", metavar="FILE", help="each group of sites of FILE, weighted (TOML or JSON)"
    )
    ar.add_argument("--service-type", help="the endpoint's service type (needed if it has several)")
    ar.add_argument("--start", required=True, help="first day, YYYY-MM-DD (UTC)")
    ar.add_argument("--end", required=True, help="last day, YYYY-MM-DD (UTC), inclusive")
    ar.add_argument("--vo", help="the VO (may be left out when the store holds one)")
    ar.add_argument("--granularity", default="daily", help="daily (default) or monthly")
    ar.add_argument("--profile", help="profile file overriding the shipped profiles")
    ar.add_argument(
        "--endpoints", action="store_true", help="with --all: every endpoint of each site too"
    )
    ar.add_argument(
        "--kind", choices=("tier", "federation", "country"), help="with --groups: of this kind"
    )
    output = ar.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="the JSON document of the API")
    output.add_argument("--csv", action="store_true", help="one CSV row per site/endpoint and day")
    ar.set_defaults(handler=_ar)

    _add_downtime_commands(commands, db_help)
    _add_alerts_commands(commands, db_help)
    from vmsam import cli_recompute

    cli_recompute.add_commands(commands, db_help, CONFIG_HELP)

    planning = commands.add_parser(
        "plan", help="the sampling fraction that gives a space results every UTC day"
    )
    planning.add_argument(
        "--vm-starts-per-hour", required=True, help="VM starts per hour in the space"
    )
    planning.add_argument(
        "--target",
        default="0.99",
        help="probability of at least one result per metric per UTC day (0.99)",
    )
    planning.add_argument("--json", action="store_true", help="as JSON")
    planning.set_defaults(handler=_plan)


def _add_history_commands(commands: Any, db_help: str) -> None:
    """``status`` and ``trends``: status timelines and the trends of a range of days."""
    days_help = "at most 31 days; with neither --start nor --end nor --day, today (UTC)"
    status = commands.add_parser(
        "status", help="status timelines of a site or an endpoint, with the VMs that set them"
    )
    status.add_argument("--db", help=db_help)
    which = status.add_mutually_exclusive_group(required=True)
    which.add_argument("--site", help="a site: its timeline, its spaces' and their metrics'")
    which.add_argument("--endpoint", help="an endpoint (space): host name")
    status.add_argument("--service-type", help="the endpoint's service type (if it has several)")
    trends = commands.add_parser(
        "trends", help="flapping and failing metrics of the spaces, by machinetype"
    )
    trends.add_argument("--db", help=db_help)
    trends.add_argument("--site", help="only this site")
    trends.add_argument("--top", type=int, default=10, help="how many of each list (10)")
    for command, handler in ((status, _status), (trends, _trends)):
        command.add_argument("--start", help=f"first day, YYYY-MM-DD ({days_help})")
        command.add_argument("--end", help="last day, YYYY-MM-DD, inclusive")
        command.add_argument("--day", help="one day, YYYY-MM-DD, instead of --start and --end")
        command.add_argument("--vo", help="the VO (may be left out when the store holds one)")
        command.add_argument("--json", action="store_true", help="the JSON document of the API")
        command.set_defaults(handler=handler)
    status.add_argument("--profile", help="profile file overriding the shipped profiles")


def _serve(args: argparse.Namespace) -> int:
    from vmsam.server.availability import load_profiles
    from vmsam.server.serve import serve
    from vmsam.shared.config import load_settings

    settings = load_settings(args.config)
    profiles = load_profiles(args.profile) if args.profile else None
    # --db, then $VMSAM_DB, then [consumer] db (load_settings applied the variable to it)
    with open_store(args.db or settings.consumer.db or None) as store:
        serve(store, settings, host=args.host, port=args.port, profiles=profiles)
    return 0


TIME_HELP = "ISO 8601 with a zone (2024-03-01T08:00:00Z, +01:00) or a day YYYY-MM-DD (00:00 UTC)"
FORCE_HELP = "even for an endpoint (or service type) the store has no results of"
CONFIG_HELP = "configuration file (default $VMSAM_CONFIG or /etc/vmsam/vmsam.toml)"
DB_HELP = "database URL (default $VMSAM_DB, then sqlite:///vmsam.db)"


def _add_init_hook(commands: Any) -> None:
    init_hook = commands.add_parser(
        "init-hook", help="in the VM: sample, run the probes, write joboutputs, spool and publish"
    )
    init_hook.add_argument("--config", help=CONFIG_HELP)
    init_hook.add_argument("--force", action="store_true", help="run the probes even if unsampled")
    init_hook.add_argument(
        "--dry-run", action="store_true", help="show what would be done; run and write nothing"
    )
    init_hook.add_argument(
        "--strict",
        action="store_true",
        help="exit 2 when a critical test failed, 3 when the configuration has errors,"
        " 1 when messages were left undelivered",
    )
    init_hook.set_defaults(handler=_init_hook)


def _add_vm_tools(commands: Any) -> None:
    """``check-config`` and ``send``: what a site admin runs in or for the VM."""
    check_config = commands.add_parser(
        "check-config",
        help="validate a configuration as the init hook reads it (exit 0 fine, 1 warnings,"
        " 2 errors)",
    )
    check_config.add_argument("--config", help=CONFIG_HELP)
    check_config.set_defaults(handler=_check_config)

    send = commands.add_parser("send", help="deliver the spooled messages to the broker(s)")
    send.add_argument("--config", help=CONFIG_HELP)
    send.add_argument(
        "--budget", type=float, default=300.0, help="give up after this many seconds (300)"
    )
    send.set_defaults(handler=_send)


def _add_service_arguments(service: Any) -> None:
    """--config and --db of a service that fills the store (consume, vacmon)."""
    service.add_argument("--config", help=CONFIG_HELP)
    service.add_argument(
        "--db", help="database URL (default $VMSAM_DB, then [consumer] db, then a SQLite file)"
    )


def _add_metrics_arguments(service: Any) -> None:
    service.add_argument(
        "--metrics-port", type=int, help="serve Prometheus /metrics on this port (default: none)"
    )
    service.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        help="address for /metrics (127.0.0.1: this host only; 0.0.0.0 for every address)",
    )


def _add_vacmon_command(commands: Any) -> None:
    vacmon = commands.add_parser(
        "vacmon",
        help="a VacMon-compatible UDP listener: which VMs ran, which spaces reported none",
    )
    _add_service_arguments(vacmon)
    vacmon.add_argument(
        "--listen", help="HOST:PORT to receive datagrams on (default [vacmon] listen)"
    )
    _add_metrics_arguments(vacmon)
    vacmon.set_defaults(handler=_vacmon)


def _add_server_commands(commands: Any) -> None:
    """The monitoring side: consume, ingest, db, ar, downtime, plan, serve, demo."""
    consume = commands.add_parser(
        "consume", help="the broker consumer service: store every result once, ack after commit"
    )
    _add_service_arguments(consume)
    consume.add_argument(
        "--destination", help="queue or topic to consume (default [consumer] destination)"
    )
    _add_metrics_arguments(consume)
    consume.set_defaults(handler=_consume)

    _add_vacmon_command(commands)

    ingest = commands.add_parser(
        "ingest",
        help="load results from message files, spool directories or joboutputs into the store",
    )
    ingest.add_argument("--db", help=DB_HELP)
    ingest.add_argument(
        "--window",
        action="store_true",
        help="dead-letter results more than 3 days old or 1 day ahead, as ARGO does",
    )
    ingest.add_argument("paths", nargs="+", metavar="PATH", help="file or directory (recursive)")
    ingest.set_defaults(handler=_ingest)

    trust = commands.add_parser("trust", help="who may sign results: the consumer's allow-list")
    trust_commands = trust.add_subparsers(dest="trust_command", required=True)
    from_gocdb = trust_commands.add_parser(
        "from-gocdb",
        help="allow-list lines from GOCDB's service endpoints: each HOSTDN for its site/space",
    )
    from_gocdb.add_argument(
        "--service-type",
        action="append",
        default=[],
        help="only endpoints of this service type (repeatable; e.g. uk.ac.gridpp.vac)",
    )
    from_gocdb.add_argument("file", metavar="FILE", help="the XML of GOCDB's get_service_endpoint")
    from_gocdb.set_defaults(handler=_trust_from_gocdb)

    database = commands.add_parser("db", help="the result store: its schema and retention")
    database_commands = database.add_subparsers(dest="db_command", required=True)
    db_upgrade = database_commands.add_parser(
        "upgrade", help="create or upgrade the schema (every command does it on first use)"
    )
    db_upgrade.add_argument("--db", help=DB_HELP)
    db_upgrade.set_defaults(handler=_db_upgrade)
    db_prune = database_commands.add_parser(
        "prune",
        help="remove the results of the days before a date, keeping their daily A/R figures"
        " (reports of those days stay as they were)",
    )
    db_prune.add_argument("--db", help=DB_HELP)
    db_prune.add_argument("--before", required=True, help="the first day kept, YYYY-MM-DD")
    db_prune.add_argument("--profile", help="A/R profile file the figures are computed with")
    db_prune.set_defaults(handler=_db_prune)
    db_figure = database_commands.add_parser(
        "figure",
        help="compute and keep every site's daily A/R of the closed days (run after midnight)",
    )
    db_figure.add_argument("--db", help=DB_HELP)
    db_figure.add_argument("--days", type=int, help="how many closed days back (default 35)")
    db_figure.add_argument("--profile", help="A/R profile file the figures are computed with")
    db_figure.set_defaults(handler=_db_figure)

    _add_report_commands(commands, DB_HELP)
    _add_history_commands(commands, DB_HELP)

    serve = commands.add_parser("serve", help="the shifter dashboard: API and page (uvicorn)")
    serve.add_argument("--config", help=CONFIG_HELP)
    serve.add_argument(
        "--db", help="database URL (default $VMSAM_DB, then [consumer] db, then a SQLite file)"
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port to listen on (8080)")
    serve.add_argument("--profile", help="A/R profile file overriding the shipped profiles")
    serve.set_defaults(handler=_serve)

    demo = commands.add_parser(
        "demo",
        help="a simulated VM-only site over several days, its daily A/R and the dashboard",
    )
    demo.add_argument(
        "--no-serve", action="store_true", help="print the A/R and stop; serve no dashboard"
    )
    demo.add_argument(
        "--keep",
        metavar="DIR",
        help="keep the store (DIR/vmsam.db), the spool and the VM trees in DIR (new or empty)",
    )
    demo.set_defaults(handler=_demo)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; for ``init-hook`` only its own part, since every VM boot
    pays for building the parser."""
    parser = argparse.ArgumentParser(
        prog="vmsam", description="SAM worker-node tests for the pilot VMs of VM-only sites"
    )
    parser.add_argument("--version", action="version", version=f"vmsam {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_init_hook(commands)
    if command != "init-hook":
        _add_vm_tools(commands)
        _add_server_commands(commands)
    return parser


def _command(args: argparse.Namespace) -> str:
    words = (
        args.command,
        getattr(args, "downtime_command", None),
        getattr(args, "recompute_command", None),
        getattr(args, "db_command", None),
        getattr(args, "alerts_command", None),
    )
    return " ".join(word for word in words if word)


def _missing_extra(error: ModuleNotFoundError) -> str | None:
    root = (error.name or "").split(".")[0]
    return root if root in SERVER_MODULES else None


def main(argv: Sequence[str] | None = None) -> int:
    from vmsam.shared.errors import MissingExtra, VmsamError

    arguments = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(arguments[0] if arguments else None).parse_args(arguments)
    command = _command(args)
    try:
        try:
            status: int = args.handler(args)
        except ModuleNotFoundError as exc:
            module = _missing_extra(exc)
            if module is None:
                raise
            raise MissingExtra(command, module) from None
    except VmsamError as exc:
        print(f"vmsam {command}: {exc}", file=sys.stderr)
        return exit_status(exc)
    except _Exit as exc:
        print(f"vmsam {command}: {exc}", file=sys.stderr)
        return exc.status
    except BrokenPipeError:
        # the reader left (``vmsam ar --all | head``): not an error of ours; stdout is
        # pointed at /dev/null so that the interpreter's final flush does not fail as well
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return status


if __name__ == "__main__":
    sys.exit(main())
