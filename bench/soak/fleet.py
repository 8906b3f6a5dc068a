"""Simulated VMs: each boot is a VM of its own (UUID, host name, a space of one site), runs
the four WN tests (statuses drawn from the seeded RNG), signs the records with its space's
host certificate as the hook does (``vmsam.vm.signing.sign_all``), spools them in its own
durable dirq spool and publishes them with the real ``Publisher`` (persistent sends
confirmed by receipts). What the broker did not confirm stays in the spool, and a timer
tries again later, as ``vmsam send`` from a systemd timer does, until the spool is empty.

Time on the results is simulated: the boots of the run are spread over one UTC day (the day
before the run started), so that the day's A/R is made of many results, each of which
changes the figures, and stays within ARGO's 3-day window.
"""

from __future__ import annotations

import heapq
import random
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from bench.soak.ledger import Ledger
from bench.soak.pki import SERVICE_TYPE, VO, Space
from vmsam.shared.config import BrokerSettings, Settings
from vmsam.shared.messages import MetricResult, encode
from vmsam.vm.probeset import BUILTIN_TESTS
from vmsam.vm.publisher import Publisher
from vmsam.vm.runner import metric_name
from vmsam.vm.signing import sign_all
from vmsam.vm.spool import Spool

STATUSES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")
WEIGHTS = (0.88, 0.05, 0.04, 0.03)
DAY_SECONDS = 86_400
# a VM's send attempt: connect, send, receipts (the hook's budget is of this order)
ATTEMPT_SECONDS = 20.0
CONNECT_TIMEOUT = 5.0


@dataclass(frozen=True)
class Boot:
    """The VM of boot ``index``: everything about it drawn from its own RNG, so the run's
    VMs are the same for a seed whatever the threads do."""

    index: int
    space: Space
    vm_uuid: str
    moment: datetime
    statuses: tuple[str, ...]

    @classmethod
    def draw(
        cls, index: int, boots: int, spaces: tuple[Space, ...], day: datetime, seed: int
    ) -> Boot:
        rng = random.Random(f"{seed}/boot/{index}")
        span = DAY_SECONDS - len(BUILTIN_TESTS)
        moment = day + timedelta(seconds=int((index + rng.random()) * span / boots))
        return cls(
            index,
            rng.choice(spaces),
            str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            moment,
            tuple(rng.choices(STATUSES, WEIGHTS, k=len(BUILTIN_TESTS))),
        )

    @property
    def hostname(self) -> str:
        return f"vm{self.index:06d}.{self.space.name}"

    def results(self) -> list[MetricResult]:
        """The four WN results as the hook writes them (``vmsam.vm.hook._messages``)."""
        space = self.space
        out = []
        for offset, (test, status) in enumerate(zip(BUILTIN_TESTS, self.statuses, strict=True)):
            metric = metric_name(VO, test)
            out.append(
                MetricResult(
                    service_uri=space.name,
                    host_name=space.name,
                    service_flavour=SERVICE_TYPE,
                    site_name=space.site,
                    status=status,
                    metric_name=metric,
                    summary=f"{status} - {test} on {self.hostname}",
                    gathered_at=self.hostname,
                    timestamp=self.moment + timedelta(seconds=offset),
                    service_type=SERVICE_TYPE,
                    nagios_name=f"{metric}-/{VO}",
                    role="site",
                    vo_name=VO,
                    vo_fqan=f"/{VO}",
                    vm_uuid=self.vm_uuid,
                    vm_machinetype="soak-pilot",
                    probe_duration="0.250",
                    details=f"boot {self.index} of the soak",
                )
            )
        return out


