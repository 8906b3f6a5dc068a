"""The unsampled boot stays at Python's own cost by construction: what only a tested VM
needs is imported after the sampling decision. Checked by what an unsampled run imported,
never by timing it (bench/bench_hook.py prints the figures)."""

from __future__ import annotations

import json
import subprocess
import sys

from vmsam.demo.simulate import SimulatedVM, write_config

# what an unsampled VM must not pay for: the runner and the publishing stack, network and
# TLS modules, dataclasses (a third of the interpreter's start-up), logging, tempfile
NOT_ON_THE_BOOT_PATH = (
    "dataclasses",
    "inspect",
    "logging",
    "tempfile",
    "subprocess",
    "threading",
    "socket",
    "ssl",
    "html.parser",
    "httpx",
    "stomp",
    "dirq",
    "vmsam.vm.runner",
    "vmsam.vm.probeset",
    "vmsam.shared.messages",
    "vmsam.vm.publisher",
    "vmsam.vm.spool",
    "vmsam.shared.stomp",
    "vmsam.vm.signing",
    "cryptography",
)

PROGRAM = """
import json, sys
from vmsam import cli
status = cli.main(sys.argv[1:])
print(json.dumps({"status": status, "modules": sorted(sys.modules)}))
"""


def imported(*args: str) -> tuple[int, set[str], str]:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return report["status"], set(report["modules"]), done.stdout


def test_an_unsampled_boot_imports_nothing_it_does_not_need(healthy_vm: SimulatedVM) -> None:
    config = write_config(healthy_vm, fraction=0.0, broker_urls=["127.0.0.1:1"])
    status, modules, output = imported("init-hook", "--config", str(config))
    assert status == 0
    assert "not sampled" in output
    assert sorted(set(NOT_ON_THE_BOOT_PATH) & modules) == []
    # the check can fail: a sampled run does import them
    status, modules, _ = imported("init-hook", "--config", str(config), "--force")
    assert status == 0
    assert {"vmsam.vm.runner", "vmsam.shared.messages", "subprocess"} <= modules
