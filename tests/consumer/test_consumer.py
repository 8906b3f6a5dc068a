"""``vmsam consume``: end to end from the init hook, ack after commit, graceful shutdown,
settings, broker lists, metrics and logs. Real ActiveMQ, real PostgreSQL and SQLite."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.consumer import Consumer, ConsumerOptions
from tests.support.consumer import (
    BIN,
    ConsumerProcess,
    Drain,
    Proxy,
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
from tests.support.net import free_port
from vmsam.demo.simulate import VMLayout, build_vm
from vmsam.demo.simulate import write_config as write_vm_config
from vmsam.server.store import Store
from vmsam.shared import messages
from vmsam.shared.config import BrokerSettings

TESTS = ("cvmfs", "middleware", "scratch", "mjf")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> Iterator[str]:
    with database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def queue_name() -> str:
    return f"/queue/vmsam.consumer.{uuid.uuid4().hex}"


@contextlib.contextmanager
def consuming(consumer: Consumer, url: str) -> Iterator[Store]:
    """``consumer`` running in a thread on the store at ``url``; stopped and joined after."""
    store = Store(url)
    worker = threading.Thread(target=consumer.run, args=(store,))
    worker.start()
    try:
        yield store
    finally:
        consumer.stop()
        worker.join(60)
        store.close()
    assert not worker.is_alive()


def stored_total(url: str) -> int:
    return counts(url)[0]


def sample(consumer: Consumer, name: str) -> float:
    value = consumer.metrics.registry.get_sample_value(f"vmsam_consumer_{name}")
    return value if value is not None else 0.0


def test_init_hook_results_are_stored_once_with_site_endpoint_and_metric(
    activemq, db_url, queue_name, tmp_path
):
    config = write_config(tmp_path / "consumer.toml", [activemq.address], queue_name, db_url)
    with build_vm(VMLayout(tmp_path / "vm"), healthy=True) as vm, ConsumerProcess(config) as c:
        c.wait_event("subscribed")
        vm_config = write_vm_config(vm, broker_urls=[activemq.address], destination=queue_name)
        hook = subprocess.run(
            [str(BIN / "vmsam"), "init-hook", "--config", str(vm_config)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert hook.returncode == 0, hook.stdout + hook.stderr
        assert "published 4 message(s)" in hook.stdout
        wait_until(lambda: stored_total(db_url) >= 4, 30, "4 stored results")

        # the same messages again (a publisher retrying): no new result
        bodies = [m for m in _hook_messages(vm.layout.joboutputs / "vmsam-results.json") if m]
        assert len(bodies) == 4
        send(activemq.address, queue_name, bodies)
        wait_until(lambda: c.metric("vmsam_consumer_duplicates_total") == 4, 30, "4 duplicates")
        assert c.metric("vmsam_consumer_results_stored_total") == 4
        assert c.metric("vmsam_consumer_messages_received_total") == 8
        assert c.metric("vmsam_consumer_dead_letters_total") == 0
        assert c.metric("vmsam_consumer_commit_seconds_count") >= 2
        assert c.metric("vmsam_consumer_broker_connected") == 1
        assert c.terminate() == 0
        layout = vm.layout

    store = Store(db_url)
    try:
        total, results = store.results(limit=100)
        dead, _ = store.dead_letters()
    finally:
        store.close()
    assert (total, dead) == (4, 0)
    assert {r.metric for r in results} == {f"org.lhcb.WN-{t}" for t in TESTS}
    for result in results:
        assert result.site == "tier2.hep.manchester.ac.uk"
        assert result.endpoint == layout.space
        assert result.service_type == "uk.ac.gridpp.vac"
        assert result.vo == "lhcb"
        assert result.vm_uuid == layout.uuid
        assert result.gathered_at == layout.hostname
        assert result.status in messages.STATUSES
    events = c.events()  # every line of the log is one JSON object
    names = [e["event"] for e in events]
    assert names[0] == "subscribed"
    assert {"commit", "stopping", "disconnected", "stopped"} <= set(names)
    assert sum(e["stored"] for e in c.events("commit")) == 4
    assert sum(e["acked"] for e in c.events("commit")) == 8


def _hook_messages(path: Path) -> list[str]:
    import json

    document = json.loads(path.read_text())
    return list(document["messages"])


@pytest.mark.parametrize("ack_mode", ["client", "client-individual"])
def test_everything_committed_is_acked_and_nothing_is_left_on_the_queue(
    activemq, db_url, queue_name, ack_mode
):
    bodies = records(3000)
    send(activemq.address, queue_name, bodies)
    options = ConsumerOptions(ack_mode=ack_mode, batch_size=200, prefetch=400)
    consumer = Consumer(BrokerSettings(urls=(activemq.address,)), queue_name, options=options)
    with consuming(consumer, db_url):
        wait_until(lambda: sample(consumer, "results_stored_total") == 3000, 60, "3000 stored")
    assert counts(db_url) == (3000, 0)
    assert sample(consumer, "messages_received_total") == 3000
    # everything was acked: a newcomer finds the queue empty
    assert Drain(activemq.address, queue_name).collect() == []


def test_a_topic_is_consumed_while_subscribed(activemq, db_url):
    topic = f"/topic/vmsam.consumer.{uuid.uuid4().hex}"
    consumer = Consumer(BrokerSettings(urls=(activemq.address,)), topic)
    with consuming(consumer, db_url):
        wait_until(lambda: sample(consumer, "broker_connected") == 1, 30, "a subscription")
        send(activemq.address, topic, records(50))
        wait_until(lambda: sample(consumer, "results_stored_total") == 50, 30, "50 stored")
    assert counts(db_url) == (50, 0)


class SilentServer:
    """Accepts TCP connections and never says a word, as a hung broker does."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=16)
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"

    def close(self) -> None:
        self.sock.close()