class VM:
    def __init__(self, boot: Boot, root: Path, broker: BrokerSettings) -> None:
        self.boot = boot
        self.spool = Spool(root / boot.vm_uuid / "spool")
        self.settings = Settings(
            broker=broker._replace(sign="yes", sign_cert=str(boot.space.cert_file))
        )

    def start(self, ledger: Ledger) -> None:
        """Sign and spool the results: from here on the VM's record holds them."""
        results = self.boot.results()
        bodies, notes = sign_all([encode(result) for result in results], self.settings)
        if notes:
            raise RuntimeError(f"boot {self.boot.index} did not sign: {'; '.join(notes)}")
        for result, body in zip(results, bodies, strict=True):
            self.spool.add(body)
            ledger.add_valid(result)

    def send(self) -> int:
        """One ``vmsam send``: what is left in the spool afterwards."""
        publisher = Publisher(self.settings.broker, connect_timeout=CONNECT_TIMEOUT)
        return publisher.deliver(self.spool, time.monotonic() + ATTEMPT_SECONDS).remaining


@dataclass(order=True)
class _Due:
    at: float
    sequence: int
    action: Callable[[], None] = field(compare=False)


class Fleet:
    """Boots ``boots`` VMs at ``rate`` per second from ``start()`` on, and keeps sending
    their spools until every one is empty."""

    def __init__(
        self,
        *,
        spaces: tuple[Space, ...],
        root: Path,
        broker: BrokerSettings,
        ledger: Ledger,
        boots: int,
        rate: float,
        day: datetime,
        seed: int,
        retry_every: float = 5.0,
        workers: int = 4,
    ) -> None:
        self._spaces, self._root, self._broker = spaces, root, broker
        self._ledger, self._boots, self._rate = ledger, boots, rate
        self._day, self._seed, self._retry_every = day, seed, retry_every
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="soak-vm")
        self._queue: list[_Due] = []
        self._sequence = 0
        self._condition = threading.Condition()
        self._closed = False
        self._rng = random.Random(f"{seed}/timers")
        self.booted = 0
        self.waiting: set[int] = set()  # boots whose spool is not empty
        self.attempts = 0
        self.retries = 0
        self.errors: list[str] = []
        self._timer = threading.Thread(target=self._run_timer, name="soak-timer", daemon=True)

    def start(self) -> None:
        begin = time.monotonic()
        for index in range(self._boots):
            self._schedule(begin + index / self._rate, self._boot_action(index))
        self._timer.start()

    def pending(self) -> int:
        """Boots not yet done or with something left in their spool."""
        with self._condition:
            return self._boots - self.booted + len(self.waiting)

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify_all()
        self._timer.join()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _schedule(self, at: float, action: Callable[[], None]) -> None:
        with self._condition:
            self._sequence += 1
            heapq.heappush(self._queue, _Due(at, self._sequence, action))
            self._condition.notify_all()

    def _run_timer(self) -> None:
        with self._condition:
            while not self._closed:
                if not self._queue:
                    self._condition.wait()
                    continue
                wait = self._queue[0].at - time.monotonic()
                if wait > 0:
                    self._condition.wait(wait)
                    continue
                self._pool.submit(heapq.heappop(self._queue).action)

    def _boot_action(self, index: int) -> Callable[[], None]:
        def boot() -> None:
            drawn = Boot.draw(index, self._boots, self._spaces, self._day, self._seed)
            vm = VM(drawn, self._root, self._broker)
            try:
                vm.start(self._ledger)
            except Exception as exc:  # noqa: BLE001 - reported as a failed check, never hidden
                self._fail(index, f"boot {index}: {exc}")
                return
            with self._condition:
                self.waiting.add(index)
                self.booted += 1
            self._send(vm)

        return boot

    def _send(self, vm: VM) -> None:
        with self._condition:
            self.attempts += 1
        try:
            remaining = vm.send()
        except Exception as exc:  # noqa: BLE001 - reported as a failed check, never hidden
            self._fail(vm.boot.index, f"boot {vm.boot.index} send: {exc}")
            return
        if remaining == 0:
            with self._condition:
                self.waiting.discard(vm.boot.index)
            return
        with self._condition:
            self.retries += 1
        jitter = self._rng.uniform(0.5, 1.5)
        self._schedule(time.monotonic() + self._retry_every * jitter, lambda: self._send(vm))

    def _fail(self, index: int, error: str) -> None:
        """The boot is over: what its spool holds now counts as lost."""
        with self._condition:
            self.errors.append(error)
            if index not in self.waiting:
                self.booted += 1  # it failed before it was booted
            self.waiting.discard(index)
