"""``vmsam status`` and ``vmsam trends``: the API's documents with --json, readable lines
without, and one line on stderr with exit status 2 for bad input."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

import pytest

from tests.reports.helpers import DAY, LATER, at, record, save, vm_boot
from tests.reports.test_cli_ar import one_line_error, run
from vmsam.cli import main
from vmsam.server.store import Store
from vmsam.server.timelines import status_document
from vmsam.server.trends import trends_document

SPACE = "space1.example.org"


@pytest.fixture
def example(store: Store) -> Store:
    """OK at 0 h from vm-ok, CRITICAL scratch at 6 h from an lhcb-prod VM."""
    save(store, vm_boot(SPACE, at(0), vm="vm-ok"))
    bad = record(SPACE, at(6), "CRITICAL", test="scratch", vm="vm-bad")
    save(store, [dataclasses.replace(bad, vm_machinetype="lhcb-prod")])
    return store


def test_status_json_is_the_document_of_the_api(
    example: Store, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for where in (["--site", "SITE-A"], ["--endpoint", SPACE]):
        assert main(["status", "--db", db_url, *where, "--day", DAY.isoformat(), "--json"]) == 0
        printed = json.loads(capsys.readouterr().out)
        key = "site" if where[0] == "--site" else "endpoint"
        assert printed == status_document(example, day=DAY, now=LATER, **{key: where[1]})


def test_status_lines_name_each_piece_and_its_vm(
    example: Store, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "--db", db_url, "--site", "SITE-A", "--day", DAY.isoformat()]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"SITE-A (site), vo dteam, {DAY} to {DAY} (UTC)"
    assert lines[1] == f"  {DAY}T00:00:00Z  {DAY}T06:00:00Z  OK"
    assert lines[2] == f"  {DAY}T06:00:00Z  {DAY + timedelta(days=1)}T00:00:00Z  CRITICAL"
    assert f"{SPACE} (uk.ac.gridpp.vac)" in lines
    scratch = lines.index("  org.dteam.WN-scratch")
    assert lines[scratch + 1].endswith("OK        vm-ok (pilot)  'ok'")
    assert lines[scratch + 2].endswith("CRITICAL  vm-bad (lhcb-prod)  'critical'")


def test_trends_json_and_lines(
    example: Store, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["trends", "--db", db_url, "--day", DAY.isoformat(), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == trends_document(example, day=DAY, now=LATER)
    assert main(["trends", "--db", db_url, "--day", DAY.isoformat(), "--site", "SITE-A"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"trends of vo dteam, site SITE-A, {DAY} to {DAY} (1 days, UTC)")
    assert (
        f"       1 / 0 of 2  SITE-A  {SPACE}  org.dteam.WN-scratch  [lhcb-prod 1, pilot 0]" in out
    )


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["status", "--site", "NOWHERE", "--day", "2024-03-05"], ["unknown site 'NOWHERE'"]),
        (["status", "--site", "SITE-A", "--day", "2024-13-01"], ["day", "is not a date"]),
        (["status", "--site", "SITE-A", "--start", "2024-03-01", "--end", "2024-05-01"], ["31"]),
        (["status", "--site", "SITE-A", "--day", "2024-03-05", "--start", "2024-03-05"], ["day"]),
        (["trends", "--site", "NOWHERE", "--day", "2024-03-05"], ["unknown site 'NOWHERE'"]),
        (["trends", "--top", "0", "--day", "2024-03-05"], ["top must be between 1 and 100"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    example: Store, db_url: str, args: list[str], words: list[str]
) -> None:
    one_line_error(run(*args, "--db", db_url), *words)
