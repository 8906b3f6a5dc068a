"""The alerts' tables: what was last announced of each space in trouble, and the outbox of
notifications not delivered yet. Every write is one transaction of the store's engine."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from vmsam.server.alerts._evaluate import SpaceKey
from vmsam.server.store import Actor
from vmsam.server.store import _models as m
from vmsam.server.store._engine import WRITE, translated
from vmsam.server.store._write import bump_revision

STATES = m.ALERT_STATES
OUTBOX = m.ALERT_OUTBOX


@dataclass(frozen=True)
class Announced:
    """A space in trouble as its contacts were last told."""

    status: str
    since: datetime
    notified_at: datetime
    acked_by: str | None


@dataclass(frozen=True)
class Delivery:
    id: int
    channel: str
    address: str
    document: dict[str, Any]
    created: datetime
    attempts: int


@dataclass(frozen=True)
class Changes:
    """What one evaluation changes: spaces (re)announced, spaces recovered, and the
    notifications it causes (channel, address, document)."""

    announced: dict[SpaceKey, Announced]
    recovered: Sequence[SpaceKey]
    deliveries: Sequence[tuple[str, str, dict[str, Any]]]


def announced(engine: Engine) -> dict[SpaceKey, Announced]:
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
    with translated(engine, "read the alert states"), engine.connect() as connection:
        return {
            (site, endpoint, kind, vo): Announced(status, since, notified, acked_by)
            for site, endpoint, kind, vo, status, since, notified, acked_by in connection.execute(
                query
            )
        }


def record(engine: Engine, changes: Changes, now: datetime) -> None:
    """The state changes and the notifications they cause, together or not at all."""
    with (
        translated(engine, "store the alert states"),
        engine.connect().execution_options(**WRITE) as connection,
        connection.begin(),
    ):
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


def pending(engine: Engine) -> list[Delivery]:
    """The notifications not delivered yet, oldest first."""
    query = sa.select(
        OUTBOX.c.id,
        OUTBOX.c.channel,
        OUTBOX.c.address,
        OUTBOX.c.document,
        OUTBOX.c.created,
        OUTBOX.c.attempts,
    ).order_by(OUTBOX.c.id)
    with translated(engine, "read the alert outbox"), engine.connect() as connection:
        return [Delivery(*row) for row in connection.execute(query)]


def settle(engine: Engine, done: Iterable[int], failed: dict[int, str]) -> None:
    """Remove the delivered (or given up) notifications; count a failed attempt of the others."""
    with (
        translated(engine, "update the alert outbox"),
        engine.connect().execution_options(**WRITE) as connection,
        connection.begin(),
    ):
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
    engine: Engine, site: str, endpoint: str | None, by: Actor, now: datetime
) -> list[SpaceKey]:
    """Mark the open alerts of ``site`` (of its space ``endpoint`` alone if given) as
    acknowledged by ``by``, in the audit log too; the spaces acknowledged."""
    where = [STATES.c.site == site, STATES.c.acked_by.is_(None)]
    if endpoint is not None:
        where.append(STATES.c.endpoint == endpoint)
    with (
        translated(engine, "acknowledge the alerts"),
        engine.connect().execution_options(**WRITE) as connection,
        connection.begin(),
    ):
        rows = connection.execute(
            sa.select(
                STATES.c.id,
                STATES.c.site,
                STATES.c.endpoint,
                STATES.c.service_type,
                STATES.c.vo,
                STATES.c.status,
            ).where(*where)
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
