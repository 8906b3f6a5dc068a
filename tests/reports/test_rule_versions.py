"""Versioned rules: a closed day is settled with the downtimes in force when its A/R was
first computed as closed, so a downtime declared, corrected or removed later leaves its
figures (and its status timelines) alone; an open day follows the current downtimes."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.reports.helpers import DAY, VAC, VO, at, rows, save, vm_boot
from vmsam.server.availability import Profiles, SiteGroup, load_profiles, profiles_from_documents
from vmsam.server.recomputations import decide, request
from vmsam.server.reports import ar_all_document, ar_document, ar_groups_document
from vmsam.server.store import Actor, Store
from vmsam.server.timelines import status_document

HOST = "space1.example.org"
NEXT = DAY + timedelta(days=1)
# both days closed: ARGO's age window has passed since their end
CLOSED = datetime.combine(NEXT + timedelta(days=10), datetime.min.time(), UTC)
# DAY closed, NEXT still open (its end is less than the age window ago)
NEXT_OPEN = at(24 * 4 + 12, DAY)


def history(store: Store) -> None:
    """OK all along, one tested VM every 6 hours over both days."""
    save(store, [r for hour in range(0, 48, 6) for r in vm_boot(HOST, at(hour + 0.5))])


def figures(store: Store, now: datetime = CLOSED) -> list[dict[str, Any]]:
    return rows(ar_document(store, site="SITE-A", start=DAY, end=NEXT, vo=VO, now=now))


def down(figures: list[dict[str, Any]]) -> list[float]:
    return [day["down"] for day in figures]


def test_a_downtime_declared_after_settlement_does_not_count(db_url: str) -> None:
    with Store(db_url) as store:
        history(store)
        before = figures(store)  # settles both days
        assert down(before) == [0.0, 0.0]
        store.add_downtime(HOST, VAC, at(0), at(12))
        assert figures(store) == before
        # it is stored and listed all the same: only the settled figures ignore it
        assert [d.start for d in store.downtimes()] == [at(0)]


def test_a_settled_day_keeps_the_version_in_force_at_its_settlement(db_url: str) -> None:
    with Store(db_url) as store:
        history(store)
        declared = store.add_downtime(HOST, VAC, at(0), at(12))
        settled = figures(store)
        assert down(settled) == [0.5, 0.0]
        # corrected to the whole day, then removed: the settled day stays as it was
        store.correct_downtime(dataclasses.replace(declared, end=at(24)))
        assert figures(store) == settled
        store.remove_downtime(declared.id)
        assert figures(store) == settled
        assert store.downtimes() == []


def test_an_open_day_follows_the_current_downtimes(db_url: str) -> None:
    with Store(db_url) as store:
        history(store)
        assert down(figures(store, NEXT_OPEN)) == [0.0, 0.0]  # settles DAY alone
        # one downtime over the end of the settled day and the start of the open one
        declared = store.add_downtime(HOST, VAC, at(18), at(24 + 6))
        assert down(figures(store, NEXT_OPEN)) == [0.0, 0.25]
        store.correct_downtime(dataclasses.replace(declared, end=at(24 + 12)))
        assert down(figures(store, NEXT_OPEN)) == [0.0, 0.5]
        # once NEXT is closed too, it settles with the version in force now
        assert down(figures(store)) == [0.0, 0.5]
        store.remove_downtime(declared.id)
        assert down(figures(store)) == [0.0, 0.5]


def test_every_site_report_and_timelines_read_the_same_versions(db_url: str) -> None:
    with Store(db_url) as store:
        history(store)
        declared = store.add_downtime(HOST, VAC, at(6), at(12))
        every = ar_all_document(store, start=DAY, end=NEXT, vo=VO, now=CLOSED)
        store.correct_downtime(dataclasses.replace(declared, start=at(0)))
        again = ar_all_document(store, start=DAY, end=NEXT, vo=VO, now=CLOSED)
        assert again == every
        assert [day["down"] for day in every["sites"][0]["results"]] == [0.25, 0.0]
        timelines = status_document(store, site="SITE-A", day=DAY, vo=VO, now=CLOSED)
        [space] = timelines["endpoints"]  # type: ignore[misc]
        downtime = [
            (piece["start"], piece["end"])
            for piece in space["pieces"]
            if piece["status"] == "DOWNTIME"
        ]
        assert downtime == [("2024-03-05T06:00:00Z", "2024-03-05T12:00:00Z")]


def test_settlement_is_kept_once(db_url: str) -> None:
    with Store(db_url) as store:
        first = store.settle(VO, [DAY], at(24 * 10))
        again = store.settle(VO, [DAY, NEXT], at(24 * 20))
        assert first == {DAY: at(24 * 10)}
        assert again == {DAY: at(24 * 10), NEXT: at(24 * 20)}


def test_an_applied_recomputation_settles_its_days_again_and_revoking_it_undoes_that(
    db_url: str,
) -> None:
    person = Actor("tester", "127.0.0.1")
    with Store(db_url) as store:
        history(store)
        settled = figures(store)
        declared = store.add_downtime(HOST, VAC, at(0), at(12))
        assert figures(store) == settled
        # its first hour only, which the downtime covers anyway (DOWNTIME overrides the
        # excluded UNKNOWN): what changes is the rules the day is computed with
        recomputation = request(
            store,
            by=person,
            vo=VO,
            reason="the downtime came late",
            requester="Ada",
            start=at(0),
            end=at(1),
            sites=["SITE-A"],
        )
        assert figures(store) == settled  # pending: nothing yet
        decide(store, recomputation.id, "applied", by=person)
        assert down(figures(store)) == [0.5, 0.0]
        store.remove_downtime(declared.id)
        assert down(figures(store)) == [0.5, 0.0]  # settled again, at the applying
        decide(store, recomputation.id, "revoked", by=person)
        assert figures(store) == settled  # back to the rules of the first settlement


def two_sites(store: Store) -> None:
    """SITE-A OK, SITE-B CRITICAL, both days."""
    save(store, [r for h in range(0, 48, 6) for r in vm_boot(HOST, at(h + 0.5))])
    save(
        store,
        [
            r
            for h in range(0, 48, 6)
            for r in vm_boot("b.example.org", at(h + 0.5), "CRITICAL", site="SITE-B")
        ],
    )


EQUAL = [SiteGroup("G", "federation", ("SITE-A", "SITE-B"), {"SITE-A": 1, "SITE-B": 1})]
HEAVIER = [dataclasses.replace(EQUAL[0], weights={"SITE-A": 3, "SITE-B": 1})]


def group(store: Store, groups: list[SiteGroup], now: datetime) -> list[float]:
    document = ar_groups_document(store, groups, start=DAY, end=NEXT, vo=VO, now=now)
    return [day["availability"] for day in document["groups"][0]["results"]]  # type: ignore[index]


def test_the_groups_weights_in_force_at_settlement_stay_with_the_settled_day(
    db_url: str,
) -> None:
    with Store(db_url) as store:
        two_sites(store)
        # ARGO's rule: sum A (w + 1) / sum (w + 1)
        assert group(store, EQUAL, NEXT_OPEN) == [50.0, 50.0]  # DAY settles with EQUAL
        assert group(store, HEAVIER, NEXT_OPEN) == [50.0, 66.66667]  # the open day follows
        assert group(store, EQUAL, NEXT_OPEN) == [50.0, 50.0]


def test_a_day_settled_before_the_groups_were_first_used_keeps_the_first_version(
    db_url: str,
) -> None:
    with Store(db_url) as store:
        two_sites(store)
        figures(store)  # both days settle before any group report
        assert group(store, EQUAL, CLOSED) == [50.0, 50.0]
        assert group(store, HEAVIER, CLOSED) == [50.0, 50.0]


def without_mjf() -> Profiles:
    """The shipped profiles under their own name, with the MJF test no longer counted."""
    shipped = load_profiles()
    metrics = json.loads(json.dumps(shipped.documents["metrics"]))
    for service in metrics["services"]:
        service["metrics"] = [m for m in service["metrics"] if not m.endswith("WN-mjf")]
    return profiles_from_documents({**shipped.documents, "metrics": metrics})


def test_a_settled_day_keeps_the_profile_version_in_force_at_its_settlement(
    db_url: str,
) -> None:
    with Store(db_url) as store:
        # every test OK but MJF, CRITICAL all along
        for hour in range(0, 48, 6):
            save(store, vm_boot(HOST, at(hour + 0.5), tests=("cvmfs", "middleware", "scratch")))
            save(store, vm_boot(HOST, at(hour + 0.5), "CRITICAL", tests=("mjf",)))
        changed = without_mjf()
        assert changed.name == load_profiles().name
        assert changed.fingerprint != load_profiles().fingerprint

        def availability(profiles: Profiles | None, now: datetime) -> list[float]:
            document = ar_document(
                store, site="SITE-A", start=DAY, end=NEXT, vo=VO, now=now, profiles=profiles
            )
            return [day["availability"] for day in rows(document)]

        assert availability(None, NEXT_OPEN) == [0.0, 0.0]  # DAY settles with the shipped
        # the same profile set changed: the open day follows, the settled one stays
        assert availability(changed, NEXT_OPEN) == [0.0, 100.0]
        every = ar_all_document(store, start=DAY, end=NEXT, vo=VO, now=NEXT_OPEN, profiles=changed)
        assert [r["availability"] for r in every["sites"][0]["results"]] == [0.0, 100.0]  # type: ignore[index]
        timelines = status_document(
            store, site="SITE-A", start=DAY, end=NEXT, vo=VO, now=NEXT_OPEN, profiles=changed
        )
        pieces = [(p["status"], p["start"], p["end"]) for p in timelines["pieces"]]  # type: ignore[attr-defined]
        assert pieces == [
            ("MISSING", "2024-03-05T00:00:00Z", "2024-03-05T00:30:00Z"),
            ("CRITICAL", "2024-03-05T00:30:00Z", "2024-03-06T00:00:00Z"),
            ("OK", "2024-03-06T00:00:00Z", "2024-03-07T00:00:00Z"),
        ]
