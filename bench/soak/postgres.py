"""A PostgreSQL server of the soak's own: ``initdb`` and ``pg_ctl`` from Debian's packages,
data in a temporary directory, listening on a free loopback port. The soak may crash it
(``pg_ctl stop -m immediate``, the postmaster and its children killed without a checkpoint,
as a power cut would) without disturbing anyone else's database on the shared server."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.support.net import free_port

# PostgreSQL refuses to run as root: as root, the server runs as the packages' own user
_SERVER_USER = "postgres"


class PostgresError(RuntimeError):
    pass


def _bin_dir() -> Path:
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3])
    )
    if not versions:
        raise PostgresError("no PostgreSQL server binaries: apt-get install postgresql")
    return versions[-1].parent


class PrivatePostgres:
    """One server: ``start``, ``crash`` and ``start`` again keep its port and its data."""

    def __init__(self) -> None:
        self.bin = _bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="vmsam-soak-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.log = self.root / "server.log"
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, _SERVER_USER)
            self._as_user = ["runuser", "-u", _SERVER_USER, "--"]

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        command = [*self._as_user, str(self.bin / tool), *args]
        done = subprocess.run(command, capture_output=True, text=True, check=False, cwd="/")
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
            raise PostgresError(f"{tool} {args[0]} failed: {lines[-1]} (log: {self.log})")

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")

    def start(self) -> None:
        # fsync stays on: a crash must keep every committed transaction
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root}"
            " -c shared_buffers=32MB -c max_connections=40"
        )
        self._run(
            "pg_ctl",
            "start",
            "-w",
            "-t",
            "60",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
        )

    def crash(self) -> None:
        """Immediate shutdown: no checkpoint, recovery from the WAL at the next start."""
        self._run("pg_ctl", "stop", "-m", "immediate", "-D", str(self.data))

    def stop(self) -> None:
        self._run("pg_ctl", "stop", "-m", "fast", "-D", str(self.data))

    def close(self) -> None:
        if (self.data / "postmaster.pid").exists():
            try:
                self.stop()
            except PostgresError:
                self.crash()
        shutil.rmtree(self.root, ignore_errors=True)
