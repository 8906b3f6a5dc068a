"""Every site at once (``ar_all_document``, ``GET /api/v1/ar/sites``, ``vmsam ar --all``):
the same figures as one site or endpoint at a time, and closed days kept in the store until a
later result, a downtime or new site makes them out of date."""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.reports.helpers import VAC, VCYCLE, VO, at, save, vm_boot
from vmsam.cli import main
from vmsam.server.api import create_app
from vmsam.server.reports import ar_all_document, ar_document
from vmsam.server.store import Store
from vmsam.shared.config import load_settings

START = date(2024, 3, 4)
END = date(2024, 3, 7)
# the period is over: every day in it is closed
AFTER = datetime(2024, 3, 20, tzinfo=UTC)
SPACES = (
    ("SITE-A", "a1.example.org", VAC),
    ("SITE-A", "a2.example.org", VCYCLE),
    ("SITE-B", "b1.example.org", VAC),
    ("SITE-C", "c1.example.org", VAC),
)


def history(store: Store, seed: int = 7) -> None:
    """Tested VMs at random hours with random outcomes, SITE-C joining late."""
    rng = random.Random(seed)
    results = []
    for site, host, kind in SPACES:
        first = 40 if site == "SITE-C" else 0
        for hour in range(first, 24 * 5, 3):
            moment = at(hour + rng.random() * 2, START - timedelta(days=1))
            status = rng.choices(("OK", "WARNING", "CRITICAL", "UNKNOWN"), (8, 1, 2, 1))[0]
            results += vm_boot(host, moment, status, site=site, service_type=kind)
    save(store, results)
    store.add_downtime("b1.example.org", VAC, at(5, START + timedelta(days=1)), at(9, END))


class CountingStore(Store):
    """A store that counts the loads of results the reports make."""

    loads = 0

    def timeline_input(self, **where: Any) -> Any:
        self.loads += 1
        return super().timeline_input(**where)


@pytest.fixture
def counting(db_url: str):
    with CountingStore(db_url) as opened:
        history(opened)
        yield opened


def every(store: Store, **options: Any) -> dict[str, Any]:
    return ar_all_document(store, start=START, end=END, vo=VO, **{"now": AFTER, **options})


@pytest.mark.parametrize("granularity", ["daily", "monthly"])
def test_every_site_has_the_figures_of_its_own_report(counting: Store, granularity: str) -> None:
    document = every(counting, granularity=granularity, endpoints=True)
    assert [site["name"] for site in document["sites"]] == ["SITE-A", "SITE-B", "SITE-C"]
    for site in document["sites"]:
        alone = ar_document(
            counting,
            site=site["name"],
            start=START,
            end=END,
            vo=VO,
            now=AFTER,
            granularity=granularity,
        )
        assert site["results"] == alone["results"]
        expected = [(host, kind) for owner, host, kind in SPACES if owner == site["name"]]
        assert [(e["name"], e["service_type"]) for e in site["endpoints"]] == expected
        for space in site["endpoints"]:
            assert (
                space["results"]
                == ar_document(
                    counting,
                    endpoint=space["name"],
                    service_type=space["service_type"],
                    start=START,
                    end=END,
                    vo=VO,
                    now=AFTER,
                    granularity=granularity,
                )["results"]
            )
    assert len(document["sites"][0]["results"]) == (4 if granularity == "daily" else 1)


def test_closed_days_are_computed_once(counting: Store) -> None:
    first = every(counting)
    loads = counting.loads
    assert every(counting) == first
    assert counting.loads == loads  # read from the kept figures
    # the endpoints were kept with the sites: asking for them loads nothing either
    every(counting, endpoints=True)
    assert counting.loads == loads


def test_a_late_result_makes_its_day_and_the_next_computed_again(counting: Store) -> None:
    before = every(counting)
    loads = counting.loads
    late = START + timedelta(days=2)
    save(counting, vm_boot("a1.example.org", at(12.5, late), "CRITICAL", vm="late"))
    after = every(counting)
    assert counting.loads == loads + 1
    day_results = {r["date"]: r for r in after["sites"][0]["results"]}
    old_results = {r["date"]: r for r in before["sites"][0]["results"]}
    assert day_results[late.isoformat()] != old_results[late.isoformat()]
    assert day_results[START.isoformat()] == old_results[START.isoformat()]


