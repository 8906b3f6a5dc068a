"""The tables of ``vmsam vacmon``: each VM's interval alive (``vm_activity``) and the
stretches in which a factory reported no VM of a space running (``idle_reports``). Both are
updated in place, so that a repeated datagram changes nothing. Each function runs in the
caller's connection."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from vmsam.server.store import _models as m
from vmsam.server.store._write import bump_revision, clean_headers, dialect_insert

VMS = m.VM_ACTIVITY
IDLE = m.IDLE_REPORTS


@dataclass(frozen=True)
class VmSeen:
    """A VM alive from ``first_seen`` to ``last_seen`` (one ``machine_status``, or the
    merge of several)."""

    space: str
    vm_uuid: str
    site: str
    factory: str
    machinetype: str
    first_seen: datetime
    last_seen: datetime
    state: str
    shutdown_message: str | None


@dataclass(frozen=True)
class IdleSeen:
    """A factory's report that no VM of ``space`` (of ``machinetype``; '' for all) ran,
    holding from ``start`` to ``end``."""

    space: str
    site: str
    factory: str
    machinetype: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Rejected:
    """A datagram not taken, with its one-line reason."""

    received_at: datetime
    reason: str
    body: bytes
    peer: str


@dataclass(frozen=True)
class ActivityWrite:
    """What one batch of datagrams changed: rows inserted or widened, dead letters."""

    vms: int
    idle: int
    rejected: int


def _merged_vms(seen: Sequence[VmSeen]) -> list[VmSeen]:
    """One entry per VM: PostgreSQL's upsert may not touch a row twice in one statement."""
    merged: dict[tuple[str, str], VmSeen] = {}
    for vm in seen:
        key = (vm.space, vm.vm_uuid)
        before = merged.get(key)
        merged[key] = vm if before is None else _widened(before, vm)
    return [merged[key] for key in sorted(merged)]


def _widened(before: VmSeen, vm: VmSeen) -> VmSeen:
    newest = vm if vm.last_seen >= before.last_seen else before
    return replace(
        newest,
        first_seen=min(before.first_seen, vm.first_seen),
        last_seen=max(before.last_seen, vm.last_seen),
    )


def save_vms(connection: Connection, seen: Sequence[VmSeen]) -> int:
    """Insert each VM, or widen its stored interval (the newest message gives the state)."""
    vms = _merged_vms(seen)
    if not vms:
        return 0
    statement = dialect_insert(connection, VMS)
    new = statement.excluded
    changes = (
        (VMS.c.first_seen > new.first_seen)
        | (VMS.c.last_seen < new.last_seen)
        | ((VMS.c.last_seen == new.last_seen) & (VMS.c.state != new.state))
    )
    later = new.last_seen >= VMS.c.last_seen
    statement = statement.on_conflict_do_update(
        index_elements=[VMS.c.space, VMS.c.vm_uuid],
        set_={
            "first_seen": sa.case(
                (new.first_seen < VMS.c.first_seen, new.first_seen), else_=VMS.c.first_seen
            ),
            "last_seen": sa.case(
                (new.last_seen > VMS.c.last_seen, new.last_seen), else_=VMS.c.last_seen
            ),
            "state": sa.case((later, new.state), else_=VMS.c.state),
            "shutdown_message": sa.case(
                (later & new.shutdown_message.is_not(None), new.shutdown_message),
                else_=VMS.c.shutdown_message,
            ),
            "factory": new.factory,
            "site": new.site,
            "machinetype": new.machinetype,
        },
        where=changes,
    )
    changed = connection.execute(
        statement,
        [
            {
                "space": vm.space,
                "vm_uuid": vm.vm_uuid,
                "site": vm.site,
                "factory": vm.factory,
                "machinetype": vm.machinetype,
                "first_seen": vm.first_seen,
                "last_seen": vm.last_seen,
                "state": vm.state,
                "shutdown_message": vm.shutdown_message,
            }
            for vm in vms
        ],
    )
    return max(changed.rowcount, 0)


