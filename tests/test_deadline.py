"""The one deadline and retry helper."""

from __future__ import annotations

import time

import pytest

from vmsam.shared.deadline import Backoff, Deadline, left, retry


def test_left_is_never_negative() -> None:
    assert left(time.monotonic() - 5) == 0.0
    assert 0 < left(time.monotonic() + 10) <= 10


def test_a_deadline_is_shared_and_divided() -> None:
    deadline = Deadline(100)
    assert not deadline.expired()
    assert 0 < deadline.share(0.5).remaining() <= 50
    assert 0 < deadline.within(1).remaining() <= 1
    assert deadline.within(1000).until == deadline.until
    assert Deadline.at(time.monotonic() - 1).expired()


def test_backoff_doubles_to_its_cap_with_jitter_in_the_upper_half() -> None:
    backoff = Backoff(1.0, 8.0)
    delays = [backoff.next() for _ in range(6)]
    for delay, ceiling in zip(delays, [1, 2, 4, 8, 8, 8], strict=True):
        assert ceiling / 2 <= delay <= ceiling
    assert backoff.attempt == 6
    backoff.reset()
    assert backoff.next() <= 1.0


def test_retry_until_it_works_telling_each_failure() -> None:
    calls: list[int] = []
    told: list[tuple[str, int]] = []
    waited: list[float] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError(f"down {len(calls)}")
        return "up"

    answer = retry(
        flaky,
        on=ConnectionError,
        backoff=Backoff(0.01, 0.02),
        wait=lambda delay: waited.append(delay) is None,
        failed=lambda error, attempt, delay: told.append((str(error), attempt)),
    )
    assert answer == "up"
    assert told == [("down 1", 1), ("down 2", 2)]
    assert len(waited) == 2


def test_retry_ends_when_the_wait_says_so_and_lets_other_errors_through() -> None:
    def down() -> None:
        raise ConnectionError("down")

    assert (
        retry(down, on=ConnectionError, backoff=Backoff(0.01, 0.01), wait=lambda _: False) is None
    )

    def broken() -> None:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        retry(broken, on=ConnectionError, backoff=Backoff(0.01, 0.01), wait=lambda _: True)
