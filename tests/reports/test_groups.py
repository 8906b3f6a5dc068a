"""Weighted A/R of groups of sites (docs/availability.md), on SQLite and PostgreSQL: ARGO's
rule (weights + 1, sites at -1 left out, months the mean of the defined days), weights from
the file or from the HS06 the VMs report, the API, the CLI, and bad groups files."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.reports.helpers import DAY, LATER, TESTS, VO, at, record, save, vm_boot
from vmsam.cli import main
from vmsam.server.api import create_app
from vmsam.server.availability import GroupsError, load_groups
from vmsam.server.reports import ReportError, ar_all_document, ar_groups_document
from vmsam.server.store import Store
from vmsam.shared.config import load_settings, with_overrides

NEXT = DAY + timedelta(days=1)
GROUPS = """
[[groups]]
name = "UK"
kind = "country"
sites = ["SITE-A", "SITE-B", "SITE-C", "SITE-GONE"]
weights = { SITE-A = 1, SITE-B = 3, SITE-C = 100 }

[[groups]]
name = "T2"
kind = "tier"
sites = ["SITE-A", "SITE-B"]
"""


def mjf(host: str, hours: float, hs06: float | None, *, site: str) -> list:
    """A tested VM whose MJF result carries its HS06 in perfdata (None: none)."""
    results = vm_boot(host, at(hours), "OK", site=site)
    perf = f"hs06={hs06} allocated_cpu=8" if hs06 is not None else "allocated_cpu=8"
    return [replace(r, perf_data=perf) if r.metric_name.endswith("mjf") else r for r in results]


@pytest.fixture
def groups_file(tmp_path: Path) -> Path:
    path = tmp_path / "groups.toml"
    path.write_text(GROUPS)
    return path


@pytest.fixture
def three_sites(store: Store) -> Store:
    """On DAY: SITE-A up all day (A = 100), SITE-B up half of it (A = 50), SITE-C silent
    (its only result two days before: -1). SITE-A's spaces report HS06 100, 120, 300 and 80;
    SITE-B's none. On NEXT only SITE-B reports, OK at 00:00: A's OK and B's carry over."""
    save(store, vm_boot("c1.example.org", at(0, DAY - timedelta(days=2)), "OK", site="SITE-C"))
    for hours, hs06 in ((0, 100), (6, 120), (12, 300)):
        save(store, mjf("a1.example.org", hours, hs06, site="SITE-A"))
    save(store, mjf("a2.example.org", 0, 80, site="SITE-A"))
    save(store, mjf("b1.example.org", 0, None, site="SITE-B"))
    save(store, vm_boot("b1.example.org", at(12), "CRITICAL", site="SITE-B"))
    save(store, vm_boot("b1.example.org", at(0, NEXT), "OK", site="SITE-B"))
    return store


def test_a_group_is_the_weighted_mean_of_its_defined_sites(
    three_sites: Store, groups_file: Path
) -> None:
    groups = load_groups(groups_file)
    document = ar_groups_document(
        three_sites, groups, start=DAY, end=DAY, vo=VO, kind="country", now=LATER
    )
    assert document["profile"] == "vmsam_wn/vmsam_critical/vmsam_ops"
    (uk,) = document["groups"]  # type: ignore[misc]
    # weights + 1: A 2, B 4; C is -1 that day and left out; SITE-GONE has no figures
    assert uk["results"] == [
        {"date": DAY.isoformat(), "availability": 66.66667, "reliability": 66.66667}
    ]
    assert uk["members"] == [
        {"name": "SITE-A", "weight": 1.0, "weight_source": "file", "monitored": True},
        {"name": "SITE-B", "weight": 3.0, "weight_source": "file", "monitored": True},
        {"name": "SITE-C", "weight": 100.0, "weight_source": "file", "monitored": True},
        {"name": "SITE-GONE", "weight": 0.0, "weight_source": "none", "monitored": False},
    ]
    # the sites' own figures are those of the every-site report
    every = ar_all_document(three_sites, start=DAY, end=DAY, vo=VO, now=LATER)
    figures = {s["name"]: s["results"][0]["availability"] for s in every["sites"]}  # type: ignore[attr-defined]
    assert figures == {"SITE-A": 100.0, "SITE-B": 50.0, "SITE-C": -1}


