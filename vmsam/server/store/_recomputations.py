"""Recomputations requested, decided and revoked: each change checked, then written with its
entry in the audit log and a move of the revision (the kept daily figures and the API's
cached answers are out of date), in the caller's one transaction. And the silences of the
store: the periods in which no result at all was received (broker outage candidates)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from vmsam.server.store import _models as m
from vmsam.server.store._records import RECOMPUTATION_STATES, Actor, Recomputation, storable
from vmsam.server.store._write import audited, bump_revision, take_turns
from vmsam.shared.errors import DuplicateRecomputation, RecomputationConflict, UnknownRecomputation

R = m.RECOMPUTATIONS
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# the advisory lock that makes PostgreSQL's recomputation writes take turns, as downtimes'
_WRITE_LOCK = 0x766D73726563
# the most sites and metrics one recomputation names: a VO's sites fit many times over, and
# a request naming more is a mistake or an attack, not a failure of monitoring
MAX_NAMES = 500
REASON_MAX = 4096
# which state each one may move to, and how (docs/architecture.md)
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "pending": ("applied", "rejected", "revoked"),
    "applied": ("revoked",),
    "rejected": (),
    "revoked": (),
}
LIVE = ("pending", "applied")  # the states a duplicate is looked for among
_SOURCE = re.compile(r"[a-z][a-z0-9-]{0,39}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


def checked(recomputation: Recomputation) -> Recomputation:
    """``recomputation`` with its times in UTC and its names sorted once each;
    ``ValueError`` (one line) for one that cannot be stored."""
    start, end = recomputation.start, recomputation.end
    if start.utcoffset() is None or end.utcoffset() is None:
        raise ValueError("a recomputation's start and end must carry a time zone")
    if end <= start:
        raise ValueError("a recomputation must end after it starts")
    for what, text, limit in (
        ("vo", recomputation.vo, m.MAX_KEY_BYTES),
        ("requester", recomputation.requester, m.AUDIT_NAME_MAX),
        ("reason", recomputation.reason, REASON_MAX),
    ):
        if not text.strip():
            raise ValueError(f"a recomputation needs a {what}")
        if not storable(text) or len(text.encode("utf-8")) > limit:
            raise ValueError(f"not a valid {what}: {text[:80]!r} (at most {limit} bytes)")
    email = recomputation.requester_email
    if email is not None and (
        len(email) > m.RECOMPUTATION_EMAIL_MAX or not _EMAIL.fullmatch(email) or not storable(email)
    ):
        raise ValueError(f"not an e-mail address: {email[:80]!r}")
    if not _SOURCE.fullmatch(recomputation.source):
        raise ValueError(
            f"source {recomputation.source[:80]!r} is not a short name such as person or"
            " broker-outage (lower case, digits and -, at most 40)"
        )
    names = {}
    for what, given in (("sites", recomputation.sites), ("metrics", recomputation.metrics)):
        unique = tuple(sorted(set(given)))
        if len(unique) > MAX_NAMES:
            raise ValueError(f"at most {MAX_NAMES} {what} may be named, not {len(unique)}")
        for name in unique:
            if not name.strip() or not storable(name) or len(name.encode()) > m.MAX_KEY_BYTES:
                raise ValueError(f"not a valid name among the {what}: {name[:80]!r}")
        names[what] = unique
    return dataclasses.replace(
        recomputation,
        start=start.astimezone(UTC),
        end=end.astimezone(UTC),
        sites=names["sites"],
        metrics=names["metrics"],
    )


def add(connection: Connection, recomputation: Recomputation, by: Actor | None) -> Recomputation:
    """Store ``recomputation`` as pending (its id given by the database);
    DuplicateRecomputation when the same one is pending or applied already."""
    take_turns(connection, _WRITE_LOCK)
    same = listed(
        connection,
        vo=recomputation.vo,
        states=LIVE,
        start=recomputation.start,
        end=recomputation.end,
    )
    for other in same:
        if _scope(other) == _scope(recomputation):
            raise DuplicateRecomputation(other.id)
    stored = dataclasses.replace(
        recomputation, state="pending", created_at=datetime.now(UTC), decided_at=None
    )
    values = {name: value for name, value in _columns(stored).items() if name != "id"}
    new_id = connection.execute(sa.insert(R).returning(R.c.id), values).scalar_one()
    added = dataclasses.replace(stored, id=new_id)
    _changed(connection, by, "create", None, added)
    return added


def decide(connection: Connection, recomputation_id: int, state: str, by: Actor) -> Recomputation:
    """Move the recomputation to ``state`` as ``by`` decided: UnknownRecomputation,
    RecomputationConflict when its state does not allow it."""
    if state not in RECOMPUTATION_STATES:
        raise ValueError(f"state {state[:40]!r} is not one of {', '.join(RECOMPUTATION_STATES)}")
    take_turns(connection, _WRITE_LOCK)
    current = one(connection, recomputation_id)
    if current is None:
        raise UnknownRecomputation(recomputation_id)
    if state not in TRANSITIONS[current.state]:
        allowed = TRANSITIONS[current.state]
        raise RecomputationConflict(
            f"recomputation {recomputation_id} is {current.state}: it can"
            + (f" only become {' or '.join(allowed)}" if allowed else " no longer change")
        )
    decided = dataclasses.replace(
        current, state=state, decided_at=datetime.now(UTC), decided_by=by.name[: m.AUDIT_NAME_MAX]
    )
    connection.execute(
        sa.update(R)
        .where(R.c.id == recomputation_id)
        .values(state=state, decided_at=decided.decided_at, decided_by=decided.decided_by)
    )
    _changed(connection, by, "update", current, decided)
    return decided


def listed(
    connection: Connection,
    *,
    vo: str | None,
    states: Collection[str] | None,
    start: datetime | None,
    end: datetime | None,
) -> list[Recomputation]:
    """Recomputations overlapping [start, end) (either bound may be open), of ``vo`` and in
    ``states`` when given, oldest start first."""
    query = sa.select(R)
    if vo is not None:
        query = query.where(R.c.vo == vo)
    if states is not None:
        query = query.where(R.c.state.in_(sorted(states)))
    if start is not None:
        query = query.where(R.c.end > start)
    if end is not None:
        query = query.where(R.c.start < end)
    query = query.order_by(R.c.start, R.c.id)
    return [_record(row._mapping) for row in connection.execute(query)]


def one(connection: Connection, recomputation_id: int) -> Recomputation | None:
    found = connection.execute(sa.select(R).where(R.c.id == recomputation_id)).first()
    return _record(found._mapping) if found is not None else None


def silences(
    connection: Connection, *, start: datetime, end: datetime, at_least: timedelta
) -> list[tuple[datetime, datetime]]:
    """The periods within [start, end) of at least ``at_least`` in which the store received
    no result at all (``received_at``, any VO, any site), in time order. The edges count:
    nothing received from ``start`` on, or until ``end``, is a silence too."""
    sqlite = connection.dialect.name == "sqlite"
    # arrival times as plain numbers the database subtracts: SQLite keeps microseconds
    # since the epoch, PostgreSQL gives seconds since the epoch
    arrived: Any = (
        sa.type_coerce(m.RESULTS.c.received_at, sa.BigInteger())
        if sqlite
        else sa.func.extract("epoch", m.RESULTS.c.received_at)
    )
    unit = timedelta(microseconds=1) if sqlite else timedelta(seconds=1)
    width = at_least / unit
    # buckets of the silence's own length: a silence that long never lies within one, so
    # it runs from the last arrival of an occupied bucket to the first of the next occupied
    # one. One aggregate scan, a row per occupied bucket (a month of hours: 744 at most),
    # rather than every arrival paired with the one before it (bench/bench_candidates.py)
    bucket = arrived / int(width) if sqlite else sa.func.floor(arrived / width)
    occupied = connection.execute(
        sa.select(sa.func.min(arrived), sa.func.max(arrived))
        .where(m.RESULTS.c.received_at >= start, m.RESULTS.c.received_at < end)
        .group_by(bucket)
        .order_by(sa.func.min(arrived))
    )
    found = []
    silent_since = start
    for first, last in occupied:
        arrival = _moment(first, unit)
        if arrival - silent_since >= at_least:
            found.append((silent_since, arrival))
        silent_since = _moment(last, unit)
    if end - silent_since >= at_least:
        found.append((silent_since, end))
    return found


def _moment(value: Any, unit: timedelta) -> datetime:
    return _EPOCH + unit * float(value)  # exact for microseconds until the year 2255


def _scope(recomputation: Recomputation) -> tuple[Any, ...]:
    return (
        recomputation.vo,
        recomputation.start,
        recomputation.end,
        recomputation.sites,
        recomputation.metrics,
    )


def _columns(recomputation: Recomputation) -> dict[str, Any]:
    values = dataclasses.asdict(recomputation)
    values["sites"] = list(recomputation.sites)
    values["metrics"] = list(recomputation.metrics)
    return values


def _record(row: Any) -> Recomputation:
    return Recomputation(
        id=row["id"],
        vo=row["vo"],
        reason=row["reason"],
        requester=row["requester"],
        requester_email=row["requester_email"],
        start=row["start"],
        end=row["end"],
        sites=tuple(row["sites"]),
        metrics=tuple(row["metrics"]),
        state=row["state"],
        source=row["source"],
        created_at=row["created_at"],
        decided_at=row["decided_at"],
        decided_by=row["decided_by"],
    )


def _changed(
    connection: Connection,
    by: Actor | None,
    action: str,
    before: Recomputation | None,
    after: Recomputation,
) -> None:
    """The audit entry of a change (when someone is named), and the revision moved on."""
    if by is not None:
        audited(
            connection,
            by,
            action=action,
            kind="recomputation",
            object_id=after.id,
            before=before.as_json() if before else None,
            after=after.as_json(),
        )
    bump_revision(connection)
