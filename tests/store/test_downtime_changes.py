"""Downtimes corrected and removed, duplicates refused, each change audited in its own
transaction and moving the revision; the names the API checks before it answers. On
SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime

import pytest

from tests.store.conftest import hours, result
from vmsam.server.store import (
    Actor,
    DuplicateDowntime,
    Received,
    Store,
    UnknownDowntime,
)
from vmsam.shared.messages import encode

VAC = "uk.ac.gridpp.vac"
DAY = datetime(2026, 3, 10, tzinfo=UTC)
ALICE = Actor("alice", "192.0.2.7")


def revision(store: Store) -> int:
    return store.version()[2]


def test_a_downtime_is_corrected_and_every_change_is_audited(store):
    added = store.add_downtime("vac01", VAC, DAY, DAY + hours(12), by=ALICE)
    before = revision(store)
    corrected = store.correct_downtime(
        dataclasses.replace(added, end=DAY + hours(6), description="typo fixed"), by=ALICE
    )
    assert revision(store) > before
    assert store.downtime(added.id) == corrected
    assert (corrected.end, corrected.description) == (DAY + hours(6), "typo fixed")

    total, (update, create) = store.audit_log()
    assert total == 2
    assert (create.action, create.kind, create.object_id) == ("create", "downtime", added.id)
    assert (create.actor, create.client) == ("alice", "192.0.2.7")
    assert create.before is None
    assert create.after == added.as_json()
    assert update.action == "update"
    assert (update.before, update.after) == (added.as_json(), corrected.as_json())
    assert update.after["end"] == "2026-03-10T06:00:00Z"
    assert update.at >= create.at
    assert update.at.tzinfo is UTC


def test_a_correction_that_changes_nothing_writes_nothing(store):
    added = store.add_downtime("vac01", VAC, DAY, DAY + hours(1), by=ALICE)
    before = revision(store)
    assert store.correct_downtime(added, by=ALICE) == added
    assert revision(store) == before
    assert store.audit_log()[0] == 1


def test_a_downtime_is_removed_and_what_it_was_is_kept_in_the_log(store):
    added = store.add_downtime("vac01", VAC, DAY, DAY + hours(1), by=ALICE)
    before = revision(store)
    assert store.remove_downtime(added.id, by=ALICE) == added
    assert revision(store) > before
    assert store.downtime(added.id) is None
    assert store.downtimes() == []
    _, (delete, _) = store.audit_log()
    assert (delete.action, delete.before, delete.after) == ("delete", added.as_json(), None)
    with pytest.raises(UnknownDowntime, match=f"no downtime has id {added.id}"):
        store.remove_downtime(added.id, by=ALICE)
    with pytest.raises(UnknownDowntime):
        store.correct_downtime(added, by=ALICE)
    assert store.audit_log()[0] == 2  # refused changes are not logged


def test_an_exact_duplicate_is_refused_with_the_stored_id(store):
    first = store.add_downtime("vac01", VAC, DAY, DAY + hours(2), description="one", by=ALICE)
    with pytest.raises(DuplicateDowntime) as refused:
        store.add_downtime("vac01", VAC, DAY, DAY + hours(2), description="two", by=ALICE)
    assert refused.value.existing_id == first.id
    # anything that counts differently is another downtime
    store.add_downtime("vac01", VAC, DAY, DAY + hours(2), scheduled=False)
    store.add_downtime("vac01", VAC, DAY, DAY + hours(3))
    store.add_downtime("vac01", "uk.ac.gridpp.vcycle", DAY, DAY + hours(2))
    longer = store.add_downtime("vac02", VAC, DAY, DAY + hours(2))
    with pytest.raises(DuplicateDowntime) as clash:
        store.correct_downtime(dataclasses.replace(longer, endpoint="vac01"), by=ALICE)
    assert clash.value.existing_id == first.id
    assert len(store.downtimes()) == 5
    assert store.audit_log()[0] == 1  # only the first was declared by someone


def test_concurrent_identical_declarations_store_one(db_url):
    stores = [Store(db_url) for _ in range(4)]
    for each in stores:
        each.upgrade()
    outcomes: list[str] = []
    gate = threading.Barrier(len(stores))

    def declare(store: Store) -> None:
        gate.wait()
        try:
            store.add_downtime("vac01", VAC, DAY, DAY + hours(2), by=ALICE)
            outcomes.append("added")
        except DuplicateDowntime:
            outcomes.append("duplicate")

    threads = [threading.Thread(target=declare, args=(each,)) for each in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["added", "duplicate", "duplicate", "duplicate"]
    assert len(stores[0].downtimes()) == 1
    for each in stores:
        each.close()


def test_an_invalid_correction_is_refused_before_anything_is_written(store):
    added = store.add_downtime("vac01", VAC, DAY, DAY + hours(2), by=ALICE)
    with pytest.raises(ValueError, match="end after it starts"):
        store.correct_downtime(dataclasses.replace(added, end=DAY), by=ALICE)
    with pytest.raises(ValueError, match="not a valid endpoint"):
        store.correct_downtime(dataclasses.replace(added, endpoint="a\x00b"), by=ALICE)
    assert store.downtime(added.id) == added
    assert store.audit_log()[0] == 1


def test_the_audit_log_pages_newest_first(store):
    made = [store.add_downtime("vac01", VAC, DAY, DAY + hours(k), by=ALICE) for k in (1, 2, 3)]
    total, page = store.audit_log(limit=2, offset=1)
    assert total == 3
    assert [entry.object_id for entry in page] == [made[1].id, made[0].id]


def test_downtimes_of_the_endpoints_of_a_vo(store):
    store.save(
        [
            Received(encode(r).encode(), {}, DAY, result=r)
            for r in (
                result(host="vac01.example.org", vo="lhcb", at=DAY),
                result(host="vac02.example.org", vo="cms", at=DAY),
            )
        ]
    )
    lhcb = store.add_downtime("vac01.example.org", VAC, DAY, DAY + hours(1))
    cms = store.add_downtime("vac02.example.org", VAC, DAY, DAY + hours(1))
    assert store.downtimes(vo="lhcb") == [lhcb]
    assert store.downtimes(vo="cms") == [cms]
    assert store.downtimes(vo="atlas") == []


def test_unknown_names_and_the_service_types_seen(store):
    store.save([Received(encode(r).encode(), {}, DAY, result=r) for r in (result(at=DAY),)])
    store.add_downtime("downtime-only.example.org", VAC, DAY, DAY + hours(1))
    assert store.unknown_name(site="SITE-A", endpoint="vac01.example.org", vo="lhcb") is None
    # an endpoint named by a downtime only is known (its downtimes can be listed)
    assert store.unknown_name(endpoint="downtime-only.example.org") is None
    assert store.unknown_name(site="SITE-Z") == "unknown site 'SITE-Z'"
    assert store.unknown_name(endpoint="nowhere") == "unknown endpoint 'nowhere'"
    assert store.unknown_name(vo="atlas") == "unknown vo 'atlas'"
    assert store.unknown_name(site="nul\x00") == "unknown site 'nul\\x00'"
    # but only results make it seen, as a downtime's endpoint must be
    assert store.seen_service_types("vac01.example.org") == [VAC]
    assert store.seen_service_types("downtime-only.example.org") == []
    assert store.seen_service_types("nowhere") == []
