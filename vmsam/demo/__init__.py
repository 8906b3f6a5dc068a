"""``make demo``: a simulated VM-only site over several days, from the VMs to the dashboard.

Two Vac spaces of one site run two machinetypes whose pilot VMs boot at random over
``scenario.DAYS`` whole UTC days, with faults injected (``scenario.FAULTS``). Each VM runs
the real ``vmsam init-hook`` against a simulated tree, sampling itself by its UUID; the
messages it spools are moved to its simulated boot time, collected into one spool and
ingested into an SQLite store, as ``vmsam ingest`` does. Then the daily A/R of the site and
of each space (ARGO's rules), a line on every bad day, and the dashboard on localhost.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

from vmsam.demo import scenario
from vmsam.demo.explain import Explainer, Piece, describe_endpoint, describe_site
from vmsam.demo.fleet import BootOutcome, Fleet, built_trees, run_all
from vmsam.demo.progress import Progress
from vmsam.demo.simulate import can_mount

EXIT_INTERRUPTED = 130
SHIFT_LINE = (
    "time: the probes judge trees built against the real clock, now; only their results'"
    " timestamps are then moved to each VM's simulated boot time"
)


def _workers() -> int:
    return max(2, min(4, (os.cpu_count() or 1) + 1))


@contextmanager
def _workdir(keep: Path | None) -> Iterator[Path]:
    if keep is None:
        path = Path(tempfile.mkdtemp(prefix="vmsam-demo-"))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)
        return
    keep.mkdir(parents=True, exist_ok=True)
    yield keep.resolve()


def _percent(value: float) -> str:
    return "n/a" if value < 0 else f"{value:.2f}%"


def _print_header(first: date, workdir: Path) -> None:
    last = first + timedelta(days=scenario.DAYS - 1)
    spaces = ", ".join(scenario.short(space) for space in scenario.SPACES)
    print(f"vmsam demo: site {scenario.SITE}, spaces {spaces} ({scenario.SERVICE_TYPE})")
    print(
        f"  machinetypes {', '.join(scenario.MACHINETYPES)} of VO {scenario.VO}; {scenario.DAYS}"
        f" days, {first} to {last} (UTC); VMs boot at random, {scenario.BOOTS_PER_HOUR:g} an hour"
        f" per machinetype and space; sampling fraction {scenario.FRACTION:g}"
    )
    print("  faults injected:")
    for fault in scenario.FAULTS:
        day = first + timedelta(days=fault.day)
        print(f"    {day} {fault.describe(first)}")
    print(f"  {SHIFT_LINE}")
    print(f"  work directory {workdir}")
    if not can_mount():
        print(
            "  note: not root, so the VMs' filesystems are plain directories listed in a mounts"
            " table of their own: the scratch probe sees /scratch on the root device"
        )
    sys.stdout.flush()


def _simulate(workdir: Path, first: date) -> tuple[int, int, int]:
    """Boot every VM; the number booted, tested and messages collected."""
    from vmsam.vm.spool import Spool

    schedule = scenario.boots(first)
    collected = Spool(workdir / "spool")
    progress = Progress(len(schedule), "VMs booted")

    def advance(outcome: BootOutcome) -> None:
        progress.advance(f"{outcome.boot.at:%Y-%m-%d %H:%M}")

    with built_trees(workdir / "trees", scenario.trees(schedule)) as trees:
        fleet = Fleet(workdir / "vms", trees, collected)
        try:
            report = run_all(fleet, schedule, workers=_workers(), progress=advance)
        finally:
            progress.close()
    for problem in report.problems:
        print(f"  problem: {problem}")
    return len(schedule), len(report.sampled), report.messages


def _store_results(workdir: Path, first: date) -> str:
    """Ingest the collected spool and declare the downtimes; the store's URL."""
    from vmsam.server.ingest import ingest
    from vmsam.server.store import Store

    url = f"sqlite:///{workdir / 'vmsam.db'}"
    with Store(url) as store:
        report = ingest(store, [workdir / "spool"])
        saved = report.saved
        print(
            f"ingested as by vmsam ingest --db {url} {workdir / 'spool'}:"
            f" stored {saved.stored}, duplicates {saved.duplicates},"
            f" dead letters {saved.dead_letters}"
        )
        for fault in scenario.FAULTS:
            if fault.kind != "downtime":
                continue
            start, end = fault.window(first)
            for space in fault.spaces:
                store.add_downtime(
                    space,
                    scenario.SERVICE_TYPE,
                    start,
                    end,
                    scheduled=True,
                    description=scenario.DOWNTIME_DESCRIPTION,
                )
                print(
                    f"declared as by vmsam downtime add --db {url} --endpoint {space}"
                    f" --service-type {scenario.SERVICE_TYPE} --start {start:%Y-%m-%dT%H:%MZ}"
                    f" --end {end:%Y-%m-%dT%H:%MZ}"
                    f" --description '{scenario.DOWNTIME_DESCRIPTION}'"
                )
    return url


