"""Consume rate of ``vmsam consume`` against a bare stomp.py client on the same broker.

Starts a private ActiveMQ and, in each run, fills a queue with N valid WLCG records of 1 KB
(distinct VM UUIDs and timestamps: N distinct results, in 20 series, each result newer than
the one before it in its series; with ``--late`` each older), then drains it, refilling it
before each of:

1. bare: a stomp.py ``Connection12`` (TCP_NODELAY, ``auto_decode=False``) that acks each
   message (``client-individual``, one ACK sent from the listener), with the consumer's
   prefetch: the yardstick. Not ``client`` acks: a bare client that acks cumulatively
   every K messages stalls for 30 s whenever K exceeds ActiveMQ's page size (200), the
   broker paging no more in until its expiry sweep;
2. ``vmsam consume`` (a real process, default options) into a fresh SQLite file;
3. ``vmsam consume`` into a fresh PostgreSQL database on ``--pg``;
4. two ``vmsam consume`` processes on the one queue into a fresh PostgreSQL database.

A consumer's rate is stored-and-acked, by its own log clock: from its ``subscribed`` line
to the ``commit`` line of the batch that holds the N-th result (a batch is acked before
that line is written). Two consumers are timed from the later of their ``subscribed``
lines, on what they stored after it. After each consumer run the database must hold N
results with N distinct VM UUIDs and no dead letter (exactly once). The table gives the
median of the runs, the ratio column the median of each run's ratio to the bare client of
the same run. PostgreSQL databases are created for the run and dropped after it.

    .venv/bin/python -m bench.bench_consume [-n 50000] [--runs 3] [--pg ADMIN_URL] [--late]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import stomp

from bench.bench_store import pg_database
from broker.consumer import ConsumerOptions
from tests.support.activemq import ActiveMQ
from vmsam.shared import messages
from vmsam.shared.config import BrokerSettings
from vmsam.vm.publisher import Publisher

QUEUE = "/queue/bench.consume"
VMSAM = Path(sys.executable).parent / "vmsam"
PG_DEFAULT = os.environ.get(
    "VMSAM_TEST_PG", "postgresql+psycopg://postgres:postgres@127.0.0.1:5432/postgres"
)
SIZE = 1024
SIDES = ("bare", "sqlite", "postgres", "two")
LABELS = {
    "bare": "stomp.py bare client, an ACK per message",
    "sqlite": "vmsam consume -> SQLite",
    "postgres": "vmsam consume -> PostgreSQL",
    "two": "2 x vmsam consume -> PostgreSQL",
}


def bodies(count: int, *, late: bool = False) -> list[str]:
    """``count`` distinct results of ``SIZE`` bytes each, within ARGO's age window, in 20
    series: each newer than the one before it in its series, as VMs publish them, or with
    ``late`` each older (every result late: the writer judges its series again around it)."""
    now = datetime.now(UTC).replace(microsecond=0)
    out = []
    for n in range(count):
        i = n if late else count - 1 - n
        space = f"vac{i % 20:02d}.example.ac.uk"
        result = messages.MetricResult(
            service_uri=space,
            host_name=space,
            service_flavour="uk.ac.gridpp.vac",
            site_name=f"UKI-BENCH-{i % 5}",
            status=messages.STATUSES[i % 4],
            metric_name=f"org.lhcb.WN-{('cvmfs', 'middleware', 'scratch', 'mjf')[i % 4]}",
            summary=f"OK - bench message {n:06d}",
            gathered_at=f"vm{i:06d}.{space}",
            timestamp=now - timedelta(seconds=i % 86_400),
            service_type="uk.ac.gridpp.vac",
            nagios_name="org.lhcb.WN-cvmfs-/lhcb",
            role="site",
            vo_name="lhcb",
            vo_fqan="/lhcb",
            vm_uuid=str(uuid.uuid4()),
            vm_machinetype="lhcb-pilot",
            details="line one\nline two\n",
        )
        short = len(messages.encode(result).encode())
        padded = result.details + "x" * (SIZE - short)
        out.append(messages.encode(messages.MetricResult(**{**vars(result), "details": padded})))
    return out


def fill(broker: ActiveMQ, records: list[str]) -> None:
    publisher = Publisher(BrokerSettings(urls=(broker.address,), destination=QUEUE))
    report = publisher.publish_direct(records, time.monotonic() + 600)
    if report.sent != len(records):
        raise SystemExit(f"could not fill the queue: {report}")


class Bare:
    """The bare client: receives, acks each message, counts; nothing else."""

    def __init__(self, broker: ActiveMQ, count: int, prefetch: int) -> None:
        self.count = count
        self.received = 0
        self.done = threading.Event()
        self.conn = stomp.Connection12([(broker.host, broker.port)], auto_decode=False)
        self.conn.set_listener("bare", self)
        self.conn.connect(wait=True)
        self.prefetch = prefetch

    def on_connecting(self, host_and_port: tuple[str, int]) -> None:
        self.conn.transport.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def on_message(self, frame: Any) -> None:
        self.received += 1
        self.conn.ack(frame.headers["ack"])
        if self.received == self.count:
            self.done.set()

    def rate(self) -> float:
        start = time.perf_counter()
        headers = {"activemq.prefetchSize": str(self.prefetch)}
        self.conn.subscribe(QUEUE, id="bare", ack="client-individual", headers=headers)
        if not self.done.wait(600):
            raise SystemExit(f"the bare client got {self.received} of {self.count}")
        elapsed = time.perf_counter() - start
        self.conn.disconnect()
        return self.count / elapsed


def _timestamp(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["time"]).timestamp()


def _events(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def _commits(logged: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [event for log in logged for event in log if event["event"] == "commit"]


def consume(broker: ActiveMQ, db: str, count: int, workdir: Path, processes: int = 1) -> float:
    """Results stored and acked per second by ``processes`` ``vmsam consume`` into ``db``."""
    config = workdir / "consume.toml"
    config.write_text(
        f'[broker]\nurls = ["{broker.address}"]\n[consumer]\ndestination = "{QUEUE}"\n'
    )
    logs = [workdir / f"consume-{uuid.uuid4().hex[:6]}.log" for _ in range(processes)]
    running = []
    for path in logs:
        with path.open("wb") as log:
            command = [str(VMSAM), "consume", "--config", str(config), "--db", db]
            running.append(subprocess.Popen(command, stderr=log, stdout=log))
    try:
        deadline = time.monotonic() + 600
        logged: list[list[dict[str, Any]]] = []
        stored = 0
        while stored < count:
            if time.monotonic() > deadline or any(p.poll() is not None for p in running):
                raise SystemExit(f"vmsam consume stored {stored} of {count}; see {logs}")
            time.sleep(0.2)
            logged = [_events(path) for path in logs]
            stored = sum(e["stored"] for e in _commits(logged))
    finally:
        for process in running:
            process.terminate()
        for process in running:
            process.wait(60)
    commits = sorted(_commits(logged), key=_timestamp)
    if sum(e["acked"] for e in commits) < count:
        raise SystemExit("vmsam consume did not ack everything it stored")
    # from when the last of them subscribed: before that, one consumer ran alone
    start = max(_timestamp(next(e for e in log if e["event"] == "subscribed")) for log in logged)
    total = 0
    for commit in commits:
        total += commit["stored"]
        if total >= count:
            after: int = sum(e["stored"] for e in commits if _timestamp(e) > start)
            return after / (_timestamp(commit) - start)
    raise AssertionError("unreachable: the loop above saw every result stored")


def exactly_once(db: str, count: int) -> bool:
    """The store holds each of the ``count`` results once, and no dead letter."""
    engine = sa.create_engine(db)
    try:
        with engine.connect() as connection:
            rows, distinct = connection.execute(
                sa.text("SELECT count(*), count(DISTINCT vm_uuid) FROM results")
            ).one()
            dead = connection.execute(sa.text("SELECT count(*) FROM dead_letters")).scalar_one()
    finally:
        engine.dispose()
    return bool(rows == distinct == count and dead == 0)


@dataclass
class Figures:
    rates: dict[str, list[float]] = field(default_factory=lambda: {side: [] for side in SIDES})
    checks: dict[str, list[bool]] = field(default_factory=lambda: {side: [] for side in SIDES})

    def ratio(self, side: str, to: str = "bare") -> float:
        """The median of each run's ratio of ``side`` to ``to``."""
        pairs = zip(self.rates[side], self.rates[to], strict=True)
        return statistics.median(mine / theirs for mine, theirs in pairs)


