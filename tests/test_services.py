"""The real services the suite relies on are there and behave as the later tests assume."""

from __future__ import annotations

import threading
import uuid

import sqlalchemy as sa
import stomp


def _connect(broker) -> stomp.Connection12:
    conn = stomp.Connection12([(broker.host, broker.port)], heartbeats=(0, 0))
    conn.connect(wait=True)
    return conn


class _Collector(stomp.ConnectionListener):
    def __init__(self, expected: int) -> None:
        self.bodies: list[str] = []
        self.headers: list[dict[str, str]] = []
        self._expected = expected
        self.done = threading.Event()

    def on_message(self, frame) -> None:
        self.bodies.append(frame.body)
        self.headers.append(frame.headers)
        if len(self.bodies) >= self._expected:
            self.done.set()


def test_activemq_delivers_a_persistent_message_over_stomp_12(activemq):
    queue = f"/queue/vmsam.smoke.{uuid.uuid4().hex}"
    producer = _connect(activemq)
    producer.send(queue, "hello vmsam", headers={"persistent": "true"}, receipt="r1")
    producer.disconnect()

    consumer = _connect(activemq)
    collector = _Collector(1)
    consumer.set_listener("collector", collector)
    consumer.subscribe(queue, id="1", ack="client-individual")
    assert collector.done.wait(10), "the message never arrived"
    consumer.ack(collector.headers[0]["ack"])
    consumer.disconnect()
    assert collector.bodies == ["hello vmsam"]
    assert collector.headers[0]["persistent"] == "true"


def test_activemq_keeps_persistent_messages_across_a_restart(activemq):
    queue = f"/queue/vmsam.smoke.{uuid.uuid4().hex}"
    producer = _connect(activemq)
    for n in range(3):
        producer.send(queue, f"m{n}", headers={"persistent": "true"})
    producer.disconnect(receipt="bye")
    activemq.stop()
    activemq.start()

    consumer = _connect(activemq)
    collector = _Collector(3)
    consumer.set_listener("collector", collector)
    consumer.subscribe(queue, id="1", ack="auto")
    assert collector.done.wait(10), f"only {collector.bodies} survived the restart"
    consumer.disconnect()
    assert sorted(collector.bodies) == ["m0", "m1", "m2"]


def test_postgresql_is_reachable_and_transactional(pg_url):
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE smoke (id integer PRIMARY KEY)"))
        conn.execute(sa.text("INSERT INTO smoke VALUES (1)"))
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO smoke VALUES (2)"))
            conn.execute(sa.text("INSERT INTO smoke VALUES (1)"))  # violates the key
    except sa.exc.IntegrityError:
        pass
    with engine.connect() as conn:
        ids = conn.execute(sa.text("SELECT id FROM smoke ORDER BY id")).scalars().all()
        version = conn.execute(sa.text("SHOW server_version")).scalar_one()
    engine.dispose()
    assert ids == [1], "the failed transaction must leave nothing behind"
    assert int(version.split(".")[0]) >= 13
