"""``vmsam recompute``: request, list, decide and revoke recomputations, and accept the
candidates vmsam proposes (vmsam.server.recomputations, the same rules as the API). Every
change is audited as the local user's; errors are one line and exit 2, as ``vmsam downtime``.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vmsam.server.recomputations import Candidate
    from vmsam.server.store import Recomputation

TIME_HELP = "ISO 8601 with a zone (2024-03-01T08:00:00Z) or a day YYYY-MM-DD (00:00 UTC)"


def _print(done: str, recomputation: Recomputation) -> None:
    """``recomputation 3 (pending): dteam 2024-03-05T00:00:00+00:00 to ... sites: all``."""
    sites = ", ".join(recomputation.sites) or "all"
    metrics = ", ".join(recomputation.metrics) or "all"
    print(
        f"{done}recomputation {recomputation.id} ({recomputation.state}): {recomputation.vo}"
        f" {recomputation.start.isoformat()} to {recomputation.end.isoformat()};"
        f" sites: {sites}; metrics: {metrics}"
    )


def _requester(given: str | None) -> str:
    from vmsam.cli import calling_actor

    return given if given is not None else calling_actor().name.removeprefix("cli:")


def _add(args: argparse.Namespace) -> int:
    from vmsam.cli import calling_actor, open_store, parse_time_option
    from vmsam.server.recomputations import request

    start, end = parse_time_option(args.start, "--start"), parse_time_option(args.end, "--end")
    assert start is not None and end is not None  # both are required options
    with open_store(args.db) as store:
        added = request(
            store,
            vo=args.vo,
            reason=args.reason,
            requester=_requester(args.requester),
            requester_email=args.email,
            start=start,
            end=end,
            sites=args.site or (),
            metrics=args.metric or (),
            by=calling_actor(),
        )
    _print("", added)
    return 0


def _list(args: argparse.Namespace) -> int:
    import json
    from datetime import timedelta

    from vmsam.cli import open_store
    from vmsam.server.reports import parse_day
    from vmsam.server.store import RECOMPUTATION_STATES
    from vmsam.server.timelines import midnight
    from vmsam.shared.errors import ReportError

    if args.state is not None and args.state not in RECOMPUTATION_STATES:
        raise ReportError(
            f"--state {args.state[:40]!r} is not one of {', '.join(RECOMPUTATION_STATES)}"
        )
    start = midnight(parse_day(args.date, "--date")) if args.date is not None else None
    with open_store(args.db) as store:
        if args.vo is not None:
            unknown = store.unknown_name(vo=args.vo)
            if unknown is not None:
                raise ReportError(unknown)
        found = store.recomputations(
            vo=args.vo,
            states=(args.state,) if args.state is not None else None,
            start=start,
            end=start + timedelta(days=1) if start is not None else None,
        )
    if args.json:
        print(json.dumps([r.as_json() for r in found]))
        return 0
    for r in found:
        reason = " ".join(r.reason.split())  # one line per recomputation whatever it holds
        print(
            f"{r.id}\t{r.state}\t{r.vo}\t{r.start.isoformat()}\t{r.end.isoformat()}"
            f"\t{','.join(r.sites) or 'all'}\t{','.join(r.metrics) or 'all'}\t{r.requester}"
            f"\t{reason}"
        )
    return 0


def _stored(store: Any, number: int) -> Recomputation:
    from vmsam.server.store import DOWNTIME_ID_MAX, UnknownRecomputation

    found = store.recomputation(number) if 1 <= number <= DOWNTIME_ID_MAX else None
    if found is None:
        raise UnknownRecomputation(number)
    return found  # type: ignore[no-any-return]


def _show(args: argparse.Namespace) -> int:
    import json

    from vmsam.cli import open_store

    with open_store(args.db) as store:
        found = _stored(store, args.id)
    if args.json:
        print(json.dumps(found.as_json()))
        return 0
    for key, value in found.as_json().items():
        shown = ", ".join(value) if isinstance(value, list) else value
        print(f"{key}: {shown if shown not in ('', None) else '-'}")
    return 0


def _decider(state: str) -> Any:
    def decide(args: argparse.Namespace) -> int:
        from vmsam.cli import calling_actor, open_store
        from vmsam.server.recomputations import decide

        with open_store(args.db) as store:
            _stored(store, args.id)  # an id no column holds is unknown, not a database error
            _print("", decide(store, args.id, state, by=calling_actor()))
        return 0

    return decide


def _settings(args: argparse.Namespace) -> Any:
    """``[recomputations]`` of --config, its outage replaced by --outage when given."""
    from vmsam.shared.config import load_settings
    from vmsam.shared.errors import ReportError

    settings = load_settings(args.config).recomputations
    if args.outage is None:
        return settings
    try:
        seconds = float(args.outage)
    except ValueError:
        seconds = -1.0
    if not 60 <= seconds <= 31 * 86400:
        raise ReportError("--outage must be a number of seconds from 60 to 31 days")
    return settings._replace(outage=seconds)


def _found(args: argparse.Namespace, store: Any) -> list[Candidate]:
    from vmsam.cli import parse_time_option
    from vmsam.server.recomputations import candidates

    start, end = parse_time_option(args.start, "--start"), parse_time_option(args.end, "--end")
    assert start is not None and end is not None
    return candidates(store, start=start, end=end, vo=args.vo, settings=_settings(args))


def _candidates(args: argparse.Namespace) -> int:
    import json

    from vmsam.cli import open_store

    with open_store(args.db) as store:
        found = _found(args, store)
    if args.json:
        print(json.dumps([candidate.as_json() for candidate in found]))
        return 0
    for c in found:
        print(f"{c.source}\t{c.start.isoformat()}\t{c.end.isoformat()}\t{c.reason}")
    return 0


def _accept(args: argparse.Namespace) -> int:
    """Request the candidate that starts and ends exactly at --start and --end (as
    ``candidates`` printed it) as the caller's own recomputation."""
    from vmsam.cli import calling_actor, open_store
    from vmsam.server.recomputations import request
    from vmsam.shared.errors import ReportError

    with open_store(args.db) as store:
        found = [c for c in _found(args, store) if (c.start, c.end) == _bounds(args)]
        if args.source is not None:
            found = [c for c in found if c.source == args.source]
        if not found:
            raise ReportError(
                f"no candidate runs from {args.start} to {args.end}: see vmsam recompute"
                " candidates (already requested ones are left out)"
            )
        chosen = found[0]
        added = request(
            store,
            vo=args.vo,
            reason=args.reason or chosen.reason,
            requester=_requester(args.requester),
            requester_email=args.email,
            start=chosen.start,
            end=chosen.end,
            sites=chosen.sites,
            metrics=chosen.metrics,
            source=chosen.source,
            by=calling_actor(),
        )
    _print("", added)
    return 0