def one_run(broker: ActiveMQ, records: list[str], pg: str, figures: Figures) -> None:
    n = len(records)
    fill(broker, records)
    figures.rates["bare"].append(Bare(broker, n, ConsumerOptions().prefetch).rate())
    with tempfile.TemporaryDirectory(prefix="vmsam-bench-") as tmp:
        workdir = Path(tmp)
        fill(broker, records)
        sqlite = f"sqlite:///{workdir / 'bench.db'}"
        figures.rates["sqlite"].append(consume(broker, sqlite, n, workdir))
        figures.checks["sqlite"].append(exactly_once(sqlite, n))
        for side, processes in (("postgres", 1), ("two", 2)):
            with pg_database(pg) as url:
                fill(broker, records)
                figures.rates[side].append(consume(broker, url, n, workdir, processes))
                figures.checks[side].append(exactly_once(url, n))


def warm(broker: ActiveMQ, records: list[str]) -> None:
    """One unmeasured drain of the queue by the bare client and one by ``vmsam consume``."""
    fill(broker, records)
    Bare(broker, len(records), ConsumerOptions().prefetch).rate()
    with tempfile.TemporaryDirectory(prefix="vmsam-bench-") as tmp:
        fill(broker, records)
        consume(broker, f"sqlite:///{Path(tmp) / 'warm.db'}", len(records), Path(tmp))