def _table(title: str, rows: list[dict[str, object]]) -> None:
    print(f"\n{title}")
    print(f"  {'date':<12}{'availability':>13}{'reliability':>13}{'unknown':>9}{'downtime':>10}")
    for row in rows:
        availability, reliability = float(str(row["availability"])), float(str(row["reliability"]))
        unknown, down = float(str(row["unknown"])), float(str(row["down"]))
        print(
            f"  {row['date']!s:<12}{_percent(availability):>13}{_percent(reliability):>13}"
            f"{unknown * 100:>8.1f}%{down * 100:>9.1f}%"
        )


def _bad(row: dict[str, object]) -> bool:
    return any(float(str(row[key])) != 100 for key in ("availability", "reliability")) or any(
        float(str(row[key])) > 0 for key in ("unknown", "down")
    )


def _report(url: str, first: date) -> None:
    from vmsam.server.reports import ar_document
    from vmsam.server.store import Store

    last = first + timedelta(days=scenario.DAYS - 1)
    days = [first + timedelta(days=n) for n in range(scenario.DAYS)]
    print("\n=== daily A/R, ARGO's rules (n/a: no known state to judge by, ARGO's -1) ===")
    with Store(url) as store:
        explainer = Explainer(store, scenario.VO)
        pieces: dict[date, dict[str, list[Piece]]] = {day: {} for day in days}
        lines: dict[str, dict[date, str]] = {}
        for space in scenario.SPACES:
            lines[space] = {}
            for day in days:
                found, on_day = explainer.endpoint_day(space, scenario.SERVICE_TYPE, day)
                pieces[day][space] = found
                lines[space][day] = describe_endpoint(found, on_day, day)
        site_lines = {
            day: describe_site(explainer.site_day(scenario.SERVICE_TYPE, pieces[day]))
            for day in days
        }
        site_doc = ar_document(store, site=scenario.SITE, start=first, end=last)
        _section(f"site {scenario.SITE}", site_doc, site_lines, first, None)
        for space in scenario.SPACES:
            doc = ar_document(store, endpoint=space, start=first, end=last)
            _section(f"space {space}", doc, lines[space], first, space)


def _section(
    title: str,
    document: dict[str, object],
    lines: dict[date, str],
    first: date,
    space: str | None,
) -> None:
    rows = document["results"]
    assert isinstance(rows, list)
    _table(title, rows)
    for row in rows:
        day = date.fromisoformat(str(row["date"]))
        said = lines.get(day, "")
        if not (_bad(row) or said):
            continue
        # what was injected, beside what the results say: for a space (a site's day follows)
        faults = scenario.injected(first, day, space) if space else []
        injected = f" [injected: {'; '.join(faults)}]" if faults else ""
        print(f"  {day}: {said or 'all up'}{injected}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _serve(url: str) -> None:
    from vmsam.server.serve import serve
    from vmsam.server.store import Store
    from vmsam.shared.config import Settings

    port = _free_port()
    with Store(url) as store:
        print(f"\ndashboard: http://127.0.0.1:{port}/  (Ctrl-C stops it)", flush=True)
        # uvicorn stops on SIGINT, then raises it again: the demo has ended as asked
        with contextlib.suppress(KeyboardInterrupt):
            serve(store, Settings(), host="127.0.0.1", port=port)


def run_demo(*, keep: Path | None = None, serve: bool = True) -> int:
    """The whole demo; ``keep`` keeps the store, the spool and the VM trees in that
    directory; without ``serve`` it ends after printing the A/R."""
    first = scenario.first_day()
    if keep is not None and keep.exists() and (not keep.is_dir() or any(keep.iterdir())):
        # a second run would add its own results (other seconds) to the first one's
        print(f"vmsam demo: --keep {keep}: not a new or empty directory", file=sys.stderr)
        return 2
    with _workdir(keep) as workdir:
        _print_header(first, workdir)
        try:
            booted, tested, messages = _simulate(workdir, first)
        except KeyboardInterrupt:
            print("\nvmsam demo: interrupted; the simulated VMs are unmounted", file=sys.stderr)
            return EXIT_INTERRUPTED
        print(
            f"booted {booted} VMs: {tested} sampled themselves and ran the probes, "
            f"{booted - tested} did not; {messages} messages collected in {workdir / 'spool'}"
        )
        url = _store_results(workdir, first)
        _report(url, first)
        if keep is not None:
            print(
                f"\nkept in {workdir}: the store vmsam.db, the spool, the VM trees (trees/,"
                f" unmounted) and each VM's config, MJF, joboutputs and console (vms/)"
                f"\n  vmsam serve --db {url}"
                f"\n  vmsam ingest --db {url} {workdir / 'spool'}   # again: all duplicates"
            )
        if serve:
            _serve(url)
    return 0


__all__ = ["run_demo"]
