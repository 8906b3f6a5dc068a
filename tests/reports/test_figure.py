"""``vmsam db figure``: every site's daily figures of the closed days are computed once and
kept, the reports read them, and a result that arrives late still changes its days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.reports.helpers import VO, save, vm_boot
from tests.reports.test_all_sites import AFTER, END, START, history
from vmsam.cli import main
from vmsam.server import reports
from vmsam.server.reports import ReportError, ar_all_document, figure
from vmsam.server.store import Store


def month(store: Store) -> object:
    return ar_all_document(store, start=START, end=END, vo=VO, now=AFTER, endpoints=True)


def forget(store: Store) -> None:
    with store.engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM daily_figures")
        connection.exec_driver_sql("DELETE FROM figured_days")


def test_the_report_reads_the_figured_days_and_they_equal_a_computation(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    history(store)
    computed = month(store)
    forget(store)
    earliest = store.earliest_result(VO)
    assert earliest is not None
    done = figure(store, days=30, now=AFTER)
    assert [(d.vo, d.first, d.last) for d in done] == [
        (VO, earliest.date(), AFTER.date() - timedelta(days=1))
    ]

    def no_results(*args: object, **kwargs: object) -> object:
        raise AssertionError("the report loaded results instead of reading the kept figures")

    monkeypatch.setattr(reports, "_computed", no_results)
    assert month(store) == computed


def test_a_late_result_changes_its_figured_day(store: Store) -> None:
    history(store)
    figure(store, days=30, now=AFTER)
    before = month(store)
    late = datetime(END.year, END.month, END.day, 23, 30, tzinfo=UTC)
    save(store, vm_boot("a1.example.org", late, "CRITICAL", site="SITE-A"))
    after = month(store)
    assert after != before
    forget(store)
    assert month(store) == after


def test_figuring_twice_changes_nothing(store: Store) -> None:
    history(store)
    figure(store, days=30, now=AFTER)
    first = month(store)
    figure(store, days=30, now=AFTER)
    assert month(store) == first


def test_no_days_is_refused(store: Store) -> None:
    with pytest.raises(ReportError, match="at least 1"):
        figure(store, days=0)


def test_the_cli_figures_the_closed_days(
    store: Store, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "figure", "--db", db_url]) == 0
    assert "nothing to figure" in capsys.readouterr().out
    yesterday = datetime.now(UTC).replace(hour=6, minute=0, second=0, microsecond=0)
    save(store, vm_boot("a1.example.org", yesterday - timedelta(days=3), site="SITE-A"))
    assert main(["db", "figure", "--db", db_url, "--days", "2"]) == 0
    out = capsys.readouterr().out
    first = (yesterday - timedelta(days=2)).date()
    assert f"{VO}: daily figures of {first} to" in out
    with store.engine.connect() as connection:
        kept = connection.exec_driver_sql("SELECT count(*) FROM figured_days").scalar()
    assert kept == 2
    assert main(["db", "figure", "--db", db_url, "--days", "0"]) != 0
    assert "at least 1" in capsys.readouterr().err
