"""The ``vmsam ar``, ``downtime`` and ``plan`` commands: the same documents as the API,
one line on stderr and exit status 2 for bad input, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.reports.helpers import DAY, VAC, at, rows, save, vm_boot
from vmsam.cli import main
from vmsam.server.planning import plan
from vmsam.server.reports import ar_document
from vmsam.server.store import Store

VMSAM = Path(sys.executable).parent / "vmsam"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The installed command, as a shell or cron would run it."""
    return subprocess.run(
        [str(VMSAM), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )


def one_line_error(completed: subprocess.CompletedProcess[str], *words: str) -> None:
    assert completed.returncode == 2, completed
    assert completed.stdout == ""
    assert "Traceback" not in completed.stderr
    lines = completed.stderr.splitlines()
    assert len(lines) == 1, completed.stderr
    for word in words:
        assert word in lines[0]


@pytest.fixture
def example(store: Store) -> Store:
    """A reference day, stored: OK 0-3 h, CRITICAL 3-18 h, UNKNOWN 18-22 h, OK 22-24 h."""
    for hour, status in ((0, "OK"), (3, "CRITICAL"), (18, "UNKNOWN"), (22, "OK")):
        save(store, vm_boot("space1.example.org", at(hour), status))
    return store


def test_ar_json_is_the_document_of_the_api(
    example: Store, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for where, granularity in (
        (["--site", "SITE-A"], "daily"),
        (["--endpoint", "space1.example.org", "--service-type", VAC], "monthly"),
    ):
        status = main(
            [
                "ar", "--db", db_url, *where, "--start", "2024-03-04", "--end", "2024-03-06",
                "--granularity", granularity, "--json",
            ]
        )  # fmt: skip
        assert status == 0
        printed = json.loads(capsys.readouterr().out)
        assert printed == ar_document(
            example,
            site=where[1] if where[0] == "--site" else None,
            endpoint=where[1] if where[0] == "--endpoint" else None,
            start=DAY.replace(day=4),
            end=DAY.replace(day=6),
            granularity=granularity,
        )
    assert printed["results"][0]["date"] == "2024-03"


def test_ar_prints_a_table_by_default(
    example: Store, db_url: str, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    monkeypatch.setenv("VMSAM_DB", db_url)  # --db defaults to $VMSAM_DB
    assert main(["ar", "--site", "SITE-A", "--start", "2024-03-04", "--end", "2024-03-05"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "SITE-A (daily)"
    assert lines[1].split() == ["date", "availability", "reliability", "up", "unknown", "down"]
    assert lines[2].split() == ["2024-03-04", "-1", "-1", "0.00000", "1.00000", "0.00000"]
    assert lines[3].split() == [
        "2024-03-05",
        "25.00000",
        "25.00000",
        "0.20833",
        "0.16667",
        "0.00000",
    ]


def site(start: str = "2024-03-05", end: str = "2024-03-05", *more: str) -> list[str]:
    return ["--site", "SITE-A", "--start", start, "--end", end, *more]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (site("2024-13-01"), ["start", "not a date"]),
        (site("2024-03-05", "2024-03-01"), ["before the start"]),
        (site("2024-01-01", "2025-12-31"), ["at most 366"]),
        (["--site", "NOWHERE", *site()[2:]], ["unknown site"]),
        (site("2024-03-05", "2024-03-05", "--vo", "cms"), ["unknown vo"]),
        (site("2024-03-05", "2024-03-05", "--granularity", "hourly"), ["granularity"]),
    ],
)
def test_ar_bad_input_is_one_line_and_exit_2(
    example: Store, db_url: str, args: list[str], words: list[str]
) -> None:
    one_line_error(run("ar", "--db", db_url, *args), "vmsam ar:", *words)


def test_an_unusable_profile_file_is_a_configuration_error(example: Store, db_url: str) -> None:
    done = run("ar", "--db", db_url, *site("2024-03-05", "2024-03-05", "--profile", "/none.json"))
    assert done.returncode == 78, done
    assert done.stderr.startswith("vmsam ar: ")
    assert "cannot read profile" in done.stderr
    assert len(done.stderr.splitlines()) == 1


def test_downtime_add_then_list_and_the_figures_change(
    example: Store, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--db", db_url, "--endpoint", "space1.example.org", "--service-type", VAC]
    assert main(["downtime", "add", *base, "--start", "2024-03-05T18:00:00Z",
                 "--end", "2024-03-05T22:00:00+00:00", "--description", "kernel"]) == 0  # fmt: skip
    assert "scheduled" in capsys.readouterr().out
    assert main(["downtime", "add", *base, "--start", "2024-03-05", "--end",
                 "2024-03-05T04:00+01:00", "--unscheduled"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["downtime", "list", "--db", db_url, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    # the JSON of the API: UTC, written with Z
    assert [(d["start"], d["end"], d["scheduled"], d["description"]) for d in listed] == [
        ("2024-03-05T00:00:00Z", "2024-03-05T03:00:00Z", False, ""),
        ("2024-03-05T18:00:00Z", "2024-03-05T22:00:00Z", True, "kernel"),
    ]
    later = ["--endpoint", "space1.example.org", "--start", "2024-03-06"]
    assert main(["downtime", "list", "--db", db_url, *later]) == 0
    assert capsys.readouterr().out == ""
    assert main(["downtime", "list", "--db", db_url]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    # UNKNOWN 18-22 h replaced by DOWNTIME; the unscheduled one changes nothing
    [day] = rows(ar_document(example, site="SITE-A", start=DAY, end=DAY))
    assert (day["availability"], day["reliability"], day["down"]) == (20.83333, 25.0, 0.16667)


@pytest.mark.parametrize(
    ("start", "end", "words"),
    [
        ("tomorrow", "2024-03-05T03:00Z", ["--start", "not an ISO 8601 time"]),
        ("2024-03-05T03:00Z", "2024-03-05T01:00Z", ["must end after it starts"]),
        # the API's rule and message: no guess of UTC for a time without a zone
        ("2024-03-05T01:00", "2024-03-05T03:00Z", ["--start", "has no time zone"]),
    ],
)
def test_downtime_add_refuses_bad_times(
    example: Store, db_url: str, start: str, end: str, words: list[str]
) -> None:
    completed = run(
        "downtime", "add", "--db", db_url, "--endpoint", "space1.example.org",
        "--service-type", VAC, "--start", start, "--end", end,
    )  # fmt: skip
    one_line_error(completed, "vmsam downtime add:", *words)


def test_downtime_add_refuses_an_endpoint_without_results_unless_forced(
    example: Store, db_url: str
) -> None:
    period = ["--start", "2024-03-05T01:00Z", "--end", "2024-03-05T03:00Z"]
    typo = ["downtime", "add", "--db", db_url, "--service-type", VAC, *period]
    one_line_error(
        run(*typo, "--endpoint", "spcae1.example.org"), "no result", "misspelt", "--force"
    )
    one_line_error(
        run(*typo[:4], "--endpoint", "space1.example.org", "--service-type", "ARC-CE", *period),
        "no results of service type 'ARC-CE'",
        f"(it has '{VAC}')",
    )
    assert example.downtimes() == []
    forced = run(*typo, "--endpoint", "spcae1.example.org", "--force")
    assert forced.returncode == 0, forced
    assert [d.endpoint for d in example.downtimes()] == ["spcae1.example.org"]


def test_a_typo_is_corrected_then_removed_and_every_change_is_audited(
    example: Store, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--db", db_url, "--endpoint", "space1.example.org", "--service-type", VAC]
    # the day is still open (within the age window): its rules may still change
    open_day = datetime(2024, 3, 7, tzinfo=UTC)
    # meant 18-22 h: a 12-hour typo puts the whole afternoon in downtime
    assert main(["downtime", "add", *base, "--start", "2024-03-05T10:00Z",
                 "--end", "2024-03-05T22:00Z"]) == 0  # fmt: skip
    assert capsys.readouterr().out.startswith("downtime 1: space1.example.org")
    duplicate = run("downtime", "add", *base, "--start", "2024-03-05T10:00Z",
                    "--end", "2024-03-05T22:00Z")  # fmt: skip
    one_line_error(duplicate, "the same downtime is stored already, with id 1")
    [wrong] = rows(ar_document(example, site="SITE-A", start=DAY, end=DAY, now=open_day))
    assert main(["downtime", "correct", "1", "--db", db_url, "--start", "2024-03-05T18:00Z"]) == 0
    assert capsys.readouterr().out.startswith("corrected downtime 1: ")
    [right] = rows(ar_document(example, site="SITE-A", start=DAY, end=DAY, now=open_day))
    assert (right["availability"], right["reliability"]) == (20.83333, 25.0)
    assert right != wrong
    assert main(["downtime", "remove", "1", "--db", db_url]) == 0
    assert capsys.readouterr().out.startswith("removed downtime 1: ")
    [without] = rows(ar_document(example, site="SITE-A", start=DAY, end=DAY, now=open_day))
    assert (without["availability"], without["reliability"]) == (25.0, 25.0)  # UNKNOWN 18-22 h
    one_line_error(run("downtime", "remove", "1", "--db", db_url), "no downtime has id 1")
    one_line_error(run("downtime", "correct", "1", "--db", db_url), "nothing to correct")
    for huge in ("0", str(2**31), str(2**70)):
        one_line_error(
            run("downtime", "remove", huge, "--db", db_url), f"no downtime has id {huge}"
        )

    assert main(["audit", "--db", db_url, "--json"]) == 0
    log = json.loads(capsys.readouterr().out)
    assert log["total"] == 3
    assert [e["action"] for e in log["entries"]] == ["delete", "update", "create"]
    deleted, updated, created = log["entries"]
    assert all(e["actor"].startswith("cli:") and e["kind"] == "downtime" for e in log["entries"])
    assert created["before"] is None
    assert created["after"]["start"] == "2024-03-05T10:00:00Z"
    assert (updated["before"]["start"], updated["after"]["start"]) == (
        "2024-03-05T10:00:00Z",
        "2024-03-05T18:00:00Z",
    )
    assert deleted["before"] == updated["after"]
    assert deleted["after"] is None


def test_downtime_list_says_which_name_is_unknown(example: Store, db_url: str) -> None:
    for flag, words in (("--site", "unknown site"), ("--vo", "unknown vo")):
        one_line_error(run("downtime", "list", "--db", db_url, flag, "NOWHERE"), words)


def test_plan_prints_the_fraction(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--vm-starts-per-hour", "2", "--target", "0.999", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == plan(2.0, 0.999)
    assert main(["plan", "--vm-starts-per-hour", "1"]) == 0
    out = capsys.readouterr().out
    assert "sampling fraction:  0.191882" in out
    assert "0.990000" in out


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--vm-starts-per-hour", "0.1"], ["cannot be reached", "needs at least 0.1919"]),
        (["--vm-starts-per-hour", "lots"], ["must be numbers"]),
        (["--vm-starts-per-hour", "1", "--target", "2"], ["target must be within"]),
    ],
)
def test_plan_bad_input_is_one_line_and_exit_2(args: list[str], words: list[str]) -> None:
    one_line_error(run("plan", *args), "vmsam plan:", *words)


# GOCDB's downtime XML

GOCDB = """<?xml version="1.0" encoding="UTF-8"?>
<results>
  <DOWNTIME ID="101" PRIMARY_KEY="101G0" CLASSIFICATION="SCHEDULED">
    <PRIMARY_KEY>101G0</PRIMARY_KEY>
    <HOSTNAME>space1.example.org</HOSTNAME>
    <SERVICE_TYPE>uk.ac.gridpp.vac</SERVICE_TYPE>
    <ENDPOINT>space1.example.orguk.ac.gridpp.vac</ENDPOINT>
    <HOSTED_BY>SITE-A</HOSTED_BY>
    <SEVERITY>OUTAGE</SEVERITY>
    <DESCRIPTION>hypervisor &amp; kernel upgrade</DESCRIPTION>
    <START_DATE>1709661600</START_DATE>
    <END_DATE>1709676000</END_DATE>
    <FORMATED_START_DATE>2024-03-05 18:00</FORMATED_START_DATE>
    <FORMATED_END_DATE>2024-03-05 22:00</FORMATED_END_DATE>
  </DOWNTIME>
  <DOWNTIME ID="102" PRIMARY_KEY="102G0" CLASSIFICATION="UNSCHEDULED">
    <HOSTNAME>space1.example.org</HOSTNAME>
    <SERVICE_TYPE>uk.ac.gridpp.vac</SERVICE_TYPE>
    <SEVERITY>OUTAGE</SEVERITY>
    <FORMATED_START_DATE>2024-03-05 00:00</FORMATED_START_DATE>
    <FORMATED_END_DATE>2024-03-05 03:00</FORMATED_END_DATE>
  </DOWNTIME>
  <DOWNTIME ID="103" PRIMARY_KEY="103G0" CLASSIFICATION="SCHEDULED">
    <HOSTNAME>space1.example.org</HOSTNAME>
    <SERVICE_TYPE>uk.ac.gridpp.vac</SERVICE_TYPE>
    <SEVERITY>WARNING</SEVERITY>
    <START_DATE>1709596800</START_DATE>
    <END_DATE>1709683200</END_DATE>
  </DOWNTIME>
</results>
"""


def test_gocdb_import_takes_outages_once(
    example: Store, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    xml = tmp_path / "downtimes.xml"
    xml.write_text(GOCDB)
    assert main(["downtime", "import-gocdb", "--db", db_url, str(xml)]) == 0
    assert capsys.readouterr().out.startswith("added 2 downtime(s), 0 already stored, 1 ignored")
    assert main(["downtime", "import-gocdb", "--db", db_url, str(xml)]) == 0
    assert capsys.readouterr().out.startswith("added 0 downtime(s), 2 already stored, 1 ignored")
    stored = example.downtimes()
    assert [(d.start, d.end, d.scheduled) for d in stored] == [
        (at(0), at(3), False),
        (at(18), at(22), True),
    ]
    assert stored[1].description == "GOCDB 101G0: hypervisor & kernel upgrade"
    # only the scheduled outage counts: the second worked example's downtime
    [day] = rows(ar_document(example, site="SITE-A", start=DAY, end=DAY))
    assert (day["availability"], day["reliability"]) == (20.83333, 25.0)


LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE results [
  <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
  <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
  <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
  <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
]>
<results><DOWNTIME CLASSIFICATION="SCHEDULED"><HOSTNAME>h</HOSTNAME>
<SERVICE_TYPE>uk.ac.gridpp.vac</SERVICE_TYPE><SEVERITY>OUTAGE</SEVERITY>
<DESCRIPTION>&d;&d;&d;&d;</DESCRIPTION><START_DATE>1709661600</START_DATE>
<END_DATE>1709676000</END_DATE></DOWNTIME></results>
"""
EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE results [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<results><DOWNTIME CLASSIFICATION="SCHEDULED"><HOSTNAME>&secret;</HOSTNAME></DOWNTIME></results>
"""

EXTERNAL_DTD = '<?xml version="1.0"?><!DOCTYPE results SYSTEM "http://127.0.0.1:1/x"><results/>'


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (LAUGHS, ["DTD or entities", "refused"]),
        (EXTERNAL, ["DTD or entities"]),
        (EXTERNAL_DTD, ["DTD"]),
        ("<results><DOWNTIME>", ["not well-formed XML"]),
        ("<feed/>", ["not GOCDB's <results>"]),
        (GOCDB.replace("<SEVERITY>OUTAGE</SEVERITY>", "", 1), ["downtime '101G0' has no SEVERITY"]),
        (GOCDB.replace("1709676000", "soon", 1), ["downtime '101G0' has an invalid END_DATE"]),
        (GOCDB.replace("1709676000", "99999999999999999999", 1), ["invalid END_DATE"]),
        (GOCDB.replace('"UNSCHEDULED"', '"MAYBE"', 1), ["classification 'MAYBE'"]),
    ],
)  # fmt: skip
def test_gocdb_import_refuses_hostile_and_broken_files(
    db_url: str, tmp_path: Path, text: str, words: list[str]
) -> None:
    xml = tmp_path / "downtimes.xml"
    xml.write_text(text)
    one_line_error(run("downtime", "import-gocdb", "--db", db_url, str(xml)), *words)
    store = Store(db_url)
    try:
        assert store.downtimes() == []  # nothing of a bad file is imported
    finally:
        store.close()


def test_gocdb_import_of_a_missing_file(db_url: str, tmp_path: Path) -> None:
    completed = run("downtime", "import-gocdb", "--db", db_url, str(tmp_path / "none.xml"))
    assert completed.returncode == 66
    assert completed.stderr.splitlines() == [
        f"vmsam downtime import-gocdb: no such file: {tmp_path / 'none.xml'}"
    ]
