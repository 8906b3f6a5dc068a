"""One soak run: the services, the publishing phase with its faults, the drain, the
comparison; everything in a temporary directory removed afterwards (unless kept)."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.soak import pki
from bench.soak.compare import Comparison, compare
from bench.soak.consumers import Consumers
from bench.soak.faults import Fault, Injected, Injector
from bench.soak.faults import plan as fault_plan
from bench.soak.fleet import Fleet
from bench.soak.hostile import KINDS, HostileFactory, HostileSender
from bench.soak.ledger import Ledger
from bench.soak.postgres import PrivatePostgres
from tests.support.activemq import ActiveMQ
from tests.support.consumer import Drain
from vmsam.server.availability import DowntimeWindow
from vmsam.server.store import Store, StoreError
from vmsam.shared.config import BrokerSettings

# how long the drain may take at most, and how long nothing may happen before it gives up
DRAIN_TIMEOUT = 600.0
QUIET = 45.0
# consumers that received nothing new for this long, all subscribed, are idle
IDLE = 3.0
POLL = 0.5


@dataclass(frozen=True)
class Plan:
    minutes: float
    boots_per_second: float
    hostile: float
    seed: int
    faults: tuple[str, ...]
    faults_per_kind: int
    sites: int = 3
    spaces_per_site: int = 2
    consumers: int = 2
    keep: Path | None = None

    @property
    def seconds(self) -> float:
        return self.minutes * 60

    @property
    def boots(self) -> int:
        return max(1, round(self.seconds * self.boots_per_second))

    @property
    def hostile_count(self) -> int:
        """``hostile`` of all messages (4 per boot), and at least one of each kind."""
        if self.hostile <= 0:
            return 0
        valid = 4 * self.boots
        return max(len(KINDS), round(valid * self.hostile / (1 - self.hostile)))


@dataclass
class Outcome:
    plan: Plan
    valid_published: int = 0
    hostile_published: int = 0
    faults: list[Injected] = field(default_factory=list)
    comparison: Comparison = field(default_factory=Comparison)
    commits: Counter[str] = field(default_factory=Counter)
    exit_codes: list[int] = field(default_factory=list)
    left_on_queue: int = 0
    attempts: int = 0
    retries: int = 0
    errors: list[str] = field(default_factory=list)
    publish_seconds: float = 0.0
    drain_seconds: float = 0.0
    drained: bool = False

    def checks(self) -> list[tuple[str, bool]]:
        c = self.comparison
        planned = len(self.plan.faults) * self.plan.faults_per_kind
        return [
            ("every planned fault injected, every service back", self._faults_ok(planned)),
            ("no VM, sender or service error", not self.errors),
            ("drained: every spool empty, consumers idle", self.drained),
            ("every valid message stored exactly once", c.stored_once == c.valid > 0),
            ("lost 0", c.lost == 0),
            ("duplicated 0", c.duplicated == 0),
            ("no hostile message stored", c.unexpected == 0),
            ("every hostile message dead-lettered", c.hostile_missing == 0),
            ("dead letters only of hostile messages", c.not_hostile == 0),
            ("each hostile message dead-lettered once", c.dead_letter_copies == 0),
            ("each hostile kind with its reason", not c.wrong_reason),
            ("queue empty at the end", self.left_on_queue == 0),
            ("consumers exit 0 on SIGTERM", all(code == 0 for code in self.exit_codes)),
            ("A/R from the store == A/R from the record", c.ar_equal),
        ]

    def _faults_ok(self, planned: int) -> bool:
        return len(self.faults) == planned and not any(done.error for done in self.faults)

    @property
    def ok(self) -> bool:
        return all(passed for _, passed in self.checks())


def _wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    """Whether ``predicate`` came true within ``timeout``. Not ``wait_until`` of the tests'
    support: its 50 ms poll would ask the database and every consumer 20 times a second."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL)
    return True


