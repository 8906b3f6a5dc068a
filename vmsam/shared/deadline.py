"""Time kept one way for the hook, the publisher, the consumer and the probes: a deadline
is a ``time.monotonic()`` value (``Deadline`` wraps one where it is shared and divided),
and every retry waits a capped exponential, jittered ``Backoff`` through ``retry``.

The wall clock never bounds anything: it jumps when NTP or a VM resume sets it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Backoff", "Deadline", "left", "retry"]

_Result = TypeVar("_Result")


def left(until: float) -> float:
    """Seconds from now to ``until`` (a ``time.monotonic()`` value), never negative."""
    return max(0.0, until - time.monotonic())


class Deadline:
    """A point in time that several calls share."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.until = time.monotonic() + seconds

    @classmethod
    def at(cls, until: float) -> Deadline:
        """The deadline at ``until``, a ``time.monotonic()`` value."""
        deadline = cls(0.0)
        deadline.until = until
        deadline.seconds = left(until)
        return deadline

    def remaining(self) -> float:
        return left(self.until)

    def expired(self) -> bool:
        return self.remaining() == 0.0

    def share(self, fraction: float) -> Deadline:
        """A deadline ending ``fraction`` of the way from now to this one."""
        return Deadline(self.remaining() * fraction)

    def within(self, seconds: float) -> Deadline:
        """This deadline, or ``seconds`` from now if that comes first."""
        return Deadline.at(min(self.until, time.monotonic() + seconds))


class Backoff:
    """Delays that double from ``initial`` up to ``cap``, each drawn from its upper half so
    that a fleet of clients does not come back all at once."""

    def __init__(self, initial: float, cap: float) -> None:
        self.initial = initial
        self.cap = cap
        self.attempt = 0

    def next(self) -> float:
        import random  # not at import: the VM's boot path keeps time but never retries

        self.attempt += 1
        delay = min(self.cap, self.initial * 2 ** (self.attempt - 1))
        return random.uniform(delay / 2, delay)  # noqa: S311 - jitter, not a secret

    def reset(self) -> None:
        self.attempt = 0


def retry(
    action: Callable[[], _Result],
    *,
    on: type[Exception] | tuple[type[Exception], ...],
    backoff: Backoff,
    wait: Callable[[float], bool],
    failed: Callable[[Exception, int, float], None] | None = None,
) -> _Result | None:
    """``action()`` until it returns without raising ``on``. Each failure is told to
    ``failed(error, attempt, delay)``, then ``wait(delay)`` pauses; when ``wait`` says
    False (stopping, out of time) the retries end and the answer is None."""
    while True:
        try:
            return action()
        except on as error:
            delay = backoff.next()
            if failed is not None:
                failed(error, backoff.attempt, delay)
            if not wait(delay):
                return None
