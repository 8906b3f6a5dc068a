"""``vmsam consume --metrics-port`` listens on the loopback address unless told otherwise:
its metrics name brokers and counts that are nobody else's business."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.net import free_port

VMSAM = Path(sys.executable).parent / "vmsam"


def listening_addresses(port: int) -> set[str]:
    """The local addresses a socket listens on at ``port``, from the kernel's tables."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port and len(address) == width:
                found.add(address)
    return found


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ([], {"0100007F"}),  # 127.0.0.1, as the kernel writes it
        (["--metrics-host", "0.0.0.0"], {"00000000"}),
    ],
)
def test_the_metrics_listen_on_loopback_by_default(tmp_path, flags, expected):
    config = tmp_path / "vmsam.toml"
    config.write_text('[broker]\nurls = ["127.0.0.1:1"]\n')  # never answers: it keeps trying
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("VMSAM_")}
    process = subprocess.Popen(
        [str(VMSAM), "consume", "--config", str(config), "--db", f"sqlite:///{tmp_path}/v.db",
         "--metrics-port", str(port), *flags],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=environment,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not listening_addresses(port):
            assert process.poll() is None, "vmsam consume exited"
            assert time.monotonic() < deadline, "no /metrics"
            time.sleep(0.1)
        assert listening_addresses(port) == expected
        assert "vmsam_consumer" in httpx.get(f"http://127.0.0.1:{port}/metrics").text
    finally:
        process.terminate()
        process.wait(timeout=60)