class _Services:
    """The broker, the database server and the consumers, with their faults."""

    def __init__(self, root: Path, grid: pki.Grid, plan: Plan, stack: contextlib.ExitStack):
        self.database = PrivatePostgres()
        stack.callback(self.database.close)
        self.database.init()
        self.database.start()
        (root / "activemq").mkdir()
        self.broker = ActiveMQ(data_dir=root / "activemq")
        stack.callback(self.broker.close)
        self.broker.start()
        self.destination = f"/queue/vmsam.soak.{uuid.uuid4().hex[:8]}"
        self.consumers = Consumers(
            root / "consumers",
            grid,
            broker=self.broker.address,
            destination=self.destination,
            db=self.database.url,
            count=plan.consumers,
        )
        stack.callback(self.consumers.close)
        for process in self.consumers.running:
            process.wait_event("subscribed", timeout=120)

    def kill(self, fault: Fault) -> None:
        if fault.kind == "broker":
            self.broker.kill()
        elif fault.kind == "consumer":
            self.consumers.kill(fault.target)
        else:
            self.database.crash()

    def restart(self, fault: Fault) -> None:
        if fault.kind == "broker":
            self.broker.start()
        elif fault.kind == "consumer":
            self.consumers.restart(fault.target)
        else:
            self.database.start()


class _Drain:
    """Waits until the store holds everything the record says was published and the
    consumers are idle; or, when something is missing, until nothing has happened for
    ``QUIET`` seconds (what is missing then is lost)."""

    def __init__(self, consumers: Consumers, store: Store, expected: tuple[int, int]) -> None:
        self._consumers, self._store = consumers, store
        self._expected = expected
        self._last: tuple[object, ...] | None = None
        self._since = time.monotonic()

    def settled(self) -> bool:
        activity = self._consumers.activity()
        try:
            counts = self._store.results(limit=1)[0], self._store.dead_letters(limit=1)[0]
        except StoreError:  # the database is not back yet: not settled
            return False
        state = (activity, counts)
        now = time.monotonic()
        if state != self._last:
            self._last, self._since = state, now
            return False
        idle = activity is not None and activity[1] and now - self._since >= IDLE
        complete = counts[0] >= self._expected[0] and counts[1] >= self._expected[1]
        return idle and (complete or now - self._since >= QUIET)


