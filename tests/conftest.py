"""Fixtures every test may use: running a probe as Nagios would, root-only skips."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import settings

from tests import nagios
from vmsam.demo.simulate import VMLayout, build_vm

BIN = Path(sys.executable).parent

# no deadline: how long an example takes depends on the machine's other load, and a test
# must not fail on wall-clock time
settings.register_profile("vmsam", deadline=None)
settings.load_profile("vmsam")

# every skip for lack of root gives a reason that starts so: the end of the run counts them
ROOT_REASON = "needs root"


def needs_root(purpose: str) -> pytest.MarkDecorator:
    """Skip the test unless it runs as root, saying what it needs root for."""
    return pytest.mark.skipif(os.geteuid() != 0, reason=f"{ROOT_REASON} {purpose}")


requires_root = needs_root("to mount filesystems (CI runs as root)")


def skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    """The reason a skipped test gave, as ``-rs`` prints it."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say how many tests did not run for lack of root (0 in CI, which runs as root)."""
    skipped = terminalreporter.stats.get("skipped", [])
    count = sum(1 for report in skipped if skip_reason(report).startswith(ROOT_REASON))
    terminalreporter.write_line(f"skipped for lack of root: {count}")


def run_probe(
    script: str, args: Sequence[str], *, timeout: float = 60, env: dict[str, str] | None = None
) -> nagios.PluginOutput:
    """Run an installed probe the way Nagios does and check its output against the grammar."""
    completed = subprocess.run(
        [str(BIN / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )
    assert completed.stderr == "" or "Traceback" not in completed.stderr, completed.stderr
    return nagios.parse(completed.returncode, completed.stdout)


@pytest.fixture
def probe():
    return run_probe


@pytest.fixture
def healthy_vm(tmp_path):
    with build_vm(VMLayout(tmp_path / "vm"), healthy=True) as vm:
        yield vm


@pytest.fixture
def broken_vm(tmp_path):
    with build_vm(VMLayout(tmp_path / "broken"), healthy=False) as vm:
        yield vm


@pytest.fixture
def destination() -> str:
    return f"/queue/vmsam.test.{uuid.uuid4().hex}"


@pytest.fixture(scope="session")
def activemq():
    """A private ActiveMQ broker for the whole run: STOMP on a free loopback port.

    Tests that kill or restart it must leave it running (``start()`` again) when they end.
    """
    from tests.support.activemq import ActiveMQ

    with ActiveMQ() as broker:
        yield broker


@pytest.fixture(scope="session")
def pg_url():
    """A PostgreSQL database of this run's own, dropped at the end.

    ``make test`` starts the server when none runs.
    """
    from tests.support.postgres import fresh_database

    with fresh_database("vmsam_test") as url:
        yield url