def test_dead_and_silent_brokers_of_the_list_are_skipped(activemq, db_url, queue_name):
    silent = SilentServer()
    dead = f"127.0.0.1:{free_port()}"
    options = ConsumerOptions(connect_timeout=1.0, reconnect_initial=0.05, reconnect_max=0.1)
    settings = BrokerSettings(urls=(dead, silent.address, activemq.address))
    consumer = Consumer(settings, queue_name, options=options)
    send(activemq.address, queue_name, records(20))
    try:
        with consuming(consumer, db_url):
            wait_until(lambda: sample(consumer, "results_stored_total") == 20, 30, "20 stored")
    finally:
        silent.close()
    assert counts(db_url) == (20, 0)
    assert sample(consumer, "broker_connections_total") == 1


def test_sigterm_commits_and_acks_the_batch_in_hand_then_exits_0(
    activemq, db_url, queue_name, tmp_path, request
):
    """The database is unavailable when SIGTERM arrives: the batch in hand waits for it (within
    the grace period), is committed and acked; what the consumer did not take stays queued."""
    proxy = Proxy(pg_server(db_url)) if db_url.startswith("postgresql") else None
    url = via_proxy(db_url, proxy) if proxy else db_url
    counts(db_url)  # the schema exists before the consumer starts
    config = write_config(tmp_path / "consumer.toml", [activemq.address], queue_name, url)
    with ConsumerProcess(config) as consumer:
        consumer.wait_event("subscribed")
        with contextlib.nullcontext() if proxy else sqlite_locked(db_url):
            if proxy:
                proxy.cut()
            send(activemq.address, queue_name, records(5000))
            wait_until(
                lambda: consumer.metric("vmsam_consumer_messages_received_total") >= 500,
                30,
                "a batch in hand",
            )
            consumer.process.send_signal(signal.SIGTERM)
            if proxy:
                # the consumer waits for the database between attempts: the signal is seen
                consumer.wait_event("stopping")
                proxy.restore()
        assert consumer.process.wait(60) == 0
    if proxy:
        proxy.close()
    stored = _stored_uuids(db_url)
    left = {messages.decode(body).vm_uuid for body in Drain(activemq.address, queue_name).collect()}
    assert len(stored) + len(left) == 5000
    assert not stored & left, "a committed message was left unacked"
    assert stored and left
    assert consumer.events("stopped")


def _stored_uuids(url: str) -> set[str]:
    store = Store(url)
    try:
        total, results = store.results(limit=10000)
    finally:
        store.close()
    assert total == len(results)
    return {r.vm_uuid for r in results}


def test_settings_precedence_flag_over_environment_over_file(activemq, tmp_path):
    queue_name = f"/queue/vmsam.consumer.{uuid.uuid4().hex}"
    in_file, in_env, on_flag = (f"sqlite:///{tmp_path / n}.db" for n in ("file", "env", "flag"))
    config = write_config(tmp_path / "consumer.toml", [activemq.address], queue_name, in_file)
    other_queue = f"/queue/vmsam.consumer.{uuid.uuid4().hex}"

    with ConsumerProcess(config, env={"VMSAM_DB": in_env}, metrics=False) as consumer:
        consumer.wait_event("subscribed")
        send(activemq.address, queue_name, records(3))
        wait_until(lambda: Path(tmp_path / "env.db").exists(), 30, "the environment's database")
        wait_until(lambda: stored_total(in_env) == 3, 30, "3 stored where VMSAM_DB says")
        assert consumer.terminate() == 0

    command_line = ConsumerProcess(config, db=on_flag, env={"VMSAM_DB": in_env}, metrics=False)
    with command_line as consumer:
        consumer.wait_event("subscribed")
        send(activemq.address, queue_name, records(2))
        wait_until(lambda: Path(tmp_path / "flag.db").exists(), 30, "the flag's database")
        wait_until(lambda: stored_total(on_flag) == 2, 30, "2 stored where --db says")
        assert consumer.terminate() == 0
    assert stored_total(in_env) == 3
    assert not Path(tmp_path / "file.db").exists()

    # --destination over [consumer] destination
    flagged = subprocess.Popen(
        [
            *(str(BIN / "vmsam"), "consume", "--config", str(config)),
            *("--db", in_file, "--destination", other_queue),
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        send(activemq.address, other_queue, records(1))
        wait_until(lambda: Path(tmp_path / "file.db").exists(), 30, "the file's database")
        wait_until(lambda: stored_total(in_file) == 1, 30, "1 stored from --destination")
    finally:
        flagged.terminate()
        flagged.wait(60)


@pytest.mark.parametrize(
    ("config_text", "expected"),
    [
        ("[broker]\nurls = []\n", "no broker configured"),
        ('[broker]\nurls = ["no-port-here"]\n', "is not host:port"),
        ('[broker]\nurls = ["127.0.0.1:1"]\nssl = true\ncert = "/nonexistent.pem"\n', "TLS"),
        ('[broker]\nurls = ["127.0.0.1:1"]\n[consumer]\ndestination = ""\ndb = []\n', "db"),
        ("[broker\n", "not valid TOML"),
    ],
)
def test_unusable_settings_exit_78_with_a_one_line_reason(tmp_path, config_text, expected):
    config = tmp_path / "consumer.toml"
    config.write_text(config_text)
    done = subprocess.run(
        [str(BIN / "vmsam"), "consume", "--config", str(config), "--db", "sqlite://"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 78, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("vmsam consume: ")
    assert expected in done.stderr
