"""Trends from the store, on SQLite and PostgreSQL: flapping and failing metrics of each
space counted from the stored results, broken down by machinetype, and the sentence of the
strongest machinetype contrast."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest

from tests.reports.helpers import DAY, LATER, at, record, save
from vmsam.server.store import Store
from vmsam.server.trends import trends_document
from vmsam.shared.errors import ReportError

SPACE = "space1.example.org"
OTHER = "space2.example.org"
SCRATCH = "org.dteam.WN-scratch"
CVMFS = "org.dteam.WN-cvmfs"


def results(
    host: str,
    test: str,
    statuses: str,
    machinetype: str,
    *,
    start: float = 0.0,
    site: str = "SITE-A",
) -> list[Any]:
    """One result an hour from ``start`` h on DAY, its status by letter (O, W, C, U)."""
    names = {"O": "OK", "W": "WARNING", "C": "CRITICAL", "U": "UNKNOWN"}
    return [
        dataclasses.replace(
            record(
                host,
                at(start + k),
                names[letter],
                test=test,
                site=site,
                vm=f"{machinetype}-{host}-{start + k}",
            ),
            vm_machinetype=machinetype,
        )
        for k, letter in enumerate(statuses)
    ]


@pytest.fixture
def history(store: Store) -> Store:
    # scratch on space1: CRITICAL on every lhcb-prod VM, OK on every lhcb-test VM; the
    # two interleave, so the status changes at every result
    save(store, results(SPACE, "scratch", "CCCCCC", "lhcb-prod", start=0.0))
    save(store, results(SPACE, "scratch", "OOOO", "lhcb-test", start=0.5))
    # cvmfs on space1 flaps on one machinetype: O W O W O
    save(store, results(SPACE, "cvmfs", "OWOWO", "lhcb-prod"))
    # space2 of SITE-B: steady, one CRITICAL at the end
    save(store, results(OTHER, "scratch", "OOOC", "atlas-prod", site="SITE-B"))
    return store


def test_counts_flapping_failing_and_the_contrast(history: Store) -> None:
    document = trends_document(history, day=DAY, now=LATER)
    assert (document["vo"], document["site"], document["days"]) == ("dteam", None, 1)
    assert document["contrast"] == (
        f"{SCRATCH} at SITE-A ({SPACE}) fails only on lhcb-prod VMs (6 of 6 CRITICAL"
        " results), never on lhcb-test (0 of 4)"
    )
    flapping = [(e["site"], e["endpoint"], e["metric"], e["changes"]) for e in document["flapping"]]
    # scratch: C(0) O(.5) C(1) O(1.5) C(2) O(2.5) C(3) O(3.5) C(4) C(5): 8 changes
    assert flapping == [
        ("SITE-A", SPACE, SCRATCH, 8),
        ("SITE-A", SPACE, CVMFS, 4),
        ("SITE-B", OTHER, SCRATCH, 1),
    ]
    top = document["flapping"][0]
    assert top["changes_per_day"] == 8.0
    assert {m["machinetype"]: m["changes"] for m in top["machinetypes"]} == {
        "lhcb-prod": 4,
        "lhcb-test": 4,
    }
    failing = document["failing"]
    assert [(e["endpoint"], e["metric"], e["critical"], e["warning"]) for e in failing] == [
        (SPACE, SCRATCH, 6, 0),
        (OTHER, SCRATCH, 1, 0),
        (SPACE, CVMFS, 0, 2),
    ]
    assert failing[0]["results"] == 10
    assert failing[0]["contrast"] == document["contrast"]
    assert failing[1]["contrast"] is None  # one machinetype: no contrast
    assert {
        m["machinetype"]: (m["results"], m["critical"]) for m in failing[0]["machinetypes"]
    } == {
        "lhcb-prod": (6, 6),
        "lhcb-test": (4, 0),
    }
    assert [(s["site"], s["results"], s["critical"], s["changes"]) for s in document["sites"]] == [
        ("SITE-A", 15, 6, 12),
        ("SITE-B", 4, 1, 1),
    ]


def test_a_site_alone_top_and_a_weaker_contrast(history: Store) -> None:
    save(history, results(SPACE, "mjf", "CCOO", "lhcb-prod", start=10.0))
    save(history, results(SPACE, "mjf", "COOOO", "lhcb-test", start=10.5))
    document = trends_document(history, day=DAY, site="SITE-B", now=LATER)
    assert [e["site"] for e in document["failing"]] == ["SITE-B"]
    assert document["contrast"] is None
    document = trends_document(history, day=DAY, site="SITE-A", top=1, now=LATER)
    assert len(document["flapping"]) == len(document["failing"]) == 1
    mjf = trends_document(history, day=DAY, now=LATER, top=10)["failing"]
    (entry,) = (e for e in mjf if e["metric"] == "org.dteam.WN-mjf")
    assert entry["contrast"] == (
        f"org.dteam.WN-mjf at SITE-A ({SPACE}) fails more on lhcb-prod VMs (2 of 4 CRITICAL"
        " results) than on lhcb-test (1 of 5)"
    )


def test_the_range_counts_its_days_only(history: Store) -> None:
    later = DAY + timedelta(days=1)
    save(history, results(SPACE, "scratch", "C", "lhcb-prod", start=30.0))
    assert trends_document(history, day=later, now=LATER)["failing"][0]["results"] == 1
    both = trends_document(history, start=DAY, end=later, now=LATER)
    assert both["days"] == 2
    assert both["failing"][0]["critical"] == 7
    assert both["flapping"][0]["changes_per_day"] == 4.0  # 8 changes over 2 days
    assert trends_document(history, day=DAY + timedelta(days=5), now=LATER)["failing"] == []


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ({"site": "NOWHERE"}, "unknown site 'NOWHERE'"),
        ({"vo": "atlas"}, "unknown vo 'atlas'"),
        ({"top": 0}, "top must be between 1 and 100"),
        ({"top": 101}, "top must be between 1 and 100"),
    ],
)
def test_bad_requests_say_what_is_wrong(
    history: Store, where: dict[str, Any], message: str
) -> None:
    with pytest.raises(ReportError, match=message):
        trends_document(history, day=DAY, now=LATER, **where)


def test_a_range_of_more_than_31_days_is_refused(history: Store) -> None:
    with pytest.raises(ReportError, match="the range has 32 days; at most 31"):
        trends_document(history, start=DAY, end=DAY + timedelta(days=31), now=LATER)
