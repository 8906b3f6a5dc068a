"""The shifter page's reads under load: every route it polls, at 200 requests/s, against the
schema (/openapi.json, no database) on the same server in the same run.

Builds a week of results up to now for SITES sites x 5 spaces x 4 WN metrics
(bench_ar.generate, loaded with bench/bulk_load.py), starts the real server (``vmsam serve``,
or ``--workers N`` uvicorn processes of vmsam.server.serve:app_from_environment) on a free
port, times each URL's first request (cold: computed, not cached; with several processes a
short burst then warms the others), then offers each URL 200 requests/s from 20 clients for
10 s with Debian's ``hey`` (``-z 10s -q 10 -c 20``; a client waits for its answer, so a slow
route is offered less) and prints, per store, what was served, its share of what was
offered, the 99th percentile of the latency and the errors (answers other than 200
included). hey accepts gzip, as browsers do. The machine's other load shows in every
figure, the floor's included: compare the routes with the floor of the same run.

    .venv/bin/python bench/bench_api.py [--sites 50] [--days 7] [--store sqlite,postgresql]
        [--duration 10] [--workers 1] [--pg ADMIN_URL]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlencode

import httpx
from bench_ar import METRICS, SPACE_TYPES, VO, SiteData, generate  # siblings: run as a script
from bench_store import pg_database
from bulk_load import load

from vmsam.server.store import Store

CLIENTS = 20
PER_CLIENT = 10  # requests/s: 200 offered in all
AR_DAYS = 30  # the page's charts


@dataclass
class Run:
    """What hey saw on one URL."""

    requests: int
    per_second: float
    p99_ms: float
    errors: int


@dataclass
class Route:
    name: str
    path: str
    cold_ms: float = 0.0
    run: Run | None = None


def routes(site: str, endpoint: str, service_type: str, today: date) -> list[Route]:
    """The URLs the page asks for, with its parameters in its order (static/app.js)."""
    since = f"{today - timedelta(days=AR_DAYS - 1)}T00:00:00Z"
    daily = {"start": str(today - timedelta(days=AR_DAYS - 1)), "end": str(today)}
    previous = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    monthly = {"start": str(previous), "end": str(today), "granularity": "monthly"}
    daily["granularity"] = "daily"
    space = {"service_type": service_type, "vo": VO}
    return [
        Route("openapi (floor)", "/openapi.json"),
        Route("sites", "/api/v1/sites"),
        Route("downtimes", f"/api/v1/downtimes?{urlencode({'start': since})}"),
        Route(
            "downtimes of a site", f"/api/v1/downtimes?{urlencode({'site': site, 'start': since})}"
        ),
        Route(
            "results of a space",
            f"/api/v1/results?{urlencode({'endpoint': endpoint, 'vo': VO, 'limit': 50})}",
        ),
        Route(
            "results of a metric",
            "/api/v1/results?"
            + urlencode({"endpoint": endpoint, "vo": VO, "metric": METRICS[0], "limit": 20}),
        ),
        Route("A/R site daily", f"/api/v1/ar/sites/{quote(site)}?{urlencode({'vo': VO, **daily})}"),
        Route(
            "A/R site monthly", f"/api/v1/ar/sites/{quote(site)}?{urlencode({'vo': VO, **monthly})}"
        ),
        Route(
            "A/R space daily",
            f"/api/v1/ar/endpoints/{quote(endpoint)}?{urlencode({**space, **daily})}",
        ),
        Route(
            "A/R space monthly",
            f"/api/v1/ar/endpoints/{quote(endpoint)}?{urlencode({**space, **monthly})}",
        ),
    ]


def week_up_to_now(sites: int, days: int, now: datetime) -> list[SiteData]:
    """``days`` of hourly results ending now (none after it)."""
    first = (now - timedelta(days=days - 1)).date()
    data = generate(sites, days, start=first)
    for site in data:
        site.samples = [sample for sample in site.samples if sample.timestamp <= now]
    return data


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def server(url: str, directory: Path, workers: int) -> Iterator[str]:
    """The API over ``url`` on a free port, ready; its base URL."""
    config = directory / "vmsam.toml"
    config.write_text("")
    port = free_port()
    environment = {**os.environ, "VMSAM_CONFIG": str(config), "VMSAM_DB": url}
    environment.pop("VMSAM_API_TOKEN", None)
    if workers > 1:
        command = [
            *(sys.executable, "-m", "uvicorn", "--factory", "--workers", str(workers)),
            *("--host", "127.0.0.1", "--port", str(port)),
            "vmsam.server.serve:app_from_environment",
        ]
    else:
        command = [
            *(sys.executable, "-m", "vmsam.cli", "serve", "--config", str(config)),
            *("--db", url, "--host", "127.0.0.1", "--port", str(port)),
        ]
    log = directory / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=environment)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise SystemExit(f"the server exited: {log.read_text()}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit(f"the server did not come up: {log.read_text()}")
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


_LINE = {
    "per_second": re.compile(r"Requests/sec:\s+([\d.]+)"),
    "p99": re.compile(r"99% in ([\d.]+) secs"),
}


def hey(url: str, duration: int) -> Run:
    done = subprocess.run(
        ["hey", "-z", f"{duration}s", "-q", str(PER_CLIENT), "-c", str(CLIENTS), url],
        capture_output=True,
        text=True,
        check=True,
    )
    out = done.stdout
    statuses = {
        int(code): int(count) for code, count in re.findall(r"\[(\d{3})\]\s+(\d+) responses", out)
    }
    failures = 0
    if "Error distribution:" in out:
        tail = out.split("Error distribution:", 1)[1]
        failures = sum(int(count) for count in re.findall(r"^\s+\[(\d+)\]", tail, re.MULTILINE))
    per_second = _LINE["per_second"].search(out)
    p99 = _LINE["p99"].search(out)
    return Run(
        requests=sum(statuses.values()) + failures,
        per_second=float(per_second.group(1)) if per_second else 0.0,
        p99_ms=1000 * float(p99.group(1)) if p99 else float("nan"),
        errors=failures + sum(count for code, count in statuses.items() if code != 200),
    )


def measure(label: str, url: str, data: list[SiteData], args: argparse.Namespace) -> None:
    with Store(url) as store:
        clock = time.perf_counter()
        written = load(store, data, VO)
        print(f"{label}: loaded {written:,} results in {time.perf_counter() - clock:.1f} s")
    site = data[len(data) // 2]
    endpoint, service_type = site.samples[0].endpoint, site.samples[0].service_type
    table = routes(site.name, endpoint, service_type, datetime.now(UTC).date())
    with (
        tempfile.TemporaryDirectory() as directory,
        server(url, Path(directory), args.workers) as base,
    ):
        with httpx.Client(base_url=base, timeout=120) as client:
            for route in table:
                clock = time.perf_counter()
                response = client.get(route.path)
                route.cold_ms = 1000 * (time.perf_counter() - clock)
                if response.status_code != 200:
                    raise SystemExit(f"{route.path}: {response.status_code} {response.text[:300]}")
        if args.workers > 1:
            # every process keeps its own answers: warm them all, not just the first one's
            for route in table:
                subprocess.run(
                    ["hey", "-n", str(20 * args.workers), "-c", str(CLIENTS), base + route.path],
                    capture_output=True,
                    check=True,
                )
        for route in table:
            route.run = hey(base + route.path, args.duration)
    offered = CLIENTS * PER_CLIENT
    print(
        f"\n{label}, {args.workers} process(es), {offered} requests/s offered for"
        f" {args.duration} s from {CLIENTS} clients:"
    )
    print(
        f"  {'route':22} {'served req/s':>12} {'% of offered':>12} {'p99 ms':>8} {'errors':>7}"
        f" {'cold ms':>8}"
    )
    for route in table:
        run = route.run
        assert run is not None
        print(
            f"  {route.name:22} {run.per_second:12.1f} {100 * run.per_second / offered:11.1f}%"
            f" {run.p99_ms:8.1f} {run.errors:7d} {route.cold_ms:8.1f}"
        )
    print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=50)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--store", default="sqlite,postgresql", help="sqlite,postgresql")
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per URL")
    parser.add_argument("--workers", type=int, default=1, help="server processes (1)")
    parser.add_argument(
        "--pg",
        default=os.environ.get(
            "VMSAM_TEST_PG", "postgresql+psycopg://postgres:postgres@127.0.0.1:5432/postgres"
        ),
        help="PostgreSQL admin URL (a database is created and dropped)",
    )
    args = parser.parse_args()
    if shutil.which("hey") is None:
        print("bench_api needs hey, the HTTP load generator: apt-get install hey")
        return 2
    clock = time.perf_counter()
    data = week_up_to_now(args.sites, args.days, datetime.now(UTC))
    print(
        f"generated {sum(len(s.samples) for s in data):,} results: {args.sites} sites x"
        f" {len(SPACE_TYPES)} spaces x {len(METRICS)} metrics, hourly, {args.days} days up to now"
        f" ({time.perf_counter() - clock:.1f} s)"
    )
    stores = [name for name in args.store.split(",") if name]
    if "sqlite" in stores:
        with tempfile.TemporaryDirectory() as directory:
            measure("SQLite", f"sqlite:///{directory}/vmsam.db", data, args)
    if "postgresql" in stores:
        with pg_database(args.pg) as url:
            measure("PostgreSQL", url, data, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
