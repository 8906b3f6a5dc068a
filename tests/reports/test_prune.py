"""``vmsam db prune --before DATE``: the results of the days before it go, their daily
figures stay, and every report reads as it did."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from tests.reports.helpers import VO, save, vm_boot
from tests.reports.test_all_sites import AFTER, END, START, history
from vmsam.cli import main
from vmsam.server.reports import ReportError, ar_all_document, ar_document, prune
from vmsam.server.store import Store

BEFORE = START + timedelta(days=2)
# every period a report might ask for: all pruned, across the date, none pruned
PERIODS = [(START, BEFORE - timedelta(days=1)), (START, END), (BEFORE, END)]


def reports(store: Store) -> list[object]:
    out: list[object] = []
    for start, end in PERIODS:
        for granularity in ("daily", "monthly"):
            period = {"start": start, "end": end, "vo": VO, "now": AFTER}
            out.append(ar_all_document(store, granularity=granularity, endpoints=True, **period))
            out.append(ar_document(store, site="SITE-B", granularity=granularity, **period))
            out.append(
                ar_document(store, endpoint="a1.example.org", granularity=granularity, **period)
            )
    return out


def test_reports_stay_the_same_after_a_prune(store: Store) -> None:
    history(store)
    before = reports(store)
    stored = store.results(limit=0)[0]
    done = prune(store, BEFORE, now=AFTER)
    assert done.results_removed > 0
    assert store.results(limit=0)[0] == stored - done.results_removed
    cut = datetime(BEFORE.year, BEFORE.month, BEFORE.day, tzinfo=UTC) - timedelta(days=1)
    assert store.results(until=cut, limit=0)[0] == 0
    assert store.results(since=cut, limit=0)[0] > 0  # the day before carries over
    assert done.figures_kept > 0
    assert reports(store) == before
    # the figures of the pruned days were kept, not recomputed from what is left
    with store.engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM figured_days WHERE source <> 'pruned'")
    assert reports(store) == before


def test_a_second_prune_removes_nothing_more_and_changes_nothing(store: Store) -> None:
    history(store)
    prune(store, BEFORE, now=AFTER)
    after_first = reports(store)
    again = prune(store, BEFORE, now=AFTER)
    assert again.results_removed == 0
    assert reports(store) == after_first


def test_a_later_prune_keeps_the_earlier_figures(store: Store) -> None:
    history(store)
    before = reports(store)
    prune(store, START, now=AFTER)
    prune(store, BEFORE, now=AFTER)
    assert reports(store) == before


def test_recent_days_cannot_be_pruned(store: Store) -> None:
    history(store)
    with pytest.raises(ReportError, match="may still arrive"):
        prune(store, END, now=datetime(2024, 3, 8, 12, tzinfo=UTC))
    assert store.results(limit=0)[0] > 0


def test_the_cli_prunes_and_says_what_it_did(
    store: Store, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    save(store, vm_boot("a1.example.org", datetime(2024, 1, 10, 6, tzinfo=UTC), site="SITE-A"))
    save(store, vm_boot("a1.example.org", datetime(2024, 1, 20, 6, tzinfo=UTC), site="SITE-A"))
    assert main(["db", "prune", "--db", db_url, "--before", "2024-01-15"]) == 0
    out = capsys.readouterr().out
    assert "removed 4 results" in out
    assert "before 2024-01-15" in out
    assert main(["db", "prune", "--db", db_url, "--before", "tomorrow"]) == 2
    assert "not a date" in capsys.readouterr().err
    document = ar_document(
        store, site="SITE-A", start=date(2024, 1, 10), end=date(2024, 1, 10), vo=VO, now=AFTER
    )
    assert document["results"][0]["up"] > 0.7