def test_without_weights_the_capacity_the_vms_report_weighs(
    three_sites: Store, groups_file: Path
) -> None:
    groups = load_groups(groups_file)
    document = ar_groups_document(
        three_sites, groups, start=DAY, end=DAY, vo=VO, kind="tier", now=LATER
    )
    (tier,) = document["groups"]  # type: ignore[misc]
    # SITE-A: median(100, 120, 300) + 80 = 200; SITE-B reported none: 0
    assert tier["members"] == [
        {"name": "SITE-A", "weight": 200.0, "weight_source": "capacity", "monitored": True},
        {"name": "SITE-B", "weight": 0.0, "weight_source": "none", "monitored": True},
    ]
    expected = round((100 * 201 + 50 * 1) / 202, 5)
    assert tier["results"][0]["availability"] == expected


def test_a_month_is_the_mean_of_the_defined_days(three_sites: Store, groups_file: Path) -> None:
    groups = load_groups(groups_file)
    span = {"start": DAY, "end": NEXT + timedelta(days=2), "vo": VO, "now": LATER}
    daily = ar_groups_document(three_sites, groups, kind="country", **span)
    monthly = ar_groups_document(three_sites, groups, kind="country", granularity="monthly", **span)
    days = [row["availability"] for row in daily["groups"][0]["results"]]  # type: ignore[index]
    # DAY: 66.66667; NEXT: A's OK of DAY carries over, B is OK; the day after, B's OK of
    # NEXT carries over and A is -1; then every site is -1, and so is the group
    assert days == [66.66667, 100.0, 100.0, -1]
    (month,) = monthly["groups"][0]["results"]  # type: ignore[index]
    # the mean of the defined days' unrounded figures: (200/3 + 100 + 100) / 3
    assert month == {"date": "2024-03", "availability": 88.88889, "reliability": 88.88889}


def test_bad_requests_are_one_line_errors(three_sites: Store, groups_file: Path) -> None:
    groups = load_groups(groups_file)
    with pytest.raises(ReportError, match="kind 'region' is not one of tier, federation"):
        ar_groups_document(three_sites, groups, start=DAY, end=DAY, kind="region", now=LATER)
    with pytest.raises(ReportError, match="unknown vo"):
        ar_groups_document(three_sites, groups, start=DAY, end=DAY, vo="nobody", now=LATER)


def test_the_api_answers_the_groups(three_sites: Store, groups_file: Path) -> None:
    settings = with_overrides(load_settings(None, environ={}), api={"groups": str(groups_file)})
    client = TestClient(create_app(three_sites, settings))
    query = {"start": DAY.isoformat(), "end": DAY.isoformat(), "vo": VO}
    answer = client.get("/api/v1/ar/groups", params=query)
    assert answer.status_code == 200, answer.text
    assert [g["name"] for g in answer.json()["groups"]] == ["UK", "T2"]
    tiers = client.get("/api/v1/ar/groups", params={**query, "kind": "tier"})
    assert [g["name"] for g in tiers.json()["groups"]] == ["T2"]
    assert client.get("/api/v1/ar/groups", params={**query, "kind": "region"}).status_code == 422
    assert client.get("/api/v1/ar/groups", params={**query, "vo": "nobody"}).status_code == 404
    backwards = {**query, "start": NEXT.isoformat()}
    assert client.get("/api/v1/ar/groups", params=backwards).status_code == 422
    unconfigured = TestClient(create_app(three_sites, load_settings(None, environ={})))
    missing = unconfigured.get("/api/v1/ar/groups", params=query)
    assert missing.status_code == 404
    assert "[api] groups" in missing.json()["detail"]