@contextlib.contextmanager
def _workspace(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    root = Path(tempfile.mkdtemp(prefix="vmsam-soak-"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


class _Run:
    """The phases of one run, in the services, grid and record they share."""

    def __init__(
        self, plan: Plan, root: Path, stack: contextlib.ExitStack, say: Callable[[str], None]
    ):
        self.plan, self.root, self.say = plan, root, say
        self.grid = pki.build(root / "grid", plan.sites, plan.spaces_per_site)
        say(f"grid: {len(self.grid.sites)} sites, {len(self.grid.spaces)} spaces")
        self.services = _Services(root, self.grid, plan, stack)
        say(
            f"services: ActiveMQ {self.services.broker.address}, PostgreSQL 127.0.0.1:"
            f"{self.services.database.port}, {plan.consumers} consumers"
            f" on {self.services.destination}"
        )
        self.store = Store(self.services.database.url)
        stack.callback(self.store.close)
        midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        self.day = midnight - timedelta(days=1)
        self.ledger = Ledger()
        _declare_downtime(self.store, self.grid, self.day, self.ledger)

    def publish(self, stack: contextlib.ExitStack, outcome: Outcome) -> Fleet:
        """Boot the VMs, send the hostile messages and inject the faults; returns once
        every VM has booted and every fault and hostile message is done."""
        plan, services = self.plan, self.services
        fleet = Fleet(
            spaces=self.grid.spaces,
            root=self.root / "vms",
            broker=BrokerSettings(
                urls=(services.broker.address,), destination=services.destination
            ),
            ledger=self.ledger,
            boots=plan.boots,
            rate=plan.boots_per_second,
            day=self.day,
            seed=plan.seed,
        )
        stack.callback(fleet.close)
        hostile = HostileSender(
            HostileFactory(self.grid, self.root / "forgers", self.day, plan.seed),
            self.ledger,
            services.broker.address,
            services.destination,
            count=plan.hostile_count,
            seconds=plan.seconds,
            seed=plan.seed,
        )
        faults = fault_plan(
            plan.faults, plan.faults_per_kind, plan.seconds, plan.consumers, plan.seed
        )
        injector = Injector(
            faults,
            dict.fromkeys(plan.faults, services.kill),
            dict.fromkeys(plan.faults, services.restart),
        )
        self.say(
            f"publishing: {plan.boots} boots at {plan.boots_per_second:g}/s (4 results each),"
            f" {plan.hostile_count} hostile, {len(faults)} faults, seed {plan.seed}"
        )
        begin = time.monotonic()
        fleet.start()
        hostile.start()
        injector.start()
        injector.join()
        hostile.join()
        _wait_for(lambda: fleet.booted >= plan.boots, DRAIN_TIMEOUT)
        outcome.publish_seconds = time.monotonic() - begin
        for done in injector.done:
            self.say(
                f"  fault {done.fault.kind:8} at {done.started:6.1f} s,"
                f" back after {done.seconds:5.1f} s {done.error}"
            )
        outcome.hostile_published = hostile.sent
        outcome.faults = injector.done
        outcome.errors += hostile.errors
        return fleet

    def drain(self, fleet: Fleet, outcome: Outcome) -> None:
        """Every spool empty, everything stored or given up, the consumers stopped and the
        queue emptied by a bare subscriber."""
        begin = time.monotonic()
        spools_empty = _wait_for(lambda: fleet.pending() == 0, DRAIN_TIMEOUT)
        expected = (len(self.ledger.valid), len(self.ledger.hostile))
        drain = _Drain(self.services.consumers, self.store, expected)
        outcome.drained = spools_empty and _wait_for(drain.settled, DRAIN_TIMEOUT)
        outcome.drain_seconds = time.monotonic() - begin
        consumers = self.services.consumers
        outcome.exit_codes = consumers.stop()
        outcome.commits = consumers.commits()
        broker, destination = self.services.broker.address, self.services.destination
        outcome.left_on_queue = len(Drain(broker, destination).collect())
        outcome.valid_published = len(self.ledger.valid)
        outcome.attempts, outcome.retries = fleet.attempts, fleet.retries
        outcome.errors += fleet.errors

    def compare(self, outcome: Outcome) -> None:
        now = datetime.now(UTC)
        outcome.comparison = compare(
            self.ledger,
            self.store,
            self.grid.sites,
            pki.VO,
            start=self.day.date(),
            end=now.date(),
            now=now,
        )


def run(plan: Plan, say: Callable[[str], None] = print) -> Outcome:
    outcome = Outcome(plan)
    with _workspace(plan.keep) as root, contextlib.ExitStack() as stack:
        soak = _Run(plan, root, stack, say)
        fleet = soak.publish(stack, outcome)
        soak.drain(fleet, outcome)
        soak.compare(outcome)
    return outcome


def _declare_downtime(store: Store, grid: pki.Grid, day: datetime, ledger: Ledger) -> None:
    """A scheduled downtime of every space of the first site on the simulated day, as its
    admins would declare it through the API: the site's reliability then differs from its
    availability (a downtime of one space would not show: a site's spaces are ORed)."""
    start, end = day + timedelta(hours=6), day + timedelta(hours=8, minutes=30)
    first = grid.sites[0]
    windows = [
        DowntimeWindow(space.name, pki.SERVICE_TYPE, start, end)
        for space in grid.spaces
        if space.site == first
    ]
    for window in windows:
        store.add_downtime(window.endpoint, window.service_type, window.start, window.end)
    ledger.downtimes.extend(windows)