def save_idle(connection: Connection, seen: Sequence[IdleSeen]) -> int:
    """Each report joins the stored stretch of its factory it overlaps, or starts one."""
    changed = 0
    for report in sorted(seen, key=lambda item: (_idle_key(item), item.start)):
        space, factory, machinetype = _idle_key(report)
        found = connection.execute(
            sa.select(IDLE.c.id, IDLE.c.start, IDLE.c.end)
            .where(
                IDLE.c.space == space,
                IDLE.c.factory == factory,
                IDLE.c.machinetype == machinetype,
                IDLE.c.end >= report.start,
                IDLE.c.start <= report.end,
            )
            .order_by(IDLE.c.start)
            .limit(1)
        ).first()
        if found is None:
            connection.execute(
                sa.insert(IDLE).values(
                    space=space,
                    site=report.site,
                    factory=factory,
                    machinetype=machinetype,
                    start=report.start,
                    end=report.end,
                )
            )
            changed += 1
        elif report.start < found.start or report.end > found.end:
            connection.execute(
                sa.update(IDLE)
                .where(IDLE.c.id == found.id)
                .values(start=min(found.start, report.start), end=max(found.end, report.end))
            )
            changed += 1
    return changed


def _idle_key(report: IdleSeen) -> tuple[str, str, str]:
    return report.space, report.factory, report.machinetype


def save_rejected(connection: Connection, rejected: Sequence[Rejected]) -> None:
    """Rejected datagrams as dead letters (the shifter's one place for input not taken); a
    datagram rejected again is kept once."""
    if not rejected:
        return
    connection.execute(
        dialect_insert(connection, m.DEAD_LETTERS).on_conflict_do_nothing(),
        [
            {
                "received_at": item.received_at,
                "reason": item.reason,
                "body": item.body,
                "headers": clean_headers([("source", "vacmon"), ("peer", item.peer)]),
                "digest": hashlib.sha256(b"vacmon\0" + item.body).hexdigest(),
            }
            for item in rejected
        ],
    )


def save(
    connection: Connection,
    vms: Sequence[VmSeen],
    idle: Sequence[IdleSeen],
    rejected: Sequence[Rejected],
) -> ActivityWrite:
    written = ActivityWrite(save_vms(connection, vms), save_idle(connection, idle), len(rejected))
    save_rejected(connection, rejected)
    if written.vms or written.idle:
        bump_revision(connection)  # the timelines' answers cached by the API change
    return written


def vms_between(
    connection: Connection, spaces: Collection[str], start: datetime, end: datetime
) -> list[VmSeen]:
    """The VMs of ``spaces`` alive at some moment of [start, end)."""
    if not spaces:
        return []
    query = (
        sa.select(VMS)
        .where(VMS.c.space.in_(sorted(spaces)), VMS.c.last_seen >= start, VMS.c.first_seen < end)
        .order_by(VMS.c.space, VMS.c.first_seen, VMS.c.vm_uuid)
    )
    return [
        VmSeen(
            space=row.space,
            vm_uuid=row.vm_uuid,
            site=row.site,
            factory=row.factory,
            machinetype=row.machinetype,
            first_seen=row.first_seen,
            last_seen=row.last_seen,
            state=row.state,
            shutdown_message=row.shutdown_message,
        )
        for row in connection.execute(query)
    ]


def idle_between(
    connection: Connection, spaces: Collection[str], start: datetime, end: datetime
) -> list[IdleSeen]:
    """The reported idle stretches of ``spaces`` that overlap [start, end)."""
    if not spaces:
        return []
    query = (
        sa.select(IDLE)
        .where(IDLE.c.space.in_(sorted(spaces)), IDLE.c.end > start, IDLE.c.start < end)
        .order_by(IDLE.c.space, IDLE.c.start, IDLE.c.factory)
    )
    return [
        IdleSeen(
            space=row.space,
            site=row.site,
            factory=row.factory,
            machinetype=row.machinetype,
            start=row.start,
            end=row.end,
        )
        for row in connection.execute(query)
    ]
