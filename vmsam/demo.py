"""``make demo``: the init hook on a simulated healthy VM and a broken one, as a site admin
would see it on a VM's console, with each probe's full Nagios output and the WLCG messages
that wait in the local spool (no broker is needed)."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from vmsam.runner import plugin_path
from vmsam.simulate import SimulatedVM, VMLayout, build_vm, write_config
from vmsam.spool import Spool

STATES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")


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


def run_demo(*, keep: bool = False) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="vmsam-demo-"))
    statuses: dict[str, dict[str, str]] = {}
    try:
        for healthy in (True, False):
            name = "healthy" if healthy else "broken"
            with build_vm(VMLayout(workdir / name), healthy=healthy) as vm:
                if not vm.mounter.real:
                    print(
                        "note: not root, so the VM's filesystems are plain directories listed in"
                        " a private mounts table; the scratch probe will see /scratch on the"
                        " root device."
                    )
                statuses[name] = _run_hook(vm)
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
