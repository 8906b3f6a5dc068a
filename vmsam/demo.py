"""``make demo``: the four probes on a simulated healthy VM and a broken one, as a site
admin would see them on a real VM's console."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from vmsam.simulate import SimulatedVM, VMLayout, build_vm

PROBES = ("check_wn_cvmfs", "check_wn_middleware", "check_wn_scratch", "check_wn_mjf")
STATES = {0: "OK", 1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}


def probe_command(script: str) -> str:
    """The installed probe next to this interpreter (a venv), else on PATH."""
    beside = Path(sys.executable).parent / script
    return str(beside) if beside.exists() else (shutil.which(script) or script)


def _show(vm: SimulatedVM) -> dict[str, int]:
    title = "healthy VM" if vm.healthy else "broken VM"
    print(f"\n=== {title}: {vm.layout.root} ===")
    codes = {}
    for script in PROBES:
        args = vm.probe_args[script]
        done = subprocess.run(
            [probe_command(script), *args], capture_output=True, text=True, check=False
        )
        codes[script] = done.returncode
        print(f"\n$ {script} {' '.join(args)}")
        print(f"[exit {done.returncode}]")
        print(done.stdout.rstrip() or "(no output)")
        if done.stderr.strip():
            print(f"stderr: {done.stderr.strip()}")
    return codes


def run_demo(*, keep: bool = False) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="vmsam-demo-"))
    results: dict[str, dict[str, int]] = {}
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
                results[name] = _show(vm)
    finally:
        if keep:
            print(f"\nsimulated VM trees kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    print("\n=== summary ===")
    print(f"{'probe':<22}{'healthy VM':<14}{'broken VM':<14}")
    for script in PROBES:
        row = [STATES.get(results[vm][script], "?") for vm in ("healthy", "broken")]
        print(f"{script:<22}{row[0]:<14}{row[1]:<14}")
    return 0