def _bounds(args: argparse.Namespace) -> tuple[Any, Any]:
    from vmsam.cli import parse_time_option

    return parse_time_option(args.start, "--start"), parse_time_option(args.end, "--end")


def add_commands(commands: Any, db_help: str, config_help: str) -> None:
    """``recompute add|list|show|apply|reject|revoke|candidates|accept``."""
    recompute = commands.add_parser(
        "recompute",
        help="periods in which monitoring failed: request, decide, revoke, candidates (audited)",
    )
    sub = recompute.add_subparsers(dest="recompute_command", required=True)
    add = sub.add_parser("add", help="request a recomputation (pending until applied)")
    add.add_argument("--db", help=db_help)
    add.add_argument("--vo", required=True, help="the VO whose A/R it changes")
    add.add_argument("--start", required=True, help=TIME_HELP)
    add.add_argument("--end", required=True, help=f"{TIME_HELP}; excluded")
    add.add_argument("--reason", required=True, help="why monitoring failed (free text)")
    _requester_arguments(add)
    add.add_argument("--site", action="append", help="only this site (repeat; none: every site)")
    add.add_argument(
        "--metric", action="append", help="only this metric (repeat; none: every metric)"
    )
    add.set_defaults(handler=_add)

    listing = sub.add_parser("list", help="every recomputation, oldest start first")
    listing.add_argument("--db", help=db_help)
    listing.add_argument("--vo", help="only this VO's")
    listing.add_argument("--state", help="only those pending, applied, rejected or revoked")
    listing.add_argument("--date", help="only those overlapping this day, YYYY-MM-DD (UTC)")
    listing.add_argument("--json", action="store_true", help="as JSON")
    listing.set_defaults(handler=_list)

    show = sub.add_parser("show", help="one recomputation, with its decision")
    show.add_argument("--db", help=db_help)
    show.add_argument("id", type=int, metavar="ID", help="its id (recompute list)")
    show.add_argument("--json", action="store_true", help="as JSON")
    show.set_defaults(handler=_show)

    for name, state, text in (
        ("apply", "applied", "apply a pending recomputation: A/R of its period changes"),
        ("reject", "rejected", "reject a pending recomputation"),
        ("revoke", "revoked", "revoke a pending or applied one (it stays listed)"),
    ):
        decision = sub.add_parser(name, help=text)
        decision.add_argument("--db", help=db_help)
        decision.add_argument("id", type=int, metavar="ID", help="its id (recompute list)")
        decision.set_defaults(handler=_decider(state))

    for name, text in (
        ("candidates", "periods vmsam proposes: silences of the whole store (broker outages)"),
        ("accept", "request the candidate of exactly --start to --end as your own"),
    ):
        command = sub.add_parser(name, help=text)
        command.add_argument("--db", help=db_help)
        command.add_argument("--config", help=config_help)
        command.add_argument("--start", required=True, help=TIME_HELP)
        command.add_argument("--end", required=True, help=f"{TIME_HELP}; excluded")
        command.add_argument(
            "--outage", help="seconds of silence that count (default [recomputations] outage)"
        )
        if name == "candidates":
            command.add_argument("--vo", help="leave out those requested for this VO")
            command.add_argument("--json", action="store_true", help="as JSON")
            command.set_defaults(handler=_candidates)
        else:
            command.add_argument("--vo", required=True, help="the VO whose A/R it changes")
            command.add_argument("--source", help="the candidate's source (broker-outage)")
            command.add_argument("--reason", help="why (default: the candidate's own)")
            _requester_arguments(command)
            command.set_defaults(handler=_accept)


def _requester_arguments(parser: Any) -> None:
    parser.add_argument("--requester", help="who asks (default: the local user)")
    parser.add_argument("--email", help="the requester's e-mail address")
