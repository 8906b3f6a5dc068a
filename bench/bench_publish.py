"""Publish rate with confirmed delivery, against stomp.py's raw rate on the same broker.

Starts a private ActiveMQ, spools N 1 KB messages and times ``Publisher.deliver`` (each
batch leaves the spool when its receipt arrives); then times a bare stomp.py
``Connection12`` sending the same number of persistent messages with a receipt on the last
only (a raw stomp.py client's rate). Both in the same run, on the same broker; the
rate of ``publish_direct`` (confirmed batches, no spool) shows what the spool's file
operations cost.

    .venv/bin/python bench/bench_publish.py [-n 5000] [--size 1024]
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import threading
import time

import stomp

from tests.support.activemq import ActiveMQ
from vmsam.shared.config import BrokerSettings
from vmsam.vm.publisher import HEADERS, Publisher
from vmsam.vm.spool import Spool

DESTINATION = "/queue/bench.publish"
# the spool's file operations share the disk with the broker's store here; on tmpfs they
# cost little, which separates the two
TMPFS = "/dev/shm"


class _Raw:
    """The bare client: TCP_NODELAY (else each receipt costs a delayed ACK), nothing else."""

    def __init__(self, broker: ActiveMQ) -> None:
        self.conn = stomp.Connection12([(broker.host, broker.port)], heartbeats=(0, 0))
        self.conn.set_listener("raw", self)
        self.connected = threading.Event()
        self.receipt = threading.Event()
        self.conn.connect(wait=False)
        if not self.connected.wait(30):
            raise SystemExit("the raw client could not connect")

    def on_connecting(self, host_and_port: tuple[str, int]) -> None:
        self.conn.transport.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def on_connected(self, frame: object) -> None:
        self.connected.set()

    def on_receipt(self, frame: object) -> None:
        self.receipt.set()

    def run(self, bodies: list[bytes]) -> float:
        start = time.perf_counter()
        for i, body in enumerate(bodies):
            headers = dict(HEADERS)
            if i == len(bodies) - 1:
                headers["receipt"] = "last"
            self.conn.send(DESTINATION, body, headers=headers)
        if not self.receipt.wait(120):
            raise SystemExit("the raw client got no receipt")
        elapsed = time.perf_counter() - start
        self.conn.disconnect()
        return elapsed


def _deliver(broker: ActiveMQ, bodies: list[bytes], spool_dir: str) -> tuple[float, float]:
    spool = Spool(spool_dir)
    start = time.perf_counter()
    for body in bodies:
        spool.add(body.decode())
    spooled = time.perf_counter() - start
    publisher = Publisher(BrokerSettings(urls=(broker.address,), destination=DESTINATION))
    start = time.perf_counter()
    report = publisher.deliver(spool, time.monotonic() + 300)
    elapsed = time.perf_counter() - start
    if report.sent != len(bodies) or report.remaining:
        raise SystemExit(f"deliver left messages behind: {report}")
    return spooled, elapsed


def _direct(broker: ActiveMQ, bodies: list[bytes]) -> float:
    publisher = Publisher(BrokerSettings(urls=(broker.address,), destination=DESTINATION))
    start = time.perf_counter()
    report = publisher.publish_direct([b.decode() for b in bodies], time.monotonic() + 300)
    elapsed = time.perf_counter() - start
    if report.sent != len(bodies):
        raise SystemExit(f"publish_direct left messages behind: {report}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5000, help="messages (default 5000)")
    parser.add_argument("--size", type=int, default=1024, help="body bytes (default 1024)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, best kept (default 3)")
    args = parser.parse_args()
    bodies = [f"{i:08d} ".encode().ljust(args.size, b"x") for i in range(args.n)]

    with ActiveMQ() as broker, tempfile.TemporaryDirectory(prefix="vmsam-bench-") as tmp:
        # warm the broker's JIT and store so that the first measured side is not penalised
        _Raw(broker).run(bodies)
        _Raw(broker).run(bodies)
        raw, ours, direct, spooling, in_memory = [], [], [], [], []
        for round_ in range(args.rounds):
            raw.append(_Raw(broker).run(bodies))
            direct.append(_direct(broker, bodies))
            spooled, delivered = _deliver(broker, bodies, f"{tmp}/spool{round_}")
            spooling.append(spooled)
            ours.append(delivered)
            with tempfile.TemporaryDirectory(prefix="vmsam-bench-", dir=TMPFS) as shm:
                in_memory.append(_deliver(broker, bodies, shm)[1])

    n = args.n
    raw_rate, our_rate = n / min(raw), n / min(ours)
    print(f"messages: {n} x {args.size} B, ActiveMQ {broker.address}, best of {args.rounds}")
    print(f"stomp.py raw (receipt on the last only):   {raw_rate:8.0f} msg/s")
    print(f"vmsam deliver (spool, confirmed batches):  {our_rate:8.0f} msg/s")
    print(f"ratio deliver / raw:                       {our_rate / raw_rate:8.2f}")
    direct_rate = n / min(direct)
    print(f"vmsam publish_direct (no spool, confirmed): {direct_rate:7.0f} msg/s")
    print(f"vmsam deliver, spool on tmpfs:             {n / min(in_memory):8.0f} msg/s")
    print(f"spool add (fsynced), for reference:        {n / min(spooling):8.0f} msg/s")


if __name__ == "__main__":
    main()
