"""Downtimes declared, corrected and removed: each change checked, then written with its
entry in the audit log, its version (the rules of settled days read the versions in force
when they were settled) and a move of the revision, in the caller's one transaction."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from vmsam.server.store import _models as m
from vmsam.server.store import _read
from vmsam.server.store._records import Actor, Downtime, storable
from vmsam.server.store._write import audited, bump_revision, endpoint_ids, take_turns
from vmsam.shared.errors import DuplicateDowntime, UnknownDowntime

# the key of the advisory lock that makes PostgreSQL's downtime writes take turns (SQLite's
# take turns anyway): two identical declarations at once cannot both pass the duplicate check
_WRITE_LOCK = 0x766D73616E
D = m.DOWNTIMES
V = m.DOWNTIME_VERSIONS


def checked(downtime: Downtime) -> Downtime:
    """``downtime`` with its times in UTC; ``ValueError`` for one that cannot be stored."""
    if downtime.start.utcoffset() is None or downtime.end.utcoffset() is None:
        raise ValueError("downtime start and end must carry a time zone")
    if downtime.end <= downtime.start:
        raise ValueError("a downtime must end after it starts")
    for name, value in (("endpoint", downtime.endpoint), ("service type", downtime.service_type)):
        if not value.strip():
            raise ValueError(f"a downtime needs a {name}")
        if not storable(value) or len(value.encode("utf-8")) > m.MAX_KEY_BYTES:
            raise ValueError(f"not a valid {name}: {value[:80]!r}")
    if not storable(downtime.description):
        raise ValueError("the description holds a NUL character or a lone surrogate")
    return dataclasses.replace(
        downtime, start=downtime.start.astimezone(UTC), end=downtime.end.astimezone(UTC)
    )


def add(connection: Connection, downtime: Downtime, by: Actor | None) -> Downtime:
    """Store ``downtime`` (its id is given by the database); DuplicateDowntime when the
    same one is stored already."""
    take_turns(connection, _WRITE_LOCK)
    _refuse_duplicate(connection, downtime)
    endpoint_id = _endpoint_id(connection, downtime)
    now = datetime.now(UTC)
    downtime_id = connection.execute(
        sa.insert(D).returning(D.c.id),
        {**_columns(downtime), "endpoint_id": endpoint_id, "created_at": now},
    ).scalar_one()
    added = dataclasses.replace(downtime, id=downtime_id)
    _record_version(connection, added, endpoint_id, now)
    _changed(connection, by, "create", None, added)
    return added


def correct(connection: Connection, corrected: Downtime, by: Actor | None) -> Downtime:
    """Replace the stored downtime of ``corrected.id`` with ``corrected``: UnknownDowntime,
    DuplicateDowntime when another stored one is the same. Nothing is written when nothing
    changes."""
    take_turns(connection, _WRITE_LOCK)
    current = _existing(connection, corrected.id)
    if current == corrected:
        return current
    _refuse_duplicate(connection, corrected)
    endpoint_id = _endpoint_id(connection, corrected)
    connection.execute(
        sa.update(D)
        .where(D.c.id == corrected.id)
        .values(**_columns(corrected), endpoint_id=endpoint_id)
    )
    now = datetime.now(UTC)
    _retire_version(connection, corrected.id, now)
    _record_version(connection, corrected, endpoint_id, now)
    _changed(connection, by, "update", current, corrected)
    return corrected


def remove(connection: Connection, downtime_id: int, by: Actor | None) -> Downtime:
    """Remove the downtime of ``downtime_id`` and give what it was; UnknownDowntime."""
    take_turns(connection, _WRITE_LOCK)
    current = _existing(connection, downtime_id)
    connection.execute(sa.delete(D).where(D.c.id == downtime_id))
    _retire_version(connection, downtime_id, datetime.now(UTC))
    _changed(connection, by, "delete", current, None)
    return current


def _record_version(
    connection: Connection, downtime: Downtime, endpoint_id: int, now: datetime
) -> None:
    connection.execute(
        sa.insert(V),
        {
            **_columns(downtime),
            "downtime_id": downtime.id,
            "endpoint_id": endpoint_id,
            "recorded_at": now,
        },
    )


def _retire_version(connection: Connection, downtime_id: int, now: datetime) -> None:
    connection.execute(
        sa.update(V)
        .where(V.c.downtime_id == downtime_id, V.c.retired_at.is_(None))
        .values(retired_at=now)
    )


def _existing(connection: Connection, downtime_id: int) -> Downtime:
    found = _read.downtime(connection, downtime_id)
    if found is None:
        raise UnknownDowntime(downtime_id)
    return found


def _refuse_duplicate(connection: Connection, downtime: Downtime) -> None:
    same = _read.downtimes(
        connection,
        endpoint=downtime.endpoint,
        service_type=downtime.service_type,
        start=downtime.start,
        end=downtime.end,
    )
    for other in same:
        if other.id != downtime.id and other.same_period(downtime):
            raise DuplicateDowntime(other.id)


def _endpoint_id(connection: Connection, downtime: Downtime) -> int:
    key = (downtime.endpoint, downtime.service_type)
    return endpoint_ids(connection, [key])[key]


def _columns(downtime: Downtime) -> dict[str, Any]:
    return {
        "start": downtime.start,
        "end": downtime.end,
        "scheduled": downtime.scheduled,
        "description": downtime.description,
    }


def _changed(
    connection: Connection,
    by: Actor | None,
    action: str,
    before: Downtime | None,
    after: Downtime | None,
) -> None:
    """The audit entry of a change (when someone is named), and the revision moved on: the
    API's cached answers and the kept daily figures of every process are out of date."""
    if by is not None:
        changed = after or before
        assert changed is not None
        audited(
            connection,
            by,
            action=action,
            kind="downtime",
            object_id=changed.id,
            before=before.as_json() if before else None,
            after=after.as_json() if after else None,
        )
    bump_revision(connection)
