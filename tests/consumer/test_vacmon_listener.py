"""``vmsam vacmon`` as a real process receiving real UDP datagrams, on SQLite and
PostgreSQL: VacMon's messages stored (a repeated one changing nothing), hostile ones
rejected into the dead letters with their reasons while the listener keeps going, and exit
0 on SIGTERM."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.consumer.test_consumer_faults import Outage
from tests.support.consumer import BIN, database, wait_until
from tests.support.net import free_port
from vmsam.server.store import Store

NOW = datetime.now(UTC).replace(microsecond=0)
SPACE = "vac01.example.org"


def stamp(moment: datetime) -> int:
    return int(moment.timestamp())


MACHINE = {
    "message_type": "machine_status",
    "space": SPACE,
    "site": "SITE-A",
    "factory": "f1.example.org",
    "machinetype": "dteam",
    "uuid": "0b6a1e2c-vm-1",
    "state": "running",
    "created_time": stamp(NOW - timedelta(hours=2)),
    "started_time": stamp(NOW - timedelta(hours=2)) + 20,
    "heartbeat_time": stamp(NOW - timedelta(minutes=5)),
    "time_sent": stamp(NOW - timedelta(minutes=4)),
    "num_processors": 8,
    "hs06": 80.0,
    "vac_version": "Vac 3.2",
    "something_new": {"nested": True},
}
FACTORY_IDLE = {
    "message_type": "factory_status",
    "space": "vac02.example.org",
    "site": "SITE-A",
    "factory": "f2.example.org",
    "time_sent": stamp(NOW - timedelta(minutes=3)),
    "running_machines": 0,
    "running_processors": 0,
}
MACHINETYPE_IDLE = {
    "message_type": "machinetype_status",
    "space": "vac02.example.org",
    "site": "SITE-A",
    "factory": "f2.example.org",
    "machinetype": "atlas",
    "time_sent": stamp(NOW - timedelta(minutes=3)),
    "running_machines": 0,
}
SHUTDOWN = {
    **MACHINE,
    "state": "shutdown",
    "shutdown_time": stamp(NOW - timedelta(minutes=1)),
    "shutdown_message": "300 Nothing to do",
    "time_sent": stamp(NOW - timedelta(seconds=30)),
}
HOSTILE: list[tuple[bytes, str]] = [
    (b"\xff\xfe not json at all", "not JSON"),
    (b"[1, 2, 3]", "a JSON list, not an object"),
    (json.dumps({"space": SPACE}).encode(), "no message_type"),
    (json.dumps({"message_type": "machine_status"}).encode(), "no space"),
    (json.dumps({**MACHINE, "uuid": 42}).encode(), "uuid is not a string"),
    (json.dumps({**MACHINE, "heartbeat_time": "soon"}).encode(), "heartbeat_time is not a number"),
    (
        json.dumps({**MACHINE, "time_sent": stamp(NOW + timedelta(days=400))}).encode(),
        "time_sent",
    ),
    (json.dumps({**MACHINE, "padding": "x" * 20_000}).encode(), "bytes; at most 16384"),
    (json.dumps({**FACTORY_IDLE, "running_machines": -1}).encode(), "running_machines"),
    (json.dumps({**MACHINETYPE_IDLE, "running_machines": float("nan")}).encode(), "a count"),
    (json.dumps({**MACHINE, "space": "vac\ud800"}).encode(), "space is not valid Unicode"),
    (json.dumps({**MACHINE, "site": "s" * 600}).encode(), "site is longer than 512 bytes"),
    (b"[" * 60_000, "bytes; at most"),
    (b"[" * 5_000 + b"]" * 5_000, "not JSON"),
    (json.dumps({**MACHINE, "started_time": True}).encode(), "started_time is not a number"),
    (json.dumps({**MACHINE, "created_time": 0}).encode(), "created_time 0 is not a plausible"),
]


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database(request.param, tmp_path) as url:
        yield url


def listener(db_url: str, port: int, tmp_path: Path, *metrics: str) -> subprocess.Popen[str]:
    config = tmp_path / "vmsam.toml"
    config.write_text("[vacmon]\nidle_hold = 600\n")
    process = subprocess.Popen(
        [
            *(str(BIN / "vmsam"), "vacmon", "--config", str(config)),
            *("--db", db_url, "--listen", f"127.0.0.1:{port}", *metrics),
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    return process


def send(port: int, bodies: list[bytes]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for body in bodies:
            sender.sendto(body, ("127.0.0.1", port))


def vms(url: str) -> list[Any]:
    with Store(url) as store:
        found, _ = store.vm_activity(
            {SPACE, "vac02.example.org"}, NOW - timedelta(days=1), NOW + timedelta(days=1)
        )
        return found


def idle(url: str) -> list[Any]:
    with Store(url) as store:
        _, found = store.vm_activity(
            {SPACE, "vac02.example.org"}, NOW - timedelta(days=1), NOW + timedelta(days=1)
        )
        return found


def letters(url: str) -> list[str]:
    with Store(url) as store:
        _, found = store.dead_letters(limit=100)
        return [letter.reason for letter in found]


def listening(process: subprocess.Popen[str]) -> None:
    assert process.stderr is not None
    line = process.stderr.readline()
    assert '"listening"' in line, line


def test_the_listener_stores_vacmon_messages_and_rejects_hostile_ones(
    db_url: str, tmp_path: Path
) -> None:
    port, metrics_port = free_port(), free_port()
    process = listener(db_url, port, tmp_path, "--metrics-port", str(metrics_port))
    try:
        listening(process)
        send(port, [json.dumps(m).encode() for m in (MACHINE, FACTORY_IDLE, MACHINETYPE_IDLE)])
        wait_until(lambda: len(vms(db_url)) == 1 and len(idle(db_url)) == 2, 30, "3 stored")
        first = vms(db_url)
        send(port, [json.dumps(MACHINE).encode()] * 3)  # repeated: nothing changes
        send(port, [body for body, _ in HOSTILE])
        wait_until(lambda: len(letters(db_url)) == len(HOSTILE), 30, "hostile ones rejected")
        assert vms(db_url) == first
        send(port, [json.dumps(SHUTDOWN).encode()])  # still listening after all that
        wait_until(lambda: vms(db_url)[0].state == "shutdown", 30, "the shutdown stored")
        scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
        assert f'vmsam_vacmon_datagrams_total{{outcome="rejected"}} {len(HOSTILE)}.0' in scraped
        assert 'vmsam_vacmon_datagrams_total{outcome="received"}' in scraped
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    (vm,) = vms(db_url)
    assert vm.first_seen == NOW - timedelta(hours=2)
    assert vm.last_seen == NOW - timedelta(minutes=1)  # the shutdown time
    assert vm.shutdown_message == "300 Nothing to do"
    spans = {(r.machinetype, r.end - r.start) for r in idle(db_url)}
    assert spans == {("", timedelta(minutes=10)), ("atlas", timedelta(minutes=10))}
    reasons = letters(db_url)
    for _, reason in HOSTILE:
        assert any(reason in found for found in reasons), (reason, reasons)
    assert all(found.startswith("vacmon: ") and "\n" not in found for found in reasons)
    assert process.stderr is not None
    log = process.stderr.read()
    assert "Traceback" not in log
    (stopped,) = [json.loads(line) for line in log.splitlines() if '"stopped"' in line]
    assert stopped["rejected"] == len(HOSTILE)
    assert stopped["signal"] == "SIGTERM"


def test_a_bad_listen_address_is_a_one_line_error(tmp_path: Path) -> None:
    run = subprocess.run(
        [str(BIN / "vmsam"), "vacmon", "--db", f"sqlite:///{tmp_path}/x.db", "--listen", "nope"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 78
    assert run.stderr.strip() == "vmsam vacmon: listen address 'nope' is not HOST:PORT"


def test_an_address_in_use_is_a_one_line_error(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        run = subprocess.run(
            [
                *(str(BIN / "vmsam"), "vacmon", "--db", f"sqlite:///{tmp_path}/x.db"),
                *("--listen", f"127.0.0.1:{port}"),
            ],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert run.returncode == 78
    assert run.stderr.startswith(f"vmsam vacmon: cannot listen on 127.0.0.1:{port}")
    assert len(run.stderr.strip().splitlines()) == 1


def failures(metrics_port: int) -> float:
    scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
    (value,) = re.findall(r"^vmsam_vacmon_store_failures_total (\S+)$", scraped, re.MULTILINE)
    return float(value)


def test_what_arrives_while_the_database_is_down_is_stored_when_it_is_back(
    db_url: str, tmp_path: Path
) -> None:
    Store(db_url).upgrade()  # the schema, before the outage
    trouble = Outage(db_url)
    port, metrics_port = free_port(), free_port()
    process = listener(trouble.consumer_url, port, tmp_path, "--metrics-port", str(metrics_port))
    try:
        listening(process)
        send(port, [json.dumps(MACHINE).encode()])
        wait_until(lambda: len(vms(db_url)) == 1, 30, "the VM stored")
        trouble.begin()
        send(port, [json.dumps(SHUTDOWN).encode()])
        wait_until(lambda: failures(metrics_port) >= 1, 60, "a failed store")
        trouble.end()
        wait_until(lambda: vms(db_url)[0].state == "shutdown", 60, "stored once it is back")
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
    finally:
        trouble.close()
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert process.stderr is not None
    log = process.stderr.read()
    assert '"store failed"' in log and "Traceback" not in log
