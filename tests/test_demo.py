"""``make demo`` works and shows what it promises: a site's spaces over several simulated
days, the faults injected found again in the daily A/R and its explanations, a store that
``vmsam serve`` and ``vmsam ingest`` can be pointed at, and the dashboard until Ctrl-C."""

from __future__ import annotations

import io
import json
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.conftest import requires_root
from vmsam.demo import explain, fleet, scenario
from vmsam.demo.progress import Progress
from vmsam.server.reports import ar_document
from vmsam.server.store import Store
from vmsam.shared.messages import MetricResult, decode, encode

BIN = Path(sys.executable).parent
TIMEOUT = 280  # within pytest-timeout's 300 s
DATE_ROW = re.compile(r"^  (\d{4}-\d\d-\d\d)\s+(\S+)\s+(\S+)\s+([\d.]+)%\s+([\d.]+)%$", re.M)


def _mounted_under(path: Path) -> list[str]:
    prefix = str(path.resolve())
    lines = Path("/proc/mounts").read_text().splitlines()
    return [line for line in lines if line.split()[1].startswith(prefix)]


def _section(out: str, title: str) -> str:
    """The part of the output from ``title`` to the next blank line after its explanations."""
    start = out.index(f"\n{title}\n")
    end = out.find("\n\n", start + 1)
    return out[start : end if end != -1 else len(out)]


def _rows(section: str) -> dict[str, tuple[str, str, float, float]]:
    return {
        day: (availability, reliability, float(unknown), float(down))
        for day, availability, reliability, unknown, down in DATE_ROW.findall(section)
    }


def _explanation(section: str, day: date) -> str:
    match = re.search(rf"^  {day}: (.*)$", section, re.M)
    assert match, f"no explanation of {day} in:\n{section}"
    return match.group(1)


