"""``vmsam vacmon``: datagrams per second it stores, against a bare UDP receive loop in the
same run (the floor: what Python receives and counts when it stores nothing).

Sends COUNT distinct ``machine_status`` datagrams (one VM each, ~450 bytes) as fast as one
socket sends them, ROUNDS times, to (1) a bare ``recvfrom`` loop in a thread of this
process and (2) the real listener process (``vmsam vacmon --db URL``), and times each from
the first datagram sent to the last one received (the loop) or stored (rows in
``vm_activity``, polled every 20 ms). A round sends no more than the 4 MB receive buffer
holds, so that a datagram lost is the listener's fault, not the burst's; lost ones are
counted. Each store starts empty.

    .venv/bin/python bench/bench_vacmon.py [--count 5000] [--rounds 3]
        [--store sqlite,postgresql]      (PostgreSQL: $VMSAM_TEST_PG's server)

Measured (2 shared cores, other helpers' tests running; 5000 datagrams, 3 rounds): the
bare loop 146 000-163 000 datagrams/s; the listener 22 000-38 000 stored/s on SQLite and
16 500-18 900 on PostgreSQL, none lost. A month of 200 sites x 5 spaces with ~10 VMs each
reporting every 5 minutes is ~35 datagrams/s.
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
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.net import free_port  # noqa: E402
from tests.support.postgres import fresh_database  # noqa: E402


def datagrams(count: int, run: str) -> list[bytes]:
    now = int(time.time())
    return [
        json.dumps(
            {
                "message_type": "machine_status",
                "space": f"vac{k % 1000:03d}.site{k % 200:03d}.example.org",
                "site": f"SITE-{k % 200:03d}",
                "factory": f"f{k % 7}.example.org",
                "machinetype": "pilot",
                "uuid": f"{run}-{k}",
                "state": "running",
                "created_time": now - 3600,
                "started_time": now - 3590,
                "heartbeat_time": now - 60,
                "time_sent": now - 30,
                "num_processors": 8,
                "hs06": 80.0,
                "cpu_seconds": 12345,
                "vac_version": "Vac 3.2",
            }
        ).encode()
        for k in range(count)
    ]


def send(port: int, bodies: list[bytes]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for body in bodies:
            sender.sendto(body, ("127.0.0.1", port))


def bare_loop(bodies: list[bytes]) -> tuple[float, int]:
    """(seconds, received) of a plain recvfrom loop receiving ``bodies``."""
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(2.0)
    received = [0]
    last = [0.0]

    def loop() -> None:
        while received[0] < len(bodies):
            try:
                receiver.recvfrom(65536)
            except TimeoutError:
                return
            received[0] += 1
            last[0] = time.perf_counter()

    thread = threading.Thread(target=loop)
    thread.start()
    start = time.perf_counter()
    send(receiver.getsockname()[1], bodies)
    thread.join()
    receiver.close()
    return last[0] - start, received[0]


def stored(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        try:
            return int(connection.execute(sa.text("SELECT count(*) FROM vm_activity")).scalar_one())
        except sa.exc.DatabaseError:
            return 0


def listener_rounds(url: str, count: int, rounds: int) -> list[tuple[float, int]]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "vmsam.cli", "vacmon", "--db", url, "--listen", f"127.0.0.1:{port}"],
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    engine = sa.create_engine(url)
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        assert '"listening"' in line, line
        out = []
        for round_ in range(rounds):
            bodies = datagrams(count, f"{uuid.uuid4().hex[:8]}-{round_}")
            before = stored(engine)
            start = time.perf_counter()
            send(port, bodies)
            done, last_change, seen = before, time.perf_counter(), before
            while done - before < count and time.perf_counter() - last_change < 3.0:
                time.sleep(0.02)
                done = stored(engine)
                if done != seen:
                    seen, last_change = done, time.perf_counter()
            out.append((last_change - start, done - before))
        return out
    finally:
        process.terminate()
        process.wait(60)
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--store", default="sqlite,postgresql")
    args = parser.parse_args()
    for round_ in range(args.rounds):
        seconds, got = bare_loop(datagrams(args.count, f"bare-{round_}"))
        rate = got / seconds
        print(
            f"bare recvfrom loop  round {round_}: {rate:10.0f} datagrams/s"
            f" ({args.count - got} lost)"
        )
    for kind in args.store.split(","):
        if kind == "sqlite":
            with tempfile.TemporaryDirectory() as directory:
                results = listener_rounds(
                    f"sqlite:///{directory}/bench.db", args.count, args.rounds
                )
        else:
            with fresh_database("vmsam_bench") as url:
                results = listener_rounds(url, args.count, args.rounds)
        for round_, (seconds, got) in enumerate(results):
            print(
                f"vmsam vacmon {kind:<10} round {round_}: {got / seconds:10.0f} datagrams/s stored"
                f" ({args.count - got} lost)"
            )


if __name__ == "__main__":
    main()
