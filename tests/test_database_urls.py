"""A database URL that cannot work is a configuration error: one line and exit 78 (not 75,
"try again later") for every command that opens the store, and the password it may hold
never shown."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

VMSAM = Path(sys.executable).parent / "vmsam"
URLS = [
    ("not a url", "not a database URL"),
    ("postgresql://user:secret@localhost:port/vmsam", "not a database URL"),
    ("postgresql+nosuch://user:secret@localhost/vmsam", "no driver"),
    ("sqlite+nosuch:///vmsam.db", "no driver"),
    ("mysql://user:secret@localhost/vmsam", "unsupported database"),
]
COMMANDS = [
    ["db", "upgrade"],
    ["ingest", "."],
    ["ar", "--site", "S", "--start", "2024-03-04", "--end", "2024-03-04"],
    ["downtime", "list"],
    ["audit"],
]


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("VMSAM_")}
    return subprocess.run(
        [str(VMSAM), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=environment,
        check=False,
    )


def refused_as_configuration(done: subprocess.CompletedProcess[str], words: str) -> None:
    assert done.returncode == 78, done
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.splitlines()
    assert words in line
    assert "secret" not in line


@pytest.mark.parametrize(("url", "words"), URLS)
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_store_commands_exit_78(tmp_path, command, url, words):
    refused_as_configuration(run([*command, "--db", url], tmp_path), words)


@pytest.mark.parametrize(("url", "words"), URLS[:3])
def test_consume_exits_78(tmp_path, url, words):
    config = tmp_path / "vmsam.toml"
    config.write_text('[broker]\nurls = ["127.0.0.1:1"]\n')
    done = run(["consume", "--config", str(config), "--db", url], tmp_path)
    assert done.returncode == 78, done
    assert words in done.stderr
    assert "secret" not in done.stderr
    assert "Traceback" not in done.stderr