def report(figures: Figures, n: int, runs: int) -> None:
    options = ConsumerOptions()
    print(
        f"{n} messages of {SIZE} B, ActiveMQ, prefetch {options.prefetch}, batches of"
        f" {options.batch_size} / {options.batch_time * 1000:.0f} ms, median of {runs} run(s)"
    )
    print(f"{'':<42} {'msg/s':>8}  {'to bare':>7}  exactly once")
    for side in SIDES:
        rate = statistics.median(figures.rates[side])
        checks = figures.checks[side]
        once = "" if side == "bare" else f"{sum(checks)}/{len(checks)} runs"
        print(f"{LABELS[side]:<42} {rate:8.0f}  {figures.ratio(side):7.2f}  {once}")
    print(f"two consumers / one consumer (PostgreSQL): {figures.ratio('two', 'postgres'):.2f}")
    print("runs, msg/s:", _runs(figures.rates, SIDES))


def _runs(rates: dict[str, list[float]], sides: Sequence[str]) -> str:
    return "; ".join(f"{side} " + " ".join(f"{r:.0f}" for r in rates[side]) for side in sides)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=50_000, help="messages (default 50000)")
    parser.add_argument("--runs", type=int, default=3, help="runs, the median is shown (3)")
    parser.add_argument("--pg", default=PG_DEFAULT, help="PostgreSQL server (admin URL)")
    parser.add_argument(
        "--late",
        action="store_true",
        help="every result older than the one before it in its series (the writer's worst case)",
    )
    args = parser.parse_args()
    records = bodies(args.n, late=args.late)
    figures = Figures()
    with ActiveMQ() as broker:
        # warm the broker's JIT on both ways of acking, so that the first run is not
        # penalised: warmed on the bare client alone (a fifth of the messages), the first
        # run's bare client received at 0.6-0.7x the others' rate
        warm(broker, records)
        for _ in range(args.runs):
            one_run(broker, records, args.pg, figures)
    report(figures, args.n, args.runs)


if __name__ == "__main__":
    main()
