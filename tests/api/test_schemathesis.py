"""Schemathesis against the live /openapi.json of a real ``vmsam serve``, on SQLite and
PostgreSQL: generated requests to every operation (writes and authenticated reads with the
token), valid and invalid, get no server error, only statuses the schema declares for the
operation, and answers that conform to it (every check: status_code_conformance,
response_schema_conformance, ...)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.api import TOKEN, Server

# A/R and results check relations between parameters that a schema cannot state (the end
# after the start, at most 366 days, a service type the endpoint has): valid-looking
# requests may get 422, or 404 for names that do not exist
CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "404", "409", "422"]
"""


def test_generated_requests_conform_to_the_schema(server: Server, tmp_path: Path) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    st = Path(sys.executable).with_name("st")
    done = subprocess.run(
        [
            str(st),
            "--config-file",
            str(config),
            "run",
            f"{server.url}/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            "25",
            "--seed",
            "20240304",
            "--header",
            f"Authorization: Bearer {TOKEN}",
            "--request-timeout",
            "30",
            "--generation-database",
            "none",
            "--no-color",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    assert "27 selected" in report  # every operation was exercised
    assert "Traceback" not in server.output()
