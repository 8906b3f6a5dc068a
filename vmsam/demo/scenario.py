"""The simulated site of ``make demo``: its spaces and machinetypes, when their VMs boot, and
the faults injected on the way. Everything is drawn from one seeded generator, so every run
boots the same VMs with the same UUIDs (and so the same sampling decisions) on the same
hours of its days.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

VO = "lhcb"
SERVICE_TYPE = "uk.ac.gridpp.vac"
DOMAIN = "tier2.hep.manchester.ac.uk"
SITE = DOMAIN  # Vac's own fallback: the space name minus its first label
SPACES = (f"vac01.{DOMAIN}", f"vac02.{DOMAIN}")
MACHINETYPES = ("lhcb-prod", "lhcb-mc")
DAYS = 4
# VM boots per hour of each machinetype in each space (a Poisson process): a small Vac
# space whose pilot VMs live about a day, so two new VMs an hour per space
BOOTS_PER_HOUR = 0.5
# below 1: most boots are not tested, as on a production site
FRACTION = 0.25
# the probe's default minimum is 40 GB; a machinetype given less has a disk too small
SMALL_SCRATCH_BYTES = 20 * 10**9
HYPERVISORS = 12
# the generator's seed; this one lets every fault meet VMs that sample themselves
SEED = 173

FaultKind = Literal["cvmfs", "scratch", "mjf", "downtime", "no-boots"]


def short(space: str) -> str:
    """``vac01`` for ``vac01.tier2.hep.manchester.ac.uk``."""
    return space.split(".", 1)[0]


@dataclass(frozen=True)
class Fault:
    """Something wrong from ``start`` to ``end`` hours of day ``day`` (0 = the first) in
    ``spaces``, for VMs of ``machinetypes``."""

    kind: FaultKind
    day: int
    start: float
    end: float
    spaces: tuple[str, ...]
    machinetypes: tuple[str, ...]
    label: str

    def window(self, first: date) -> tuple[datetime, datetime]:
        midnight = datetime(first.year, first.month, first.day, tzinfo=UTC)
        midnight += timedelta(days=self.day)
        return midnight + timedelta(hours=self.start), midnight + timedelta(hours=self.end)

    def hits(self, first: date, space: str, machinetype: str, moment: datetime) -> bool:
        begin, end = self.window(first)
        return space in self.spaces and machinetype in self.machinetypes and begin <= moment < end

    def describe(self, first: date) -> str:
        begin, end = self.window(first)
        until = "24:00" if end.date() != begin.date() else f"{end:%H:%M}"
        where = ", ".join(short(space) for space in self.spaces)
        return f"{self.label} {begin:%H:%M}-{until} ({where})"


VAC01, VAC02 = SPACES
PROD, MC = MACHINETYPES
FAULTS = (
    Fault("cvmfs", 0, 6, 12, (VAC01,), MACHINETYPES, "cvmfs broken"),
    Fault("mjf", 1, 8, 20, (VAC01,), (MC,), f"MJF missing on {MC}"),
    Fault("downtime", 1, 10, 16, (VAC02,), MACHINETYPES, "scheduled downtime"),
    Fault("no-boots", 2, 0, 24, SPACES, MACHINETYPES, "no VM booted"),
    Fault("scratch", 3, 0, 24, (VAC02,), (PROD,), f"scratch disk 20 GB on {PROD}"),
)
DOWNTIME_DESCRIPTION = "hypervisor kernel upgrade"


@dataclass(frozen=True)
class TreeState:
    """What a VM's tree is like: one simulated tree per state, shared by its VMs."""

    space: str
    machinetype: str
    cvmfs_ok: bool = True
    scratch_ok: bool = True

    @property
    def name(self) -> str:
        broken = [("cvmfs-broken", self.cvmfs_ok), ("small-scratch", self.scratch_ok)]
        faults = [fault for fault, ok in broken if not ok] or ["healthy"]
        return "-".join([short(self.space), self.machinetype, *faults])


@dataclass(frozen=True)
class Boot:
    """One VM boot: when (simulated), which VM, and the tree it boots on."""

    at: datetime
    space: str
    machinetype: str
    uuid: str
    hostname: str
    tree: TreeState
    mjf: bool

    @property
    def name(self) -> str:
        return f"{self.at:%Y-%m-%dT%H%M%S}-{self.machinetype}-{self.uuid[:8]}"


def first_day(today: date | None = None) -> date:
    """The first simulated day: the ``DAYS`` whole UTC days before today are simulated."""
    return (today or datetime.now(UTC).date()) - timedelta(days=DAYS)


def _active(first: date, kind: FaultKind, space: str, machinetype: str, at: datetime) -> bool:
    return any(f.kind == kind and f.hits(first, space, machinetype, at) for f in FAULTS)


def _boot(first: date, rng: random.Random, space: str, machinetype: str, at: datetime) -> Boot:
    def broken(kind: FaultKind) -> bool:
        return _active(first, kind, space, machinetype, at)

    identity = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    host = f"{short(space)}-{rng.randint(1, HYPERVISORS):02d}.{DOMAIN}"
    tree = TreeState(space, machinetype, not broken("cvmfs"), not broken("scratch"))
    return Boot(at, space, machinetype, identity, host, tree, not broken("mjf"))


def boots(first: date) -> list[Boot]:
    """Every VM boot of the ``DAYS`` days from ``first``, in time order. None boots while no
    VM boots or its space is in downtime (the hypervisors are down)."""
    rng = random.Random(SEED)  # noqa: S311 - a reproducible scenario, not a secret
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    end = start + timedelta(days=DAYS)
    found = []
    for space in SPACES:
        for machinetype in MACHINETYPES:
            moment = start
            while True:
                moment += timedelta(seconds=round(rng.expovariate(BOOTS_PER_HOUR) * 3600))
                if moment >= end:
                    break
                if _active(first, "no-boots", space, machinetype, moment) or _active(
                    first, "downtime", space, machinetype, moment
                ):
                    continue
                found.append(_boot(first, rng, space, machinetype, moment))
    found.sort(key=lambda boot: (boot.at, boot.space, boot.machinetype))
    return found


def trees(schedule: list[Boot]) -> list[TreeState]:
    """The tree states the schedule boots on, in a stable order."""
    return sorted({boot.tree for boot in schedule}, key=lambda tree: tree.name)


def injected(first: date, day: date, space: str | None = None) -> list[str]:
    """The faults of ``day`` (in ``space``, or anywhere), as said in an explanation."""
    index = (day - first).days
    return [
        fault.describe(first)
        for fault in FAULTS
        if fault.day == index and (space is None or space in fault.spaces)
    ]
