"""Consume rate of ``vmsam consume`` against stomp.py's raw receive rate on the same broker.

Starts a private ActiveMQ and fills a queue with N valid WLCG records (distinct VM UUIDs
and timestamps: N distinct results), then measures in the same run, refilling the queue
before each:

1. raw: a bare stomp.py ``Connection12`` (TCP_NODELAY, ``auto_decode=False``) draining the
   queue with ``client-individual`` acks, one ACK per message sent from the listener, with
   the consumer's prefetch (a raw stomp.py client's rate). Not ``client`` acks: a bare
   client that acks cumulatively every K messages stalls for 30 s whenever K exceeds
   ActiveMQ's page size (200): the broker pages no more in until its expiry sweep;
2. ``vmsam consume`` (a real process) into a fresh SQLite file;
3. ``vmsam consume`` into a fresh PostgreSQL database created on ``--pg`` and dropped at
   the end.

The consumer's rate is stored-and-acked: from its ``subscribed`` log line to the commit
line of the batch that holds the N-th result (the ACK is sent before that line is written),
both timed by the consumer's own clock.

    .venv/bin/python bench/bench_consume.py [-n 50000]
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import stomp

from broker.consumer import ConsumerOptions
from tests.support.activemq import ActiveMQ
from vmsam.shared import messages
from vmsam.shared.config import BrokerSettings
from vmsam.vm.publisher import Publisher

QUEUE = "/queue/bench.consume"
VMSAM = Path(sys.executable).parent / "vmsam"
PG_DEFAULT = "postgresql+psycopg://postgres:postgres@127.0.0.1:5432/postgres"


def bodies(count: int) -> list[str]:
    """``count`` distinct results, within ARGO's age window."""
    now = datetime.now(UTC).replace(microsecond=0)
    out = []
    for i in range(count):
        space = f"vac{i % 20:02d}.example.ac.uk"
        out.append(
            messages.encode(
                messages.MetricResult(
                    service_uri=space,
                    host_name=space,
                    service_flavour="uk.ac.gridpp.vac",
                    site_name=f"UKI-BENCH-{i % 5}",
                    status=messages.STATUSES[i % 4],
                    metric_name=f"org.lhcb.WN-{('cvmfs', 'middleware', 'scratch', 'mjf')[i % 4]}",
                    summary=f"OK - bench message {i}",
                    gathered_at=f"vm{i}.{space}",
                    timestamp=now - timedelta(seconds=i % 86_400),
                    service_type="uk.ac.gridpp.vac",
                    nagios_name="org.lhcb.WN-cvmfs-/lhcb",
                    role="site",
                    vo_name="lhcb",
                    vo_fqan="/lhcb",
                    vm_uuid=str(uuid.uuid4()),
                    vm_machinetype="lhcb-pilot",
                    details="line one\nline two\n" + "x" * 400,
                )
            )
        )
    return out


def fill(broker: ActiveMQ, records: list[str]) -> None:
    publisher = Publisher(BrokerSettings(urls=(broker.address,), destination=QUEUE))
    report = publisher.publish_direct(records, time.monotonic() + 600)
    if report.sent != len(records):
        raise SystemExit(f"could not fill the queue: {report}")


class Raw:
    """The bare client: receives, acks each message, counts; nothing else."""

    def __init__(self, broker: ActiveMQ, count: int, prefetch: int) -> None:
        self.count = count
        self.received = 0
        self.done = threading.Event()
        self.conn = stomp.Connection12([(broker.host, broker.port)], auto_decode=False)
        self.conn.set_listener("raw", self)
        self.conn.connect(wait=True)
        self.prefetch = prefetch

    def on_connecting(self, host_and_port: tuple[str, int]) -> None:
        self.conn.transport.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def on_message(self, frame: Any) -> None:
        self.received += 1
        self.conn.ack(frame.headers["ack"])
        if self.received == self.count:
            self.done.set()

    def run(self) -> float:
        start = time.perf_counter()
        headers = {"activemq.prefetchSize": str(self.prefetch)}
        self.conn.subscribe(QUEUE, id="raw", ack="client-individual", headers=headers)
        if not self.done.wait(600):
            raise SystemExit(f"raw client got {self.received} of {self.count}")
        elapsed = time.perf_counter() - start
        self.conn.disconnect()
        return elapsed


def _timestamp(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["time"]).timestamp()


def consume(broker: ActiveMQ, db: str, count: int, workdir: Path) -> float:
    """Seconds for ``vmsam consume`` to store and ack ``count`` results into ``db``."""
    config = workdir / "consume.toml"
    config.write_text(
        f'[broker]\nurls = ["{broker.address}"]\n[consumer]\ndestination = "{QUEUE}"\n'
    )
    log_path = workdir / f"consume-{uuid.uuid4().hex[:6]}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(VMSAM), "consume", "--config", str(config), "--db", db],
            stderr=log,
            stdout=log,
        )
    try:
        deadline = time.monotonic() + 600
        stored, events = 0, []
        while stored < count:
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit(f"vmsam consume stored {stored} of {count}; see {log_path}")
            time.sleep(0.2)
            events = [json.loads(line) for line in log_path.read_text().splitlines()]
            stored = sum(e.get("stored", 0) for e in events if e["event"] == "commit")
    finally:
        process.terminate()
        process.wait(60)
    if sum(e["acked"] for e in events if e["event"] == "commit") < count:
        raise SystemExit("vmsam consume did not ack everything it stored")
    start = next(_timestamp(e) for e in events if e["event"] == "subscribed")
    total = 0
    for event in events:
        if event["event"] == "commit":
            total += event["stored"]
            if total >= count:
                return _timestamp(event) - start
    raise AssertionError("unreachable: the loop above saw every result stored")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=50_000, help="messages (default 50000)")
    parser.add_argument("--pg", default=PG_DEFAULT, help="PostgreSQL server (admin URL)")
    args = parser.parse_args()
    n = args.n
    records = bodies(n)
    size = sum(len(r) for r in records) / n
    options = ConsumerOptions()
    pg_name = f"vmsam_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(args.pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{pg_name}"'))
    try:
        with ActiveMQ() as broker, tempfile.TemporaryDirectory(prefix="vmsam-bench-") as tmp:
            workdir = Path(tmp)
            # warm the broker's JIT and store so that the first measured side is not penalised
            fill(broker, records[: n // 5])
            Raw(broker, n // 5, options.prefetch).run()

            fill(broker, records)
            raw = Raw(broker, n, options.prefetch).run()
            fill(broker, records)
            sqlite = consume(broker, f"sqlite:///{workdir / 'bench.db'}", n, workdir)
            fill(broker, records)
            pg_url = args.pg.rsplit("/", 1)[0] + f"/{pg_name}"
            postgres = consume(broker, pg_url, n, workdir)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
        admin.dispose()

    raw_rate = n / raw
    print(f"messages: {n} x {size:.0f} B, ActiveMQ, prefetch {options.prefetch}, ", end="")
    print(f"batches of {options.batch_size} / {options.batch_time * 1000:.0f} ms")
    print(f"stomp.py raw, client-individual acks:  {raw_rate:8.0f} msg/s  (the yardstick)")
    for name, elapsed in (("SQLite", sqlite), ("PostgreSQL", postgres)):
        rate = n / elapsed
        print(
            f"vmsam consume -> {name:<10} stored+acked: {rate:8.0f} msg/s"
            f"  ratio to raw {rate / raw_rate:4.2f}"
        )


if __name__ == "__main__":
    main()
