"""The hand-over from stomp.py's I/O thread to the worker: batches close at their size or
at their time, nothing is lost, duplicated or reordered while both threads run."""

from __future__ import annotations

import threading
import time

from broker.consumer import _Delivery, _Inbox


def delivery(i: int) -> _Delivery:
    return _Delivery(str(i).encode(), {"ack": str(i)}, None)  # type: ignore[arg-type]


def test_a_batch_closes_at_its_size_and_the_rest_waits_for_the_next() -> None:
    inbox = _Inbox(3, wait=10.0)
    for i in range(7):
        inbox.put(delivery(i))
    assert [d.body for d in inbox.take(0.1)] == [b"0", b"1", b"2"]
    assert [d.body for d in inbox.take(0.1)] == [b"3", b"4", b"5"]
    assert inbox.arrived == 7


def test_a_batch_closes_at_its_time_after_its_first_message() -> None:
    inbox = _Inbox(100, wait=0.2)
    inbox.put(delivery(0))
    started = time.monotonic()
    batch = inbox.take(1.0)
    assert [d.body for d in batch] == [b"0"]
    assert 0.1 < time.monotonic() - started < 1.0


def test_nothing_arrives_within_the_timeout() -> None:
    inbox = _Inbox(10, wait=0.1)
    started = time.monotonic()
    assert inbox.take(0.2) == []
    assert time.monotonic() - started >= 0.15


def test_the_worker_is_woken_by_the_first_message_and_by_a_full_batch() -> None:
    inbox = _Inbox(50, wait=30.0)
    taken: list[list[_Delivery]] = []
    worker = threading.Thread(target=lambda: taken.append(inbox.take(30.0)))
    worker.start()
    time.sleep(0.1)
    for i in range(50):
        inbox.put(delivery(i))
    worker.join(5)
    assert not worker.is_alive(), "a full batch did not wake the worker"
    assert [d.body for d in taken[0]] == [str(i).encode() for i in range(50)]


def test_concurrent_puts_and_takes_lose_nothing_and_keep_the_order() -> None:
    inbox = _Inbox(97, wait=0.005)
    count = 200_000
    taken: list[bytes] = []

    def produce() -> None:
        for i in range(count):
            inbox.put(delivery(i))
            if i % 5000 == 0:
                time.sleep(0.001)  # let the worker find the inbox empty now and then

    producer = threading.Thread(target=produce)
    producer.start()
    deadline = time.monotonic() + 60
    while len(taken) < count and time.monotonic() < deadline:
        batch = inbox.take(0.05)
        assert len(batch) <= 97
        taken.extend(d.body for d in batch)
    producer.join()
    assert taken == [str(i).encode() for i in range(count)]
    assert inbox.arrived == count
