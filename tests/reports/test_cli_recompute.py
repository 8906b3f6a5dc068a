"""``vmsam recompute``: the same rules as the API, on SQLite and PostgreSQL; one line on
stderr and exit status 2 for bad input, never a traceback."""

from __future__ import annotations

import json

import pytest

from tests.reports.helpers import DAY, LATER, VO, at, rows, save, vm_boot
from tests.reports.test_cli_ar import one_line_error, run
from vmsam.cli import main
from vmsam.server.reports import ar_document
from vmsam.server.store import Store


@pytest.fixture
def worked(store: Store) -> Store:
    """CRITICAL 00:00-06:00 of DAY, then OK (A = 75); nothing received 00:00-06:00."""
    save(store, vm_boot("space1.example.org", at(0), "CRITICAL"))
    save(store, vm_boot("space1.example.org", at(6), "OK"))
    save(store, vm_boot("space1.example.org", at(6.5), "OK"))
    return store


def availability(store: Store) -> float:
    (day,) = rows(ar_document(store, site="SITE-A", start=DAY, end=DAY, now=LATER))
    return float(day["availability"])


def test_add_apply_revoke_and_the_figures_follow(
    worked: Store, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    added = main(["recompute", "add", "--db", db_url, "--vo", VO, "--start", "2024-03-05",
                  "--end", "2024-03-05T06:00Z", "--reason", "broker down", "--site", "SITE-A",
                  "--requester", "Ada", "--email", "ada@example.org"])  # fmt: skip
    assert added == 0
    line = capsys.readouterr().out
    assert line.startswith("recomputation 1 (pending): dteam 2024-03-05T00:00:00+00:00")
    assert "sites: SITE-A; metrics: all" in line
    assert availability(worked) == 75.0
    assert main(["recompute", "apply", "--db", db_url, "1"]) == 0
    assert "(applied)" in capsys.readouterr().out
    assert availability(worked) == 100.0
    assert main(["recompute", "show", "--db", db_url, "1", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["state"], shown["requester"], shown["decided_by"][:4]) == (
        "applied",
        "Ada",
        "cli:",
    )
    assert main(["recompute", "revoke", "--db", db_url, "1"]) == 0
    capsys.readouterr()
    assert availability(worked) == 75.0
    assert main(["recompute", "list", "--db", db_url, "--state", "revoked"]) == 0
    (listed,) = capsys.readouterr().out.splitlines()
    assert listed.split("\t")[:3] == ["1", "revoked", VO]
    assert main(["recompute", "list", "--db", db_url, "--date", "2024-03-06"]) == 0
    assert capsys.readouterr().out == ""


def test_candidates_then_accept(
    worked: Store, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    window = ["--db", db_url, "--start", "2024-03-05", "--end", "2024-03-05T07:00Z"]
    assert main(["recompute", "candidates", *window, "--json"]) == 0
    (candidate,) = json.loads(capsys.readouterr().out)
    assert (candidate["source"], candidate["start"], candidate["end"]) == (
        "broker-outage",
        "2024-03-05T00:00:00Z",
        "2024-03-05T06:00:00Z",
    )
    # a longer silence threshold finds nothing
    assert main(["recompute", "candidates", *window, "--outage", "30000"]) == 0
    assert capsys.readouterr().out == ""
    accept = ["recompute", "accept", "--db", db_url, "--vo", VO, "--start",
              candidate["start"], "--end", candidate["end"]]  # fmt: skip
    assert main(accept) == 0
    assert "recomputation 1 (pending)" in capsys.readouterr().out
    (stored,) = worked.recomputations()
    assert (stored.source, stored.sites, stored.reason) == (
        "broker-outage",
        (),
        candidate["reason"],
    )
    assert stored.start == at(0)
    # proposed no more, so it cannot be accepted twice
    assert main(["recompute", "candidates", *window]) == 0
    assert capsys.readouterr().out == ""
    assert main(accept) == 2
    assert "no candidate runs from" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["add", "--vo", VO, "--start", "2024-03-05T06:00Z", "--end", "2024-03-05",
          "--reason", "r"], ["end must come after the start"]),
        (["add", "--vo", VO, "--start", "2024-03-05T01:00", "--end", "2024-03-06",
          "--reason", "r"], ["--start", "has no time zone"]),
        (["add", "--vo", "cms", "--start", "2024-03-05", "--end", "2024-03-06",
          "--reason", "r"], ["unknown vo 'cms'"]),
        (["add", "--vo", VO, "--start", "2024-03-05", "--end", "2024-03-06", "--reason", "r",
          "--site", "NOWHERE"], ["unknown site 'NOWHERE'"]),
        (["apply", "7"], ["no recomputation has id 7"]),
        (["revoke", "99999999999"], ["no recomputation has id 99999999999"]),
        (["show", "0"], ["no recomputation has id 0"]),
        (["list", "--state", "done"], ["--state 'done' is not one of"]),
        (["list", "--date", "2024-02-30"], ["not a date"]),
        (["candidates", "--start", "2024-03-06", "--end", "2024-03-05"], ["end must come after"]),
        (["candidates", "--start", "2024-03-05", "--end", "2024-03-06", "--outage", "5"],
         ["--outage must be"]),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(
    worked: Store, db_url: str, args: list[str], words: list[str]
) -> None:
    command, *rest = args
    completed = run("recompute", command, "--db", db_url, *rest)
    one_line_error(completed, f"vmsam recompute {command}:", *words)


def test_a_forbidden_change_and_a_duplicate_exit_2(worked: Store, db_url: str) -> None:
    add = ["recompute", "add", "--db", db_url, "--vo", VO, "--start", "2024-03-05",
           "--end", "2024-03-05T06:00Z", "--reason", "r"]  # fmt: skip
    assert main(add) == 0
    one_line_error(run(*add), "vmsam recompute add:", "stored already, with id 1")
    assert main(["recompute", "reject", "--db", db_url, "1"]) == 0
    one_line_error(
        run("recompute", "apply", "--db", db_url, "1"),
        "vmsam recompute apply:",
        "recomputation 1 is rejected: it can no longer change",
    )


def test_the_outage_comes_from_the_configuration(
    worked: Store, db_url: str, tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    window = ["--db", db_url, "--start", "2024-03-05", "--end", "2024-03-05T07:00Z"]
    config = tmp_path / "vmsam.toml"
    config.write_text("[recomputations]\noutage = 25200\n")  # 7 h: the 6 h gap is no outage
    assert main(["recompute", "candidates", *window, "--config", str(config)]) == 0
    assert capsys.readouterr().out == ""
    config.write_text("[recomputations]\noutage = 5\n")
    completed = run("recompute", "candidates", *window, "--config", str(config))
    assert completed.returncode == 78, completed
    assert "[recomputations] outage" in completed.stderr
