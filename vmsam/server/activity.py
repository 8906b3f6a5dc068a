"""Which spaces ran VMs and which reported none (docs/availability.md#no-vms-ran), from what
``vmsam vacmon`` stored. A space counts as idle only where a factory *reported* no VM of it
running and no VM of it was seen alive; a space nobody reported on is unknown, not idle.

``idle_periods`` is the source ``no-vms`` of recomputation candidates; ``activity_document``
is ``GET /api/v1/activity``; ``Activity.label`` labels the MISSING pieces of the status
timelines. Nothing here changes an A/R figure (ARGO's rules)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from vmsam.server.reports import resolve_vo
from vmsam.server.store import IdleSeen, Store, VmSeen
from vmsam.shared.errors import ReportError
from vmsam.shared.messages import format_timestamp

__all__ = [
    "NO_VMS",
    "UNKNOWN",
    "VMS_RAN",
    "Activity",
    "IdlePeriod",
    "VmPeriod",
    "activity_document",
    "idle_periods",
    "load_activity",
    "vm_periods",
]

NO_VMS = "no-vms"
VMS_RAN = "vms-ran"
UNKNOWN = "unknown"

Span = tuple[datetime, datetime]


@dataclass(frozen=True)
class IdlePeriod:
    """``space`` of ``site`` ran no VM from ``start`` to ``end``: its factories said so
    (``evidence``) and no VM of it was seen alive."""

    site: str
    space: str
    service_type: str
    start: datetime
    end: datetime
    evidence: str


@dataclass(frozen=True)
class VmPeriod:
    """VMs of ``space`` were alive from ``start`` to ``end`` (``vms`` of them in all)."""

    site: str
    space: str
    service_type: str
    start: datetime
    end: datetime
    vms: int


def _union(spans: Iterable[Span]) -> list[Span]:
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _minus(spans: Sequence[Span], holes: Sequence[Span]) -> list[Span]:
    """``spans`` (a union) without ``holes`` (a union)."""
    out = []
    for start, end in spans:
        cursor = start
        for hole_start, hole_end in holes:
            if hole_end <= cursor or hole_start >= end:
                continue
            if hole_start > cursor:
                out.append((cursor, hole_start))
            cursor = max(cursor, hole_end)
        if cursor < end:
            out.append((cursor, end))
    return out


def _clip(spans: Iterable[Span], start: datetime, end: datetime) -> list[Span]:
    return [(max(a, start), min(b, end)) for a, b in spans if b > start and a < end]


@dataclass
class Activity:
    """The VMs seen and idle reports of some spaces over [start, end); each space's spans
    are worked out once (a month's timeline asks about hundreds of pieces)."""

    start: datetime
    end: datetime
    vms: dict[str, list[VmSeen]]
    idle: dict[str, list[IdleSeen]]
    _ran: dict[str, list[Span]] = field(default_factory=dict, repr=False)
    _idle: dict[str, list[Span]] = field(default_factory=dict, repr=False)

    def vm_spans(self, space: str) -> list[Span]:
        if space not in self._ran:
            # a VM seen at one instant (a single message) still ran: one second at least
            spans = (
                (vm.first_seen, max(vm.last_seen, vm.first_seen + timedelta(seconds=1)))
                for vm in self.vms.get(space, [])
            )
            self._ran[space] = _clip(_union(spans), self.start, self.end)
        return self._ran[space]

    def idle_spans(self, space: str) -> list[Span]:
        if space not in self._idle:
            reported = _union((report.start, report.end) for report in self.idle.get(space, []))
            self._idle[space] = _minus(_clip(reported, self.start, self.end), self.vm_spans(space))
        return self._idle[space]

    def label(self, space: str, start: datetime, end: datetime) -> str:
        """What explains a MISSING piece of ``space`` from ``start`` to ``end``: VMs ran in
        it (failed or untested), factories reported none running, or nobody said."""
        if _clip(self.vm_spans(space), start, end):
            return VMS_RAN
        if _clip(self.idle_spans(space), start, end):
            return NO_VMS
        return UNKNOWN

    def evidence(self, space: str, start: datetime, end: datetime) -> str:
        factories = sorted(
            {
                report.factory + (f" ({report.machinetype})" if report.machinetype else "")
                for report in self.idle.get(space, [])
                if report.end > start and report.start < end
            }
        )
        return "no VM running, as reported by factory " + ", ".join(factories)


def load_activity(store: Store, spaces: Iterable[str], start: datetime, end: datetime) -> Activity:
    wanted = set(spaces)
    vms, idle = store.vm_activity(wanted, start, end)
    by_space_vms: dict[str, list[VmSeen]] = {}
    for vm in vms:
        by_space_vms.setdefault(vm.space, []).append(vm)
    by_space_idle: dict[str, list[IdleSeen]] = {}
    for report in idle:
        by_space_idle.setdefault(report.space, []).append(report)
    return Activity(start, end, by_space_vms, by_space_idle)


def _spaces(store: Store, vo: str, site: str | None) -> list[tuple[str, str, str]]:
    """(site, space, service type) of every endpoint of ``vo`` (of ``site``)."""
    found = sorted(
        {
            (member.site, member.endpoint, member.service_type)
            for member in store.members(vo)
            if site is None or member.site == site
        }
    )
    if site is not None and not found:
        unknown = store.unknown_name(site=site)
        raise ReportError(unknown or f"site {site!r:.80} has no endpoint for vo {vo!r}")
    return found


def idle_periods(
    store: Store, *, vo: str, start: datetime, end: datetime, site: str | None = None
) -> list[IdlePeriod]:
    """The periods in [start, end) when factories reported no VM of a space of ``site``
    (every site) running and none was seen alive: recomputation candidates (``no-vms``)."""
    spaces = _spaces(store, vo, site)
    activity = load_activity(store, (space for _, space, _ in spaces), start, end)
    return [
        IdlePeriod(member_site, space, kind, a, b, activity.evidence(space, a, b))
        for member_site, space, kind in spaces
        for a, b in activity.idle_spans(space)
    ]


def vm_periods(
    store: Store, *, vo: str, start: datetime, end: datetime, site: str | None = None
) -> list[VmPeriod]:
    """The periods in [start, end) when VMs of a space of ``site`` (every site) were alive."""
    spaces = _spaces(store, vo, site)
    activity = load_activity(store, (space for _, space, _ in spaces), start, end)
    return [
        VmPeriod(
            member_site,
            space,
            kind,
            a,
            b,
            sum(
                1 for vm in activity.vms.get(space, []) if vm.last_seen >= a and vm.first_seen <= b
            ),
        )
        for member_site, space, kind in spaces
        for a, b in activity.vm_spans(space)
    ]


def activity_document(
    store: Store,
    *,
    site: str,
    start: date | str | None = None,
    end: date | str | None = None,
    day: date | str | None = None,
    vo: str | None = None,
    now: datetime,
) -> dict[str, object]:
    """``GET /api/v1/activity``: per space of ``site``, the idle and VM-ran periods over the
    days asked for (``day_range``: at most 31)."""
    from vmsam.server.timelines import day_range, midnight  # timelines uses this module

    first, last = day_range(start, end, day, now=now)
    chosen_vo = resolve_vo(store, vo)
    since, until = midnight(first), min(midnight(last) + timedelta(days=1), now)
    idle = idle_periods(store, vo=chosen_vo, start=since, end=until, site=site)
    ran = vm_periods(store, vo=chosen_vo, start=since, end=until, site=site)
    spaces = _spaces(store, chosen_vo, site)
    return {
        "site": site,
        "vo": chosen_vo,
        "start": first.isoformat(),
        "end": last.isoformat(),
        "spaces": [
            {
                "space": space,
                "service_type": kind,
                "no_vms": [
                    {
                        "start": format_timestamp(period.start),
                        "end": format_timestamp(period.end),
                        "evidence": period.evidence,
                    }
                    for period in idle
                    if (period.space, period.service_type) == (space, kind)
                ],
                "vms_ran": [
                    {
                        "start": format_timestamp(period.start),
                        "end": format_timestamp(period.end),
                        "vms": period.vms,
                    }
                    for period in ran
                    if (period.space, period.service_type) == (space, kind)
                ],
            }
            for _, space, kind in spaces
        ],
    }
