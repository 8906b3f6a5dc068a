"""Faults at random moments of the publishing phase, from the seeded RNG, one at a time:
the broker killed (SIGKILL) and started again on its data directory, one of the consumers
killed and started again, the database server crashed (immediate shutdown) and started
again, each after a random time down."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

FAULT_KINDS = ("broker", "consumer", "database")
# how long a killed service stays down, seconds
DOWN_TIME = {"broker": (1.0, 5.0), "consumer": (0.5, 3.0), "database": (2.0, 8.0)}


@dataclass(frozen=True)
class Fault:
    kind: str
    at: float  # seconds after the start of publishing
    down: float
    target: int = 0  # which consumer


@dataclass
class Injected:
    fault: Fault
    started: float
    seconds: float  # down and back up again, restart included
    error: str = ""


def plan(
    kinds: tuple[str, ...], per_kind: int, seconds: float, consumers: int, seed: int
) -> list[Fault]:
    """``per_kind`` faults of each kind between 10 % and 80 % of the phase, in time order,
    so that the last one is over well before the drain."""
    rng = random.Random(f"{seed}/faults")
    faults = [
        Fault(
            kind,
            rng.uniform(0.1 * seconds, 0.8 * seconds),
            rng.uniform(*DOWN_TIME[kind]),
            rng.randrange(consumers),
        )
        for kind in kinds
        for _ in range(per_kind)
    ]
    return sorted(faults, key=lambda fault: fault.at)


class Injector:
    """Runs the plan in a thread; a fault that comes while the previous one lasts waits."""

    def __init__(
        self,
        faults: list[Fault],
        kill: dict[str, Callable[[Fault], None]],
        restart: dict[str, Callable[[Fault], None]],
    ) -> None:
        self.faults = faults
        self._kill, self._restart = kill, restart
        self.done: list[Injected] = []
        self._thread = threading.Thread(target=self._run, name="soak-faults", daemon=True)

    def start(self) -> None:
        self._begin = time.monotonic()
        self._thread.start()

    def join(self) -> None:
        self._thread.join()

    def _run(self) -> None:
        for fault in self.faults:
            time.sleep(max(0.0, self._begin + fault.at - time.monotonic()))
            started = time.monotonic()
            error = ""
            try:
                self._kill[fault.kind](fault)
                time.sleep(fault.down)
                self._restart[fault.kind](fault)
            except Exception as exc:  # noqa: BLE001 - a service that did not come back fails the run
                error = f"{type(exc).__name__}: {exc}"
            self.done.append(
                Injected(fault, started - self._begin, time.monotonic() - started, error)
            )
            if error:
                return
