"""Faults around ``vmsam consume`` (a real process): the broker restarted under load, the
database gone for a while, the consumer SIGKILLed with messages in hand, two consumers
sharing a virtual-topic queue. Whatever happens: nothing lost, nothing stored twice."""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterator

import pytest

from broker.consumer import ConsumerOptions
from tests.support.consumer import (
    ConsumerProcess,
    Proxy,
    Sender,
    counts,
    database,
    pg_server,
    records,
    send,
    sqlite_locked,
    via_proxy,
    wait_until,
    write_config,
)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> Iterator[str]:
    with database(request.param, tmp_path) as url:
        counts(url)  # the schema, before any consumer starts
        yield url


@pytest.fixture
def queue_name() -> str:
    return f"/queue/vmsam.faults.{uuid.uuid4().hex}"


class Outage:
    """The database unavailable to the consumer, the way each one can be: PostgreSQL behind a
    proxy that drops every connection, SQLite with the write lock held by someone else."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.proxy = Proxy(pg_server(url)) if url.startswith("postgresql") else None
        self._lock: contextlib.AbstractContextManager[None] | None = None

    @property
    def consumer_url(self) -> str:
        return via_proxy(self.url, self.proxy) if self.proxy else self.url

    def begin(self) -> None:
        if self.proxy:
            self.proxy.cut()
        else:
            self._lock = sqlite_locked(self.url)
            self._lock.__enter__()

    def end(self) -> None:
        if self.proxy:
            self.proxy.restore()
        elif self._lock is not None:
            self._lock.__exit__(None, None, None)
            self._lock = None

    def close(self) -> None:
        self.end()
        if self.proxy:
            self.proxy.close()


@pytest.fixture
def outage(db_url) -> Iterator[Outage]:
    trouble = Outage(db_url)
    yield trouble
    trouble.close()


def test_broker_restarted_mid_stream_the_consumer_reconnects_and_stores_all_once(
    activemq, db_url, queue_name, tmp_path
):
    config = write_config(tmp_path / "consumer.toml", [activemq.address], queue_name, db_url)
    bodies = records(6000)
    sender = Sender(activemq.address, queue_name, chunk=100)
    publishing = threading.Thread(target=sender.send, args=(bodies,), kwargs={"pause": 0.02})
    with ConsumerProcess(config) as consumer:
        consumer.wait_event("subscribed")
        publishing.start()
        try:
            wait_until(lambda: sender.sent >= 2000, 60, "2000 messages sent")
            wait_until(
                lambda: consumer.metric("vmsam_consumer_results_stored_total") > 0,
                30,
                "the first results stored",
            )
            activemq.stop()
        finally:
            activemq.start()
        publishing.join(180)
        assert not publishing.is_alive()
        sender.close()
        wait_until(lambda: counts(db_url)[0] == 6000, 120, "all 6000 stored")
        consumer.wait_event("subscribed", 2)
        assert consumer.events("disconnected")
        assert consumer.alive()
        assert consumer.terminate() == 0
    assert counts(db_url) == (6000, 0)


def test_database_unavailable_for_a_while_the_consumer_waits_then_resumes(
    activemq, db_url, outage, queue_name, tmp_path
):
    config = write_config(
        tmp_path / "consumer.toml", [activemq.address], queue_name, outage.consumer_url
    )
    with ConsumerProcess(config) as consumer:
        consumer.wait_event("subscribed")
        send(activemq.address, queue_name, records(1000))
        wait_until(lambda: counts(db_url)[0] == 1000, 60, "the first 1000 stored")
        outage.begin()
        prefetch = ConsumerOptions().prefetch
        try:
            send(activemq.address, queue_name, records(prefetch + 1000))
            # with nothing acked the broker holds back after the prefetch: the 1000 stored
            # before, then a full window in hand, and no more
            window = 1000 + prefetch
            wait_until(
                lambda: consumer.metric("vmsam_consumer_messages_received_total") >= window,
                60,
                "a full prefetch window in hand during the outage",
            )
            if outage.proxy:
                # the batch stays in hand: the consumer has tried it again since the window filled
                tried = len(consumer.events("store unavailable"))
                consumer.wait_event("store unavailable", max(2, tried + 1))
            assert consumer.metric("vmsam_consumer_messages_received_total") == window
            assert consumer.metric("vmsam_consumer_results_stored_total") == 1000
        finally:
            outage.end()
        total = 1000 + prefetch + 1000
        wait_until(lambda: counts(db_url)[0] == total, 120, f"all {total} stored")
        assert consumer.alive()
        assert consumer.metric("vmsam_consumer_results_stored_total") == total
        assert consumer.metric("vmsam_consumer_duplicates_total") == 0
        assert consumer.terminate() == 0
    assert counts(db_url) == (total, 0)


def test_sigkill_with_messages_in_hand_redelivery_is_deduplicated(
    activemq, db_url, outage, queue_name, tmp_path
):
    """The first consumer reaches the broker through a proxy. Its last commits are never
    acknowledged (the proxy swallows the ACKs), and its last batch is never committed (the
    database is away); then it is killed. The next consumer gets all of it again."""
    broker = Proxy((activemq.host, activemq.port))
    first_config = write_config(
        tmp_path / "first.toml", [broker.address], queue_name, outage.consumer_url
    )
    second_config = write_config(tmp_path / "second.toml", [activemq.address], queue_name, db_url)
    try:
        with ConsumerProcess(first_config) as first:
            first.wait_event("subscribed")
            send(activemq.address, queue_name, records(1000))
            wait_until(lambda: counts(db_url)[0] == 1000, 60, "1000 stored and acked")
            wait_until(lambda: sum(e["acked"] for e in first.events("commit")) == 1000, 10, "acks")
            broker.swallow()
            send(activemq.address, queue_name, records(400))
            wait_until(lambda: counts(db_url)[0] == 1400, 60, "400 stored, their acks lost")
            outage.begin()
            send(activemq.address, queue_name, records(300))
            wait_until(
                lambda: first.metric("vmsam_consumer_messages_received_total") == 1700,
                30,
                "300 more in hand",
            )
            first.kill()
        broker.close()
        outage.end()

        with ConsumerProcess(second_config) as second:
            wait_until(lambda: counts(db_url)[0] == 1700, 120, "all 1700 stored")
            wait_until(
                lambda: second.metric("vmsam_consumer_duplicates_total") >= 400,
                30,
                "the unacked 400 delivered again",
            )
            assert second.metric("vmsam_consumer_results_stored_total") == 300
            assert second.terminate() == 0
    finally:
        broker.close()
    assert counts(db_url) == (1700, 0)


def test_two_consumers_on_one_virtual_topic_queue_share_the_work(activemq, db_url, tmp_path):
    name = f"VirtualTopic.vmsam.test.{uuid.uuid4().hex}"
    shared_queue = f"/queue/Consumer.a.{name}"
    config = write_config(tmp_path / "consumer.toml", [activemq.address], shared_queue, db_url)
    with ConsumerProcess(config) as one, ConsumerProcess(config) as two:
        one.wait_event("subscribed")
        two.wait_event("subscribed")
        send(activemq.address, f"/topic/{name}", records(6000))
        wait_until(lambda: counts(db_url)[0] == 6000, 120, "all 6000 stored")
        stored = [c.metric("vmsam_consumer_results_stored_total") for c in (one, two)]
        received = [c.metric("vmsam_consumer_messages_received_total") for c in (one, two)]
        duplicates = [c.metric("vmsam_consumer_duplicates_total") for c in (one, two)]
        assert one.terminate() == 0
        assert two.terminate() == 0
    assert all(count > 0 for count in stored), stored
    assert sum(stored) == 6000
    assert sum(received) == 6000
    assert duplicates == [0, 0]
    assert counts(db_url) == (6000, 0)
