"""Fixtures every test may use: running a probe as Nagios would, root-only skips."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests import nagios
from vmsam.demo.simulate import VMLayout, build_vm

BIN = Path(sys.executable).parent

requires_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root to mount filesystems (CI runs as root)"
)


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


PG_ADMIN_URL = os.environ.get(
    "VMSAM_TEST_PG", "postgresql+psycopg://postgres:postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(scope="session")
def pg_url():
    """A PostgreSQL database of this run's own, dropped at the end.

    ``make test`` starts the server when none runs.
    """
    import uuid

    import sqlalchemy as sa

    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"vmsam_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL} (run 'make test'): {exc}")
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
