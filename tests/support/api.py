"""Helpers of the dashboard API tests: a real ``vmsam serve`` process and a known data set."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from tests import builders
from tests.support.net import free_port
from vmsam.server.store import Received, Store
from vmsam.shared.messages import MetricResult, encode

TOKEN = "t0ken-for-the-tests"
HOSTILE = "<img src=x onerror=alert(1)>"
HOSTILE_DETAILS = "<script>window.pwned = 1</script>\nsecond <b>line</b>"
NOW = datetime.now(UTC).replace(microsecond=0)
# the UTC day before today: its results carry over to today only
YESTERDAY_NOON = datetime.combine(NOW.date() - timedelta(days=1), datetime.min.time(), UTC) + (
    timedelta(hours=12)
)
DAY = date(2024, 3, 4)  # A/R days in the past, with exactly known figures
TESTS = ("cvmfs", "middleware", "scratch", "mjf")
VAC = "uk.ac.gridpp.vac"
VCYCLE = "uk.ac.gridpp.vcycle"
RESULT_FIELDS = {
    "site",
    "endpoint",
    "service_type",
    "metric",
    "vo",
    "status",
    "timestamp",
    "summary",
    "details",
    "vm_uuid",
    "machinetype",
    "gathered_at",
    "signature",
    "signer",
}


def at(day: date, hours: float = 0) -> datetime:
    return datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=hours)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def result(
    host: str,
    site: str,
    test: str,
    moment: datetime,
    *,
    vm: str = "vm-1",
    summary: str = "all good",
    details: str = "nothing to add",
    **fields: Any,
) -> MetricResult:
    return builders.result(
        host=host,
        site=site,
        test=test,
        at=moment,
        vm=vm,
        gathered_at=f"{vm}.{host}",
        summary=summary,
        details=details,
        **fields,
    )


def data_set() -> list[MetricResult]:
    """65 results: SITE-A (vac01 with 10 hourly rounds for lhcb and one atlas result, vac02
    CRITICAL with a hostile summary), SITE-B silent since yesterday, and SITE-AR / SITE-DT
    with results on fixed past days for exact A/R figures."""
    results = [
        result("vac01.a.example", "SITE-A", test, NOW - timedelta(hours=k), vm=f"vm-{k}")
        for k in range(10)
        for test in TESTS
    ]
    results.append(result("vac01.a.example", "SITE-A", "cvmfs", NOW, vo="atlas", vm="vm-atlas"))
    results += [
        result(
            "vac02.a.example",
            "SITE-A",
            test,
            NOW,
            vm="vm-hostile",
            status="CRITICAL" if test == "scratch" else "OK",
            summary=HOSTILE if test == "scratch" else "all good",
            details=HOSTILE_DETAILS if test == "scratch" else "nothing to add",
        )
        for test in TESTS
    ]
    results += [
        result("vcycle.b.example", "SITE-B", test, YESTERDAY_NOON, service_type=VCYCLE)
        for test in TESTS
    ]
    # SITE-AR: OK from DAY 00:00, CRITICAL from DAY+1 12:00 -> daily A 100, 50, 0 (carried
    # over), then -1 (nothing carried from a day without results)
    for test in TESTS:
        results.append(result("ar.example", "SITE-AR", test, at(DAY)))
        results.append(
            result("ar.example", "SITE-AR", test, at(DAY, 36), status="CRITICAL", vm="vm-2")
        )
        # SITE-DT: OK 00-12h, CRITICAL 12-24h on DAY -> A = R = 50 until a downtime
        results.append(result("dt.example", "SITE-DT", test, at(DAY)))
        results.append(
            result("dt.example", "SITE-DT", test, at(DAY, 12), status="CRITICAL", vm="vm-2")
        )
    return results


# how the data set's results were signed: vac01's by its host certificate, vac02's not at
# all (flagged), the others not checked
SIGNER = "/DC=org/DC=example/CN=vac01.a.example"


def signed(received: Received) -> Received:
    host = received.result.host_name if received.result else ""
    if host == "vac01.a.example":
        return replace(received, signature="verified", signer=SIGNER)
    if host == "vac02.a.example":
        return replace(received, signature="unsigned")
    return received


def populate(url: str) -> None:
    store = Store(url)
    try:
        batch = [signed(Received.parse(encode(r), window=False)) for r in data_set()]
        # two dead letters: bytes that are no record, and a record ARGO's window refuses
        batch.append(Received.parse(b"not a record \xff\xfe"))
        old = result("old.example", "SITE-OLD", "cvmfs", NOW - timedelta(days=10))
        batch.append(Received.parse(encode(old), now=NOW))
        report = store.save(batch)
        assert (report.stored, report.dead_letters) == (65, 2), report
    finally:
        store.close()


def serve_command(db_url: str, port: int, config: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "vmsam.cli",
        "serve",
        "--db",
        db_url,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--config",
        str(config),
    ]


def clean_environment() -> dict[str, str]:
    """This process's environment without vmsam's variables: only the test's config counts."""
    return {
        key: value
        for key, value in os.environ.items()
        if key not in ("VMSAM_API_TOKEN", "VMSAM_CONFIG", "VMSAM_DB")
    }


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def running_server(
    db_url: str, directory: Path, *, token: str | None = TOKEN, config_text: str | None = None
) -> Iterator[Server]:
    """``vmsam serve`` in a subprocess on a free port, ready (GET /healthz answered); its
    configuration ``config_text``, else ``[api] token`` only."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "vmsam.toml"
    if config_text is None:
        config_text = f'[api]\ntoken = "{token}"\n' if token else ""
    config.write_text(config_text)
    log = directory / "serve.log"
    port = free_port()
    with log.open("wb") as sink:
        process = subprocess.Popen(
            serve_command(db_url, port, config),
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=clean_environment(),
        )
    server = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise AssertionError(f"vmsam serve exited: {server.output()}")
            try:
                if httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"vmsam serve did not come up: {server.output()}")
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
