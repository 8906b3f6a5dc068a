"""``make demo``: the init hook on a simulated healthy VM and a broken one, as a site admin
would see it on a VM's console, with each probe's full Nagios output and the WLCG messages
that wait in the local spool; then what the monitoring side makes of them: the spools
ingested into an SQLite store, each space's status and the site's A/R for today, computed
with ARGO's rules (no broker or server is needed)."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from vmsam.demo.simulate import SimulatedVM, VMLayout, build_vm, write_config
from vmsam.vm.runner import plugin_path
from vmsam.vm.spool import Spool


def _run_hook(vm: SimulatedVM) -> dict[str, str]:
    config = write_config(vm, fraction=0.25)
    title = "healthy VM" if vm.healthy else "broken VM"
    print(f"\n=== {title}: {vm.layout.root} ===")
    command = [plugin_path("vmsam"), "init-hook", "--config", str(config), "--force"]
    print(f"$ vmsam init-hook --config {config} --force")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    print(done.stdout.rstrip())
    results_file = vm.layout.joboutputs / "vmsam-results.json"
    document = json.loads(results_file.read_text())
    print(f"\n--- what each probe printed (kept in {results_file}) ---")
    for result in document["results"]:
        perfdata = f" | {result['perfdata']}" if result["perfdata"] else ""
        print(f"\n[{result['metric']}] {result['summary']}{perfdata}")
        for line in result["details"].splitlines():
            print(f"    {line}")
    spool = Spool(vm.layout.spool)
    print(f"\n--- {spool.count()} WLCG message(s) wait in the spool {vm.layout.spool}; one: ---")
    if document["messages"]:
        print(document["messages"][0].rstrip())
    return {result["test"]: result["status"] for result in document["results"]}


def _command(*args: str) -> None:
    print(f"\n$ vmsam {' '.join(args)}")
    done = subprocess.run(
        [plugin_path("vmsam"), *args], capture_output=True, text=True, check=False
    )
    print((done.stdout + done.stderr).rstrip())


def _monitoring_side(workdir: Path, layouts: list[VMLayout]) -> None:
    print("\n=== the monitoring side: store, status, availability ===")
    db = f"sqlite:///{workdir / 'vmsam.db'}"
    _command("ingest", "--db", db, *(str(layout.spool) for layout in layouts))
    from vmsam.server.store import Store

    store = Store(db)
    try:
        for status in store.sites():
            print(f"\nsite {status.name}:")
            for endpoint in status.endpoints:
                print(f"  {endpoint.endpoint:<38} {endpoint.service_type:<18} {endpoint.status}")
    finally:
        store.close()
    today = datetime.now(UTC).date().isoformat()
    site = layouts[0].space.split(".", 1)[1]
    _command("ar", "--db", db, "--site", site, "--start", today, "--end", today)
    for layout in layouts:
        _command("ar", "--db", db, "--endpoint", layout.space, "--start", today, "--end", today)


def run_demo(*, keep: bool = False) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="vmsam-demo-"))
    statuses: dict[str, dict[str, str]] = {}
    layouts = [
        VMLayout(workdir / "healthy"),
        VMLayout(
            workdir / "broken",
            space="vac02.tier2.hep.manchester.ac.uk",
            hostname="vac02-03.tier2.hep.manchester.ac.uk",
            uuid="0c6f1d2e-8a4b-4f7e-9d1a-3b5c7e9f1a2b",
        ),
    ]
    try:
        for healthy, layout in zip((True, False), layouts, strict=True):
            name = "healthy" if healthy else "broken"
            with build_vm(layout, healthy=healthy) as vm:
                if not vm.mounter.real:
                    print(
                        "note: not root, so the VM's filesystems are plain directories listed in"
                        " a private mounts table; the scratch probe will see /scratch on the"
                        " root device."
                    )
                statuses[name] = _run_hook(vm)
        _monitoring_side(workdir, layouts)
    finally:
        if keep:
            print(f"\nsimulated VM trees kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    print("\n=== summary ===")
    print(f"{'test':<14}{'healthy VM':<14}{'broken VM':<14}")
    for test in statuses["healthy"]:
        print(f"{test:<14}{statuses['healthy'][test]:<14}{statuses['broken'].get(test, '?'):<14}")
    return 0
