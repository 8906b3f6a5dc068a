"""Recomputations (docs/availability.md#recomputations) on SQLite and PostgreSQL: applied,
the excluded time of the covered metrics counts as UNKNOWN before the aggregation, as
ARGO's EXCLUDED, in every A/R path; pending, rejected and revoked ones change nothing; the
broker-outage candidates come from the silences of the store."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from tests.reports.helpers import DAY, LATER, VO, at, rows, save, vm_boot
from vmsam.server.availability import SiteGroup
from vmsam.server.recomputations import candidates, decide, request
from vmsam.server.reports import (
    ReportError,
    ar_all_document,
    ar_document,
    ar_groups_document,
    figure,
    prune,
)
from vmsam.server.store import (
    Actor,
    DuplicateRecomputation,
    Recomputation,
    RecomputationConflict,
    Store,
    UnknownRecomputation,
)
from vmsam.server.timelines import status_document
from vmsam.shared.config import RecomputationSettings

PERSON = Actor("tester", "127.0.0.1")
SPACE = "space1.example.org"
OTHER = "space2.example.org"
CVMFS = f"org.{VO}.WN-cvmfs"
MJF = f"org.{VO}.WN-mjf"


def worked_day(store: Store, site: str = "SITE-A", host: str = SPACE) -> None:
    """CRITICAL 00:00-06:00, then OK: A = R = 75 (the worked example of the docs)."""
    save(store, vm_boot(host, at(0), "CRITICAL", site=site))
    save(store, vm_boot(host, at(6), "OK", site=site))


def ask(store: Store, **fields: object) -> Recomputation:
    values: dict[str, object] = {
        "vo": VO,
        "reason": "the broker lost every message",
        "requester": "Ada",
        "start": at(0),
        "end": at(6),
    }
    values.update(fields)
    return request(store, by=PERSON, **values)  # type: ignore[arg-type]


def availability(store: Store, **where: str) -> float:
    document = ar_document(store, start=DAY, end=DAY, now=LATER, **where)
    (row,) = rows(document)
    return float(row["availability"])


def test_the_worked_day_through_every_state(store: Store) -> None:
    worked_day(store)
    assert availability(store, site="SITE-A") == 75.0
    pending = ask(store)
    assert pending.state == "pending"
    assert pending.source == "person"
    # pending changes nothing, and the document is as it always was
    document = ar_document(store, site="SITE-A", start=DAY, end=DAY, now=LATER)
    assert "recomputations" not in document
    assert rows(document)[0]["reliability"] == 75.0

    applied = decide(store, pending.id, "applied", by=PERSON)
    assert (applied.state, applied.decided_by) == ("applied", "tester")
    assert applied.decided_at is not None
    for where in ({"site": "SITE-A"}, {"endpoint": SPACE}):
        document = ar_document(store, start=DAY, end=DAY, now=LATER, **where)
        (row,) = rows(document)
        # 6 h excluded: 18 h up of 18 h counted; the excluded time is unknown, not down
        assert (row["availability"], row["reliability"]) == (100.0, 100.0)
        assert row["unknown"] == 0.25
        assert document["recomputations"] == [pending.id]

    revoked = decide(store, pending.id, "revoked", by=PERSON)
    assert revoked.state == "revoked"
    assert availability(store, site="SITE-A") == 75.0
    # the record stays listed, revoked
    assert [r.state for r in store.recomputations(vo=VO, states=None, start=None, end=None)] == [
        "revoked"
    ]


def test_a_rejected_recomputation_changes_nothing(store: Store) -> None:
    worked_day(store)
    asked = ask(store)
    assert decide(store, asked.id, "rejected", by=PERSON).state == "rejected"
    assert availability(store, site="SITE-A") == 75.0
    with pytest.raises(RecomputationConflict, match="rejected: it can no longer change"):
        decide(store, asked.id, "applied", by=PERSON)


@pytest.mark.parametrize(
    ("first", "then", "message"),
    [
        ("applied", "rejected", "applied: it can only become revoked"),
        ("applied", "applied", "applied: it can only become revoked"),
        ("revoked", "revoked", "revoked: it can no longer change"),
        ("revoked", "applied", "revoked: it can no longer change"),
    ],
)
def test_transitions_the_state_does_not_allow(
    store: Store, first: str, then: str, message: str
) -> None:
    worked_day(store)
    asked = ask(store)
    decide(store, asked.id, first, by=PERSON)
    with pytest.raises(RecomputationConflict, match=message):
        decide(store, asked.id, then, by=PERSON)


def test_unknown_ids_and_states(store: Store) -> None:
    worked_day(store)
    with pytest.raises(UnknownRecomputation, match="no recomputation has id 99"):
        decide(store, 99, "applied", by=PERSON)
    asked = ask(store)
    with pytest.raises(ValueError, match="not one of"):
        store.decide_recomputation(asked.id, "done", by=PERSON)


def test_a_site_scoped_one_leaves_other_sites_alone(store: Store) -> None:
    worked_day(store, "SITE-A", SPACE)
    worked_day(store, "SITE-B", OTHER)
    decide(store, ask(store, sites=["SITE-A"]).id, "applied", by=PERSON)
    assert availability(store, site="SITE-A") == 100.0
    assert availability(store, site="SITE-B") == 75.0
    assert availability(store, endpoint=OTHER) == 75.0
    other = ar_document(store, site="SITE-B", start=DAY, end=DAY, now=LATER)
    assert "recomputations" not in other  # it did not change SITE-B's figures
    every = ar_all_document(store, start=DAY, end=DAY, now=LATER)
    figures = {site["name"]: site["results"][0]["availability"] for site in every["sites"]}
    assert figures == {"SITE-A": 100.0, "SITE-B": 75.0}


def test_a_metric_scoped_one_leaves_other_metrics_alone(store: Store) -> None:
    # only cvmfs fails from 00:00 to 06:00; the endpoint ANDs its metrics: A = 75
    save(store, vm_boot(SPACE, at(0), "OK"))
    save(store, vm_boot(SPACE, at(0), "CRITICAL", tests=("cvmfs",), vm="failing"))
    save(store, vm_boot(SPACE, at(6), "OK"))
    assert availability(store, site="SITE-A") == 75.0
    decide(store, ask(store, metrics=[MJF]).id, "applied", by=PERSON)
    # mjf was OK: excluding it makes that time UNKNOWN (UNKNOWN AND CRITICAL is CRITICAL)
    assert availability(store, site="SITE-A") == 75.0
    decide(store, ask(store, metrics=[CVMFS]).id, "applied", by=PERSON)
    assert availability(store, site="SITE-A") == 100.0


def test_the_every_site_report_and_its_kept_figures_follow(store: Store) -> None:
    worked_day(store)
    first = ar_all_document(store, start=DAY, end=DAY, now=LATER)
    assert first["sites"][0]["results"][0]["availability"] == 75.0
    assert "recomputations" not in first
    # the closed day's figures are kept: the next report reads them
    assert store.current_days(f"cache:{_fingerprint()}", VO, DAY, DAY)
    asked = ask(store)
    decide(store, asked.id, "applied", by=PERSON)
    second = ar_all_document(store, start=DAY, end=DAY, now=LATER, endpoints=True)
    assert second["sites"][0]["results"][0]["availability"] == 100.0
    assert second["sites"][0]["endpoints"][0]["results"][0]["availability"] == 100.0
    assert second["recomputations"] == [asked.id]
    group = SiteGroup("UK", "country", ("SITE-A",), {"SITE-A": 1.0})
    groups = ar_groups_document(store, [group], start=DAY, end=DAY, now=LATER)
    assert groups["groups"][0]["results"][0]["availability"] == 100.0
    assert groups["recomputations"] == [asked.id]
    # vmsam db figure keeps the recomputed figures; revoking makes them out of date
    figure(store, days=1, now=datetime(2024, 3, 6, 1, tzinfo=UTC))
    decide(store, asked.id, "revoked", by=PERSON)
    third = ar_all_document(store, start=DAY, end=DAY, now=LATER)
    assert third["sites"][0]["results"][0]["availability"] == 75.0


def _fingerprint() -> str:
    from vmsam.server.availability import load_profiles

    return load_profiles().fingerprint


def test_the_timelines_show_the_excluded_time(store: Store) -> None:
    worked_day(store)
    asked = ask(store, start=at(2), end=at(4))
    decide(store, asked.id, "applied", by=PERSON)
    document = status_document(store, site="SITE-A", day=DAY, now=LATER)
    assert [r["id"] for r in document["recomputations"]] == [asked.id]  # type: ignore[index]
    (space,) = document["endpoints"]  # type: ignore[misc]
    cvmfs = next(m for m in space["metrics"] if m["metric"] == CVMFS)
    pieces = [(p["start"][11:16], p["end"][11:16], p["status"]) for p in cvmfs["pieces"]]
    assert pieces == [
        ("00:00", "02:00", "CRITICAL"),
        ("02:00", "04:00", "UNKNOWN"),
        ("04:00", "06:00", "CRITICAL"),
        ("06:00", "00:00", "OK"),
    ]
    assert [p.get("recomputation") for p in cvmfs["pieces"]] == [None, asked.id, None, None]
    assert cvmfs["pieces"][2]["result"]["status"] == "CRITICAL"  # the result that set it
    site = [(p["start"][11:16], p["status"]) for p in document["pieces"]]  # type: ignore[attr-defined]
    assert site == [
        ("00:00", "CRITICAL"),
        ("02:00", "UNKNOWN"),
        ("04:00", "CRITICAL"),
        ("06:00", "OK"),
    ]


def test_the_same_one_twice_is_a_duplicate(store: Store) -> None:
    worked_day(store)
    asked = ask(store, sites=["SITE-A", "SITE-A"])
    assert asked.sites == ("SITE-A",)
    with pytest.raises(DuplicateRecomputation, match=f"with id {asked.id}"):
        ask(store, sites=["SITE-A"], reason="said again")
    # another scope is not the same; once rejected, it may be asked again
    assert ask(store).id != asked.id
    decide(store, asked.id, "rejected", by=PERSON)
    assert ask(store, sites=["SITE-A"]).state == "pending"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"end": at(0)}, "end must come after the start"),
        ({"start": at(6), "end": at(0)}, "end must come after the start"),
        ({"end": at(24 * 400)}, "longer than 366 days"),
        ({"vo": "atlas"}, "unknown vo 'atlas'"),
        ({"sites": ["NOWHERE"]}, "unknown site 'NOWHERE'"),
        ({"sites": [f"S{i}" for i in range(501)]}, "unknown site"),
        ({"reason": "  "}, "needs a reason"),
        ({"requester": "x" * 300}, "not a valid requester"),
        ({"requester_email": "nobody"}, "not an e-mail address"),
        ({"source": "Broker Outage!"}, "is not a short name"),
        ({"metrics": [f"m{i}" for i in range(501)]}, "at most 500 metrics"),
        ({"metrics": ["bad\x00name"]}, "not a valid name among the metrics"),
    ],
)
def test_requests_that_cannot_be_stored(
    store: Store, fields: dict[str, object], message: str
) -> None:
    worked_day(store)
    with pytest.raises(ReportError, match=message):
        ask(store, **fields)
    assert store.recomputations() == []


def test_a_site_of_another_vo_is_refused(store: Store) -> None:
    worked_day(store)
    save(store, vm_boot(OTHER, at(1), site="SITE-ATLAS", vo="atlas"))
    with pytest.raises(ReportError, match="'SITE-ATLAS' has no endpoint with results for vo"):
        ask(store, sites=["SITE-ATLAS"])


def test_pruned_days_cannot_be_recomputed(store: Store) -> None:
    for offset in range(6):
        day = DAY + timedelta(days=offset)
        save(store, vm_boot(SPACE, at(0, day), "CRITICAL"))
        save(store, vm_boot(SPACE, at(6, day), "OK"))
    later_day = DAY + timedelta(days=4)
    pending = ask(store, start=at(0, later_day), end=at(6, later_day))
    applied = ask(store, start=at(0, DAY), end=at(6, DAY))
    decide(store, applied.id, "applied", by=PERSON)
    prune(store, DAY + timedelta(days=2), now=LATER)
    with pytest.raises(ReportError, match="were pruned"):
        ask(store, start=at(12), end=at(13))
    with pytest.raises(ReportError, match="were pruned"):
        decide(store, applied.id, "revoked", by=PERSON)
    # the pruned day keeps the figures computed with it applied
    assert availability(store, site="SITE-A") == 100.0
    assert decide(store, pending.id, "applied", by=PERSON).state == "applied"


def test_the_read_function_filters(store: Store) -> None:
    worked_day(store)
    early = ask(store)
    late = ask(store, start=at(30), end=at(40))
    decide(store, late.id, "applied", by=PERSON)
    assert [r.id for r in store.recomputations(vo=VO, states=None, start=None, end=None)] == [
        early.id,
        late.id,
    ]
    assert store.recomputations(states=("applied",)) == [store.recomputation(late.id)]
    # overlapping [start, end): one ending at the start is left out
    assert [r.id for r in store.recomputations(start=at(6), end=at(30))] == []
    assert [r.id for r in store.recomputations(start=at(5), end=at(31))] == [early.id, late.id]
    assert store.recomputations(vo="atlas") == []
    found = store.recomputation(late.id)
    assert found is not None and found.decided_by == "tester"
    assert store.audit_log()[1][0].kind == "recomputation"


def outage(**length: float) -> RecomputationSettings:
    return RecomputationSettings(outage=timedelta(**length).total_seconds())


def test_candidates_from_a_gap_in_what_was_received(store: Store) -> None:
    worked_day(store)  # results at 00:00 and 06:00 only: a 6 h silence between
    save(store, vm_boot(SPACE, at(6.5), "OK"))
    found = candidates(store, start=at(0), end=at(7), now=LATER)
    assert [(c.source, c.start, c.end) for c in found] == [("broker-outage", at(0), at(6))]
    assert found[0].sites == () and found[0].metrics == ()
    assert "6 h 00 min" in found[0].reason
    # a longer threshold finds none; a shorter one the half hour too
    assert candidates(store, start=at(0), end=at(7), settings=outage(hours=7), now=LATER) == []
    short = candidates(store, start=at(0), end=at(7), settings=outage(minutes=30), now=LATER)
    assert [(c.start, c.end) for c in short] == [(at(0), at(6)), (at(6), at(6.5)), (at(6.5), at(7))]
    # the edges count: nothing received from the start of the range on
    edge = candidates(store, start=at(-3), end=at(0.5), now=LATER)
    assert [(c.start, c.end) for c in edge] == [(at(-3), at(0))]
    # accepted by a person, it is proposed no more
    ask(store, start=at(0), end=at(6), source="broker-outage")
    assert candidates(store, start=at(0), end=at(7), now=LATER) == []


def test_no_candidates_without_a_gap(store: Store) -> None:
    for half_hour in range(0, 48):
        save(store, vm_boot(SPACE, at(half_hour / 2), "OK"))
    assert candidates(store, start=at(0), end=at(23.75), now=LATER) == []
    # an empty store is silent throughout; the future is left out
    assert candidates(store, start=at(24), end=at(48), now=at(25)) == [
        candidates(store, start=at(24), end=at(25), now=LATER)[0]
    ]


def test_candidates_refuse_bad_ranges(store: Store) -> None:
    worked_day(store)
    with pytest.raises(ReportError, match="end must come after"):
        candidates(store, start=at(5), end=at(1))
    with pytest.raises(ReportError, match="unknown vo"):
        candidates(store, start=at(0), end=at(5), vo="atlas")
    with pytest.raises(ReportError, match="longer than 366 days"):
        candidates(store, start=at(0), end=at(24 * 367))


def test_the_docs_partly_excluded_example(store: Store) -> None:
    # docs/availability.md: excluded 03:00-09:00 of CRITICAL 00-06 then OK -> 15 / 18
    worked_day(store)
    decide(store, ask(store, start=at(3), end=at(9)).id, "applied", by=PERSON)
    (row,) = rows(ar_document(store, site="SITE-A", start=DAY, end=DAY, now=LATER))
    assert (row["availability"], row["reliability"], row["unknown"]) == (83.33333, 83.33333, 0.25)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_silences_are_those_of_every_pair_of_arrivals(store: Store, seed: int) -> None:
    rng = random.Random(seed)
    moments = sorted({at(0) + timedelta(seconds=rng.randrange(2 * 86400)) for _ in range(40)})
    for number, moment in enumerate(moments):
        save(store, vm_boot(SPACE, moment, "OK", tests=("cvmfs",), vm=f"vm-{number}"))
    start, end, outage = at(-2), at(50), timedelta(hours=1)
    edges = [start, *moments, end]
    expected = [(a, b) for a, b in pairwise(edges) if b - a >= outage]
    assert store.silences(start=start, end=end, at_least=outage) == expected
