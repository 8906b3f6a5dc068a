"""The development broker launcher stops what it started, however it is stopped."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.activemq import stomp_ready

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_jvm_and_removes_the_data(stop: signal.Signals) -> None:
    launcher = subprocess.Popen(
        [sys.executable, "-m", "tests.support.activemq"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert launcher.stdout is not None
        line = launcher.stdout.readline()
        found = re.search(r"STOMP on ([\d.]+):(\d+), data in (\S+)", line)
        assert found, line
        host, port, data = found[1], int(found[2]), Path(found[3])
        assert stomp_ready(host, port)
        assert data.is_dir()
        launcher.send_signal(stop)
        assert launcher.wait(timeout=60) == 0
        assert not stomp_ready(host, port)
        assert not data.exists()
    finally:
        if launcher.poll() is None:
            launcher.kill()