def test_the_cli_prints_the_groups(
    three_sites: Store, db_url: str, groups_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    period = ["--start", DAY.isoformat(), "--end", DAY.isoformat(), "--vo", VO]
    assert main(["ar", "--db", db_url, "--groups", str(groups_file), "--json", *period]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == ar_groups_document(
        three_sites, load_groups(groups_file), start=DAY, end=DAY, vo=VO
    )
    assert main(["ar", "--db", db_url, "--groups", str(groups_file), "--csv", *period]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert table[0] == {
        "group": "UK",
        "kind": "country",
        "date": DAY.isoformat(),
        "availability": "66.66667",
        "reliability": "66.66667",
    }
    assert (
        main(["ar", "--db", db_url, "--groups", str(groups_file), "--kind", "tier", *period]) == 0
    )
    shown = capsys.readouterr().out
    assert shown.startswith("T2 (tier, daily)\nmembers: SITE-A 200 (capacity), SITE-B 0 (none)")
    assert main(["ar", "--db", db_url, "--all", "--kind", "tier", *period]) == 2
    assert "--kind goes with --groups" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("groups = 3", "'groups' must be a non-empty list"),
        ("[[groups]]\nkind = 'tier'\nsites = ['A']", "needs a 'name'"),
        ("[[groups]]\nname = 'X'\nkind = 'region'\nsites = ['A']", "unknown kind 'region'"),
        ("[[groups]]\nname = 'X'\nkind = 'tier'\nsites = []", "non-empty list of site names"),
        ("[[groups]]\nname = 'X'\nkind = 'tier'\nsites = ['A', 'A']", "listed twice"),
        ("[[groups]]\nname = 'X'\nkind = 'tier'\nsites = ['A']\nsize = 1", "unknown key(s) size"),
        (
            "[[groups]]\nname = 'X'\nkind = 'tier'\nsites = ['A']\nweights = { B = 1 }",
            "weights of sites not in the group: B",
        ),
        (
            "[[groups]]\nname = 'X'\nkind = 'tier'\nsites = ['A']\nweights = { A = -1 }",
            "must be a number >= 0",
        ),
        (
            "[[groups]]\nname = 'X'\nkind = 'tier'\nsites = ['A']\n"
            "[[groups]]\nname = 'X'\nkind = 'country'\nsites = ['A']",
            "given twice: X",
        ),
        ("[[groups]\n", "is not valid"),
        ("[other]\n", "must hold 'groups'"),
    ],
)
def test_a_bad_groups_file_is_one_clear_error(tmp_path: Path, text: str, said: str) -> None:
    path = tmp_path / "groups.toml"
    path.write_text(text)
    with pytest.raises(GroupsError, match=f"groups file {path}") as raised:
        load_groups(path)
    assert said in str(raised.value)


def test_a_bad_groups_file_stops_the_cli_and_the_server_with_exit_78(tmp_path: Path) -> None:
    bad = tmp_path / "groups.json"
    bad.write_text(json.dumps({"groups": [{"name": "X", "kind": "region", "sites": ["A"]}]}))
    config = tmp_path / "vmsam.toml"
    config.write_text(f'[api]\ngroups = "{bad}"\n')
    database = f"sqlite:///{tmp_path}/x.db"
    for command in (
        ["ar", "--db", database, "--groups", str(bad), "--start", "2024-03-05", "--end",
         "2024-03-05"],
        ["serve", "--db", database, "--port", "0", "--config", str(config)],
    ):  # fmt: skip
        done = subprocess.run(
            [sys.executable, "-m", "vmsam.cli", *command],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 78, done.stderr
        assert "Traceback" not in done.stderr
        assert "unknown kind 'region'" in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1


def test_results_without_hs06_weigh_nothing(store: Store, tmp_path: Path) -> None:
    save(store, [record("a1.example.org", at(1), "OK", test=test) for test in TESTS])
    path = tmp_path / "g.json"
    path.write_text(
        json.dumps({"groups": [{"name": "G", "kind": "federation", "sites": ["SITE-A"]}]})
    )
    groups = load_groups(path)
    document = ar_groups_document(store, groups, start=DAY, end=DAY, now=LATER)
    assert document["groups"][0]["members"][0]["weight_source"] == "none"  # type: ignore[index]
    assert document["groups"][0]["results"][0]["availability"] == 100.0  # type: ignore[index]
