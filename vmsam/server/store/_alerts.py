"""The tables of ``vmsam alerts``: what was last announced of each space in trouble, and the
outbox of notifications not delivered yet. Each function runs in the caller's connection."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from vmsam.server.store import _models as m
from vmsam.server.store._records import Actor
from vmsam.server.store._write import bump_revision

STATES = m.ALERT_STATES
OUTBOX = m.ALERT_OUTBOX

SpaceKey = tuple[str, str, str, str]
"""site, endpoint, service type, VO"""


@dataclass(frozen=True)
class AnnouncedAlert:
    """A space in trouble as its site's contacts were last told."""

    status: str
    since: datetime
    notified_at: datetime
    acked_by: str | None


@dataclass(frozen=True)
class PendingAlert:
    """A notification to one contact, not delivered yet."""

    id: int
    channel: str
    address: str
    document: dict[str, Any]
    created: datetime
    attempts: int


@dataclass(frozen=True)
class AlertChanges:
    """What one evaluation changes: spaces (re)announced, spaces recovered, and the
    notifications it causes (channel, address, document)."""

    announced: Mapping[SpaceKey, AnnouncedAlert]
    recovered: Sequence[SpaceKey]
    deliveries: Sequence[tuple[str, str, dict[str, Any]]]


def announced(connection: Connection) -> dict[SpaceKey, AnnouncedAlert]:
    query = sa.select(
        STATES.c.site,
        STATES.c.endpoint,
        STATES.c.service_type,
        STATES.c.vo,
        STATES.c.status,
        STATES.c.since,
        STATES.c.notified_at,
        STATES.c.acked_by,
    )
    return {
        (site, endpoint, kind, vo): AnnouncedAlert(status, since, notified, acked_by)
        for site, endpoint, kind, vo, status, since, notified, acked_by in connection.execute(query)
    }


def record(connection: Connection, changes: AlertChanges, now: datetime) -> None:
    """The state changes and the notifications they cause (in the caller's transaction:
    together or not at all)."""
    for key in [*changes.recovered, *changes.announced]:
        connection.execute(sa.delete(STATES).where(*_space(key)))
    if changes.announced:
        connection.execute(
            sa.insert(STATES),
            [
                {
                    "site": site,
                    "endpoint": endpoint,
                    "service_type": kind,
                    "vo": vo,
                    "status": state.status,
                    "since": state.since,
                    "notified_at": state.notified_at,
                    "acked_by": state.acked_by,
                    "acked_at": None,
                }
                for (site, endpoint, kind, vo), state in changes.announced.items()
            ],
        )
    if changes.deliveries:
        connection.execute(
            sa.insert(OUTBOX),
            [
                {
                    "created": now,
                    "channel": channel,
                    "address": address,
                    "document": document,
                    "attempts": 0,
                    "last_error": None,
                }
                for channel, address, document in changes.deliveries
            ],
        )


def pending(connection: Connection) -> list[PendingAlert]:
    """The notifications not delivered yet, oldest first."""
    query = sa.select(
        OUTBOX.c.id,
        OUTBOX.c.channel,
        OUTBOX.c.address,
        OUTBOX.c.document,
        OUTBOX.c.created,
        OUTBOX.c.attempts,
    ).order_by(OUTBOX.c.id)
    return [PendingAlert(*row) for row in connection.execute(query)]


def settle(connection: Connection, done: Iterable[int], failed: Mapping[int, str]) -> None:
    """Remove the delivered (or given up) notifications; count a failed attempt of the others."""
    gone = list(done)
    if gone:
        connection.execute(sa.delete(OUTBOX).where(OUTBOX.c.id.in_(gone)))
    for delivery_id, reason in failed.items():
        connection.execute(
            sa.update(OUTBOX)
            .where(OUTBOX.c.id == delivery_id)
            .values(attempts=OUTBOX.c.attempts + 1, last_error=reason)
        )


def acknowledge(
    connection: Connection, site: str, endpoint: str | None, by: Actor, now: datetime
) -> list[SpaceKey]:
    """Mark the unacknowledged alerts of ``site`` (of its space ``endpoint`` alone if given)
    as ``by``'s, each in the audit log; the spaces acknowledged."""
    where = [STATES.c.site == site, STATES.c.acked_by.is_(None)]
    if endpoint is not None:
        where.append(STATES.c.endpoint == endpoint)
    rows = connection.execute(
        sa.select(
            STATES.c.id,
            STATES.c.site,
            STATES.c.endpoint,
            STATES.c.service_type,
            STATES.c.vo,
            STATES.c.status,
        )
        .where(*where)
        .order_by(STATES.c.endpoint, STATES.c.service_type, STATES.c.vo)
    ).all()
    name = by.name[: m.AUDIT_NAME_MAX]
    for row in rows:
        connection.execute(
            sa.update(STATES).where(STATES.c.id == row.id).values(acked_by=name, acked_at=now)
        )
        alert = {
            "site": row.site,
            "endpoint": row.endpoint,
            "service_type": row.service_type,
            "vo": row.vo,
            "status": row.status,
        }
        connection.execute(
            sa.insert(m.AUDIT),
            {
                "at": now,
                "actor": name,
                "client": by.client[: m.AUDIT_NAME_MAX],
                "action": "update",
                "kind": "alert",
                "object_id": row.id,
                "before": {**alert, "acked_by": None},
                "after": {**alert, "acked_by": name},
            },
        )
    if rows:
        bump_revision(connection)  # the audit log, as the API serves it, changed
    return [(r.site, r.endpoint, r.service_type, r.vo) for r in rows]


def _space(key: SpaceKey) -> tuple[sa.ColumnElement[bool], ...]:
    site, endpoint, kind, vo = key
    return (
        STATES.c.site == site,
        STATES.c.endpoint == endpoint,
        STATES.c.service_type == kind,
        STATES.c.vo == vo,
    )