@pytest.fixture(scope="module")
def kept(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    directory = tmp_path_factory.mktemp("demo") / "kept"
    done = subprocess.run(
        [str(BIN / "vmsam"), "demo", "--no-serve", "--keep", str(directory)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return directory, done


@requires_root
def test_demo_prints_a_table_per_site_and_space_with_the_faults_explained(kept):
    _, done = kept
    out = done.stdout
    assert "Traceback" not in out + done.stderr
    first = scenario.first_day()
    days = [first + timedelta(days=n) for n in range(scenario.DAYS)]
    cvmfs_day, mjf_day, empty_day, scratch_day = days  # as scenario.FAULTS has them
    assert scenario.DAYS >= 4 and scenario.FRACTION < 1
    assert "timestamps are then moved to each VM's simulated boot time" in out

    site = _section(out, f"site {scenario.SITE}")
    vac01 = _section(out, f"space {scenario.VAC01}")
    vac02 = _section(out, f"space {scenario.VAC02}")
    for section in (site, vac01, vac02):
        assert sorted(_rows(section)) == [str(day) for day in days], section

    # cvmfs broken for hours in vac01: found by the VMs that sampled themselves then
    rows = _rows(vac01)
    assert float(rows[str(cvmfs_day)][0].rstrip("%")) < 100
    said = _explanation(vac01, cvmfs_day)
    assert re.search(r"CRITICAL WN-cvmfs (0[6-9]|1[01]):\d\d-\d\d:\d\d from ", said), said
    assert "[injected: cvmfs broken 06:00-12:00 (vac01)]" in said
    # MJF missing on one machinetype: only its VMs report it
    said = _explanation(vac01, mjf_day)
    assert re.search(r"CRITICAL WN-mjf .* from lhcb-mc VMs", said), said
    assert "lhcb-prod" not in said.split("[injected")[0]
    # the scheduled downtime: availability drops, reliability does not
    rows = _rows(vac02)
    availability, reliability, _, down = rows[str(mjf_day)]
    assert availability == "75.00%" and reliability == "100.00%" and down == 25.0
    said = _explanation(vac02, mjf_day)
    assert "scheduled downtime 10:00-16:00 (hypervisor kernel upgrade)" in said
    # the day without VMs: the day before carries over, the next day starts MISSING
    for section in (vac01, vac02):
        assert "no result on this day" in _explanation(section, empty_day)
        assert re.match(
            rf"MISSING 00:00-\d\d:\d\d, nothing from {empty_day} to carry over",
            _explanation(section, scratch_day),
        )
        assert _rows(section)[str(scratch_day)][2] > 0
    # scratch too small on one machinetype of vac02
    said = _explanation(vac02, scratch_day)
    assert re.search(r"CRITICAL WN-scratch .* from lhcb-prod VMs", said), said
    assert float(_rows(vac02)[str(scratch_day)][0].rstrip("%")) < 100
    # the site is up while one space is: vac01 made up for the downtime of vac02 except
    # where it was CRITICAL itself
    assert re.search(r"CRITICAL .*, no space up \(vac01 CRITICAL, vac02 DOWNTIME\)", site)
    # the progress bar, on stderr
    booted = int(re.search(r"booted (\d+) VMs", out).group(1))
    assert f"100% {booted}/{booted} VMs booted" in done.stderr


@requires_root
def test_demo_store_holds_several_days_of_sampled_vms_at_their_boot_times(kept):
    directory, done = kept
    first = scenario.first_day()
    tested = int(re.search(r"booted \d+ VMs: (\d+) sampled", done.stdout).group(1))
    with Store(f"sqlite:///{directory / 'vmsam.db'}") as store:
        total, results = store.results(vo=scenario.VO, limit=100_000)
        assert total == len(results) == 4 * tested
        days = {result.timestamp.date() for result in results}
        # every day has results but the one without VMs
        assert days == {first + timedelta(days=n) for n in (0, 1, 3)}
        assert {r.endpoint for r in results} == set(scenario.SPACES)
        assert {r.machinetype for r in results} == set(scenario.MACHINETYPES)
        assert len({r.vm_uuid for r in results}) == tested
        # fewer tested than booted: the hooks sampled themselves
        booted = int(re.search(r"booted (\d+) VMs", done.stdout).group(1))
        assert 0 < tested < booted
        downtimes = store.downtimes()
        assert [(d.endpoint, d.scheduled) for d in downtimes] == [(scenario.VAC02, True)]
    assert not _mounted_under(directory)
    assert f"vmsam serve --db sqlite:///{directory / 'vmsam.db'}" in done.stdout
    # a tested VM's joboutputs say that its times were moved
    documents = [
        json.loads(path.read_text()) for path in (directory / "vms").rglob("vmsam-results.json")
    ]
    sampled = [document for document in documents if document["sampled"]]
    assert len(sampled) == tested and len(documents) == booted
    assert all(any("simulated boot time" in note for note in d["notes"]) for d in sampled)


@requires_root
def test_demo_ingest_again_stores_nothing_new(kept):
    directory, done = kept
    stored = int(re.search(r"stored (\d+), duplicates 0, dead letters 0", done.stdout).group(1))
    db = f"sqlite:///{directory / 'vmsam.db'}"
    # the spool, and the VMs' joboutputs too: every copy of a result has the same time
    for path in (directory / "spool", directory):
        again = subprocess.run(
            [str(BIN / "vmsam"), "ingest", "--db", db, str(path)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert again.returncode == 0, again.stderr
        assert re.search(r"stored 0, duplicates \d+, dead letters 0", again.stdout), again.stdout
        duplicates = int(re.search(r"duplicates (\d+)", again.stdout).group(1))
        assert duplicates >= stored


@requires_root
def test_explanations_account_for_the_figures_of_every_day(kept):
    """The explainer's pieces give the engine's seconds: both read the store alike."""
    directory, _ = kept
    first = scenario.first_day()
    last = first + timedelta(days=scenario.DAYS - 1)
    with Store(f"sqlite:///{directory / 'vmsam.db'}") as store:
        explainer = explain.Explainer(store, scenario.VO)
        for space in scenario.SPACES:
            document = ar_document(store, endpoint=space, start=first, end=last)
            for row in document["results"]:
                day = date.fromisoformat(row["date"])
                pieces, _ = explainer.endpoint_day(space, scenario.SERVICE_TYPE, day)
                seconds = {"up": 0, "unknown": 0, "down": 0}
                for piece in pieces:
                    kind = {"OK": "up", "WARNING": "up", "UNKNOWN": "unknown"}.get(piece.state)
                    kind = kind or {"MISSING": "unknown", "DOWNTIME": "down"}.get(piece.state)
                    if kind:
                        seconds[kind] += piece.end - piece.start
                for kind, value in seconds.items():
                    assert round(value / explain.DAY, 5) == row[kind], (space, day, kind)


def test_demo_refuses_a_directory_that_is_not_new(tmp_path):
    (tmp_path / "something").write_text("")
    done = subprocess.run(
        [str(BIN / "vmsam"), "demo", "--no-serve", "--keep", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "not a new or empty directory" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["something"]


@requires_root
def test_demo_serves_the_dashboard_until_interrupted():
    process = subprocess.Popen(
        [str(BIN / "vmsam"), "demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put("")  # the end

    threading.Thread(target=read, daemon=True).start()
    try:
        seen: list[str] = []
        url = None
        deadline = time.monotonic() + TIMEOUT
        while url is None:
            line = lines.get(timeout=max(1.0, deadline - time.monotonic()))
            assert line, "the demo ended before serving:\n" + "".join(seen)
            seen.append(line)
            found = re.match(r"dashboard: (http://127\.0\.0\.1:\d+/)", line)
            url = found.group(1) if found else None
        workdir = Path(re.search(r"work directory (\S+)", "".join(seen)).group(1))
        assert workdir.is_dir() and not _mounted_under(workdir)  # unmounted before serving
        health = _get(url + "healthz")
        assert health.json()["status"] == "ok"
        sites = _get(url + "api/v1/sites").json()["sites"]
        assert [s["name"] for s in sites] == [scenario.SITE]
        assert {e["endpoint"] for e in sites[0]["endpoints"]} == set(scenario.SPACES)
        assert _get(url).status_code == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
        assert not workdir.exists()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _get(url: str) -> httpx.Response:
    """GET with a few tries: the server may take a moment after printing its address."""
    for _ in range(50):
        try:
            response = httpx.get(url, timeout=10)
        except httpx.TransportError:
            time.sleep(0.2)
            continue
        response.raise_for_status()
        return response
    raise AssertionError(f"{url} never answered")


def test_scenario_is_a_site_of_spaces_and_machinetypes_with_its_faults():
    first = date(2025, 6, 1)
    schedule = scenario.boots(first)
    assert schedule == scenario.boots(first)  # reproducible
    assert len(scenario.SPACES) >= 2 and len(scenario.MACHINETYPES) == 2
    assert {b.space for b in schedule} == set(scenario.SPACES)
    assert {b.machinetype for b in schedule} == set(scenario.MACHINETYPES)
    assert [b.at for b in schedule] == sorted(b.at for b in schedule)
    assert len({b.uuid for b in schedule}) == len(schedule)
    kinds = {fault.kind for fault in scenario.FAULTS}
    assert kinds == {"cvmfs", "scratch", "mjf", "downtime", "no-boots"}
    for fault in scenario.FAULTS:
        begin, end = fault.window(first)
        inside = [
            b
            for b in schedule
            if begin <= b.at < end
            and b.space in fault.spaces
            and b.machinetype in fault.machinetypes
        ]
        if fault.kind in {"downtime", "no-boots"}:
            assert inside == [], fault
            continue
        assert inside, fault
        assert all(not b.tree.cvmfs_ok for b in inside) == (fault.kind == "cvmfs")
        assert all(not b.tree.scratch_ok for b in inside) == (fault.kind == "scratch")
        assert all(not b.mjf for b in inside) == (fault.kind == "mjf")
    healthy = [b for b in schedule if b.tree.cvmfs_ok and b.tree.scratch_ok and b.mjf]
    assert len(healthy) > len(schedule) / 2
    assert all(b.at.date() != first + timedelta(days=2) for b in schedule)


def test_a_message_moves_to_the_boot_time_and_keeps_the_rest():
    real_start = datetime(2025, 6, 10, 14, 0, 0, tzinfo=UTC)
    boot = datetime(2025, 6, 3, 6, 30, 0, tzinfo=UTC)
    original = MetricResult(
        service_uri=scenario.VAC01,
        host_name=scenario.VAC01,
        service_flavour=scenario.SERVICE_TYPE,
        site_name=scenario.SITE,
        status="CRITICAL",
        metric_name="org.lhcb.WN-cvmfs",
        summary="WN-CVMFS CRITICAL: lhcb-condb.cern.ch not mounted",
        gathered_at="vac01-03." + scenario.DOMAIN,
        timestamp=real_start + timedelta(seconds=3),
        service_type=scenario.SERVICE_TYPE,
        vo_name="lhcb",
        vm_uuid="0c6f1d2e-8a4b-4f7e-9d1a-3b5c7e9f1a2b",
        details="a\nb: c",
    )
    moved = decode(fleet._shift(encode(original), real_start, boot))
    assert moved == replace(original, timestamp=boot + timedelta(seconds=3))


def test_progress_bar_redraws_on_a_terminal_and_prints_lines_otherwise():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    plain = io.StringIO()
    progress = Progress(20, "VMs booted", plain)
    for _ in range(20):
        progress.advance("2025-06-01 00:00")
    progress.close()
    lines = plain.getvalue().splitlines()
    assert "\r" not in plain.getvalue()
    assert len(lines) == 11  # 0 % and every tenth
    assert lines[-1].startswith("[" + "#" * 30 + "] 100% 20/20 VMs booted")

    terminal = Terminal()
    progress = Progress(3, "VMs booted", terminal)
    for _ in range(3):
        progress.advance()
    progress.close()
    assert terminal.getvalue().count("\r") == 3
    assert terminal.getvalue().endswith("100% 3/3 VMs booted\n")


def test_demo_help_names_its_options():
    done = subprocess.run(
        [str(BIN / "vmsam"), "demo", "--help"], capture_output=True, text=True, check=True
    )
    assert "--no-serve" in done.stdout and "--keep DIR" in done.stdout
