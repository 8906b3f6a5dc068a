"""The hook, ``vmsam send`` and ``vmsam consume`` end to end against a real RabbitMQ (its STOMP
adapter, guest/guest), as against ActiveMQ: RabbitMQ reads the STOMP ``host`` header as its
virtual host, so ``[broker] vhost = "/"`` is what makes it work (tests/test_broker_errors.py
shows what happens without)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import stomp

from tests.rabbitmq import RabbitMQ, rabbitmq_fixture  # noqa: F401 - the fixture
from tests.support.consumer import ConsumerProcess, counts, database, records, wait_until
from tests.test_hook import TESTS, check_consumer_rules, consumer_parse
from vmsam.demo.simulate import SimulatedVM, VMLayout, build_vm, write_config
from vmsam.server.trust import looks_signed, unwrapped
from vmsam.shared import messages
from vmsam.vm.spool import Spool

BIN = Path(sys.executable).parent


def vmsam(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(BIN / "vmsam"), *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    return done


class Subscriber:
    """An independent consumer of one RabbitMQ queue: a bare stomp.py client."""

    def __init__(self, broker: RabbitMQ, destination: str) -> None:
        self.bodies: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.arrived = threading.Condition()
        self.conn = stomp.Connection12([(broker.host, broker.port)], vhost=broker.vhost)
        self.conn.set_listener("", self)
        self.conn.connect(broker.user, broker.password, wait=True)
        self.conn.subscribe(destination, id="1", ack="auto", headers={"receipt": "subscribed"})
        with self.arrived:
            self.subscribed = False
            self.arrived.wait_for(lambda: self.subscribed, 15)
        assert self.subscribed, "RabbitMQ did not confirm the subscription"

    def on_receipt(self, frame: Any) -> None:
        with self.arrived:
            self.subscribed = True
            self.arrived.notify_all()

    def on_message(self, frame: Any) -> None:
        with self.arrived:
            self.bodies.append(frame.body)
            self.headers.append(dict(frame.headers))
            self.arrived.notify_all()

    def wait_for(self, count: int, timeout: float = 30) -> list[str]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.bodies) >= count, timeout)
            return list(self.bodies)

    def close(self) -> None:
        self.conn.disconnect()


def broker_keys(broker: RabbitMQ, **overrides: str) -> str:
    """The ``[broker]`` keys that log in to RabbitMQ: the login and the virtual host."""
    keys = {"user": broker.user, "password": broker.password, "vhost": broker.vhost, **overrides}
    return "".join(f"{name} = {json.dumps(value)}\n" for name, value in keys.items())


def hook_config(vm: SimulatedVM, broker: RabbitMQ, destination: str, **overrides: str) -> Path:
    config = write_config(vm, broker_urls=[broker.address], destination=destination)
    text = config.read_text()
    assert text.count("[broker]\n") == 1
    config.write_text(text.replace("[broker]\n", "[broker]\n" + broker_keys(broker, **overrides)))
    return config


def spooled(vm: SimulatedVM) -> int:
    return Spool(vm.layout.spool).count() if vm.layout.spool.exists() else 0


@pytest.fixture
def healthy_vm(tmp_path: Path) -> Iterator[SimulatedVM]:
    with build_vm(VMLayout(tmp_path / "vm"), healthy=True) as vm:
        yield vm


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: Any, tmp_path: Path) -> Iterator[str]:
    with database(request.param, tmp_path) as url:
        yield url


def test_hook_publishes_each_test_to_rabbitmq(healthy_vm: SimulatedVM, rabbitmq: RabbitMQ) -> None:
    destination = rabbitmq.queue("hook")
    config = hook_config(healthy_vm, rabbitmq, destination)
    subscriber = Subscriber(rabbitmq, destination)
    try:
        done = vmsam("init-hook", "--config", str(config))
        bodies = subscriber.wait_for(len(TESTS))
    finally:
        subscriber.close()
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"published {len(TESTS)} message(s), 0 left in the spool" in done.stdout
    assert "not sent" not in done.stdout
    assert spooled(healthy_vm) == 0
    assert len(bodies) == len(TESTS)
    # signed with the simulated VM's proxy ([broker] sign = auto): the records inside
    assert all(looks_signed(body.encode()) for body in bodies)
    bodies = [unwrapped(body.encode()).decode() for body in bodies]
    metrics = set()
    for body in bodies:
        fields = consumer_parse(body)
        check_consumer_rules(fields)
        assert fields["vmUUID"] == healthy_vm.layout.uuid
        metrics.add(fields["metricName"])
        messages.decode(body)
    assert metrics == {f"org.lhcb.WN-{test}" for test in TESTS}
    # RabbitMQ keeps what the publisher asked for: persistent messages
    assert {h.get("persistent") for h in subscriber.headers} == {"true"}


def test_hook_without_the_vhost_keeps_the_messages_for_send(
    healthy_vm: SimulatedVM, rabbitmq: RabbitMQ
) -> None:
    """The hook of a VM set up without ``vhost`` cannot publish; once the setting is right,
    ``vmsam send`` delivers what it spooled."""
    destination = rabbitmq.queue("hook-send")
    config = hook_config(healthy_vm, rabbitmq, destination, vhost="")
    done = vmsam("init-hook", "--config", str(config))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"published 0 message(s), {len(TESTS)} left in the spool" in done.stdout
    assert "Virtual host '127.0.0.1' access denied" in done.stdout
    assert spooled(healthy_vm) == len(TESTS)

    hook_config(healthy_vm, rabbitmq, destination)
    subscriber = Subscriber(rabbitmq, destination)
    try:
        sent = vmsam("send", "--config", str(config))
        bodies = subscriber.wait_for(len(TESTS))
    finally:
        subscriber.close()
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert f"sent {len(TESTS)} message(s), 0 left in the spool" in sent.stdout
    assert sent.stderr == ""
    assert len({consumer_parse(body)["metricName"] for body in bodies}) == len(TESTS)
    assert spooled(healthy_vm) == 0


def _config(path: Path, broker: RabbitMQ, queue: str) -> Path:
    """``vmsam send``'s and ``vmsam consume``'s config: the broker, a spool, a destination."""
    spool = path.parent / "outgoing"
    path.write_text(
        f"[broker]\nurls = [{json.dumps(broker.address)}]\ndestination = {json.dumps(queue)}\n"
        + broker_keys(broker)
        + f"\n[paths]\nspool = {json.dumps(str(spool))}\n"
        f"\n[consumer]\ndestination = {json.dumps(queue)}\n"
    )
    return path


def test_send_then_consume_stores_every_result_once(
    rabbitmq: RabbitMQ, db_url: str, tmp_path: Path
) -> None:
    queue = rabbitmq.queue("consume")
    vm, server = tmp_path / "vm", tmp_path / "server"
    vm.mkdir()
    server.mkdir()
    vm_config = _config(vm / "vmsam.toml", rabbitmq, queue)
    spool = Spool(vm / "outgoing")
    first, second = records(30), records(20)
    for body in first:
        spool.add(body)
    with ConsumerProcess(_config(server / "consumer.toml", rabbitmq, queue), db=db_url) as consumer:
        consumer.wait_event("subscribed", timeout=60)
        assert consumer.events("subscribed")[0]["broker"] == rabbitmq.address

        sent = vmsam("send", "--config", str(vm_config), "--budget", "30")
        assert sent.returncode == 0, sent.stderr
        assert "sent 30 message(s), 0 left in the spool" in sent.stdout
        wait_until(lambda: counts(db_url)[0] == 30, 60, "30 stored results")

        # sent again (at least once): the store keeps each result once
        for body in [*first[:5], *second]:
            spool.add(body)
        sent = vmsam("send", "--config", str(vm_config), "--budget", "30")
        assert "sent 25 message(s), 0 left in the spool" in sent.stdout
        wait_until(lambda: counts(db_url)[0] == 50, 60, "50 stored results")
        wait_until(
            lambda: sum(e["duplicates"] for e in consumer.events("commit")) == 5,
            60,
            "5 duplicates seen",
        )
        assert consumer.terminate() == 0
    assert counts(db_url) == (50, 0)
    assert consumer.events("connect failed") == []
    assert sum(e["stored"] for e in consumer.events("commit")) == 50
    # everything was acked: a newcomer's first message is one sent after the consumer left
    sentinel = records(1)[0]
    sender = stomp.Connection12([(rabbitmq.host, rabbitmq.port)], vhost=rabbitmq.vhost)
    sender.connect(rabbitmq.user, rabbitmq.password, wait=True)
    sender.send(queue, sentinel, headers={"persistent": "true", "receipt": "sentinel"})
    sender.disconnect(receipt="gone")
    newcomer = Subscriber(rabbitmq, queue)
    try:
        assert newcomer.wait_for(1)[0] == sentinel
    finally:
        newcomer.close()