def test_kept_figures_equal_a_fresh_computation_after_changes(db_url: str) -> None:
    with CountingStore(db_url) as store:
        history(store)
        every(store, endpoints=True)
        save(store, vm_boot("b1.example.org", at(1, START + timedelta(days=3)), "CRITICAL"))
        store.add_downtime("a2.example.org", VCYCLE, at(2, START), at(4, START))
        kept = every(store, endpoints=True)
        loads = store.loads
    # the same store, its kept figures removed: everything computed from the results
    with Store(db_url) as fresh:
        with fresh.engine.begin() as connection:
            connection.exec_driver_sql("DELETE FROM daily_figures")
            connection.exec_driver_sql("DELETE FROM figured_days")
        assert every(fresh, endpoints=True) == kept
    assert loads > 0


def test_a_downtime_declared_since_is_counted_while_the_day_is_open(counting: Store) -> None:
    open_yet = datetime.combine(END + timedelta(days=2), time(), UTC)  # in the age window
    before = every(counting, now=open_yet)
    counting.add_downtime("c1.example.org", VAC, at(0, END), at(24, END))
    after = every(counting, now=open_yet)
    site_c = {r["date"]: r for r in after["sites"][2]["results"]}
    assert site_c[END.isoformat()]["down"] == 1.0
    assert after != before


def test_a_downtime_declared_after_the_day_settled_changes_nothing(counting: Store) -> None:
    before = every(counting)  # every day is closed: this report settles them
    counting.add_downtime("c1.example.org", VAC, at(0, END), at(24, END))
    assert every(counting) == before


def test_a_new_site_makes_the_kept_days_computed_again(counting: Store) -> None:
    every(counting)
    loads = counting.loads
    # its first results are of today: they change no closed day, but the day lists lack it
    save(counting, vm_boot("d1.example.org", AFTER - timedelta(hours=1), site="SITE-D"))
    after = every(counting)
    assert counting.loads == loads + 1
    assert [site["name"] for site in after["sites"]][-1] == "SITE-D"
    assert {r["unknown"] for r in after["sites"][-1]["results"]} == {1.0}


def test_today_is_never_kept(db_url: str) -> None:
    with CountingStore(db_url) as store:
        now = at(12, END)
        save(store, vm_boot("a1.example.org", at(1, END), "OK", site="SITE-A"))
        first = ar_all_document(store, start=END, end=END, vo=VO, now=now)
        save(store, vm_boot("a1.example.org", at(6, END), "CRITICAL", site="SITE-A"))
        second = ar_all_document(store, start=END, end=END, vo=VO, now=now)
    assert first != second
    assert second["sites"][0]["results"][0]["up"] < first["sites"][0]["results"][0]["up"]


def test_the_api_answers_every_site(counting: Store) -> None:
    settings = load_settings(None, environ={})
    client = TestClient(create_app(counting, settings))
    query = {"start": START.isoformat(), "end": END.isoformat(), "vo": VO, "endpoints": "true"}
    answer = client.get("/api/v1/ar/sites", params=query)
    assert answer.status_code == 200, answer.text
    document = answer.json()
    assert [s["name"] for s in document["sites"]] == ["SITE-A", "SITE-B", "SITE-C"]
    assert document["sites"][0]["endpoints"][0]["name"] == "a1.example.org"
    bad = client.get("/api/v1/ar/sites", params={**query, "granularity": "weekly"})
    assert bad.status_code == 422
    unknown = client.get("/api/v1/ar/sites", params={**query, "vo": "nobody"})
    assert unknown.status_code == 404


def test_the_cli_prints_every_site_as_csv(
    counting: Store, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    period = ["--start", START.isoformat(), "--end", END.isoformat(), "--vo", VO]
    assert main(["ar", "--db", db_url, "--all", "--endpoints", "--csv", *period]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    # 3 sites and 4 endpoints, a row a day each
    assert len(table) == 7 * 4
    assert {row["endpoint"] for row in table if row["site"] == "SITE-A"} == {
        "",
        "a1.example.org",
        "a2.example.org",
    }
    assert main(["ar", "--db", db_url, "--site", "SITE-A", "--endpoints", *period]) == 2
    assert "--endpoints goes with --all" in capsys.readouterr().err
