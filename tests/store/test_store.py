"""The result store on SQLite and PostgreSQL: idempotent saves, dead letters, the window
rule, failures, and the queries of the dashboard and the A/R engine."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from tests.store.conftest import NOW, hours, result
from vmsam.server.store import Received, SaveReport, Store, StoreError
from vmsam.server.store import _read as read
from vmsam.server.store import _write as write
from vmsam.shared.messages import encode


def received(*results, at: datetime = NOW) -> list[Received]:
    return [
        Received(encode(r).encode(), {"destination": "/queue/x"}, at, result=r) for r in results
    ]


def four_tests(**fields) -> list[Received]:
    return received(
        *(result(test=test, **fields) for test in ("cvmfs", "middleware", "scratch", "mjf"))
    )


def count(store: Store, table: str) -> int:
    with store.engine.connect() as connection:
        return connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()


# saving


def test_the_same_batch_twice_is_stored_once(store):
    batch = four_tests() + four_tests(host="vac02.example.org")
    assert store.save(batch) == SaveReport(stored=8, duplicates=0, dead_letters=0)
    assert store.save(batch) == SaveReport(stored=0, duplicates=8, dead_letters=0)
    assert store.results()[0] == 8
    assert count(store, "results") == 8


def test_a_batch_with_one_result_stored_before_stores_the_others_once(store):
    """PostgreSQL copies a batch straight into results; one row there already sends the
    batch the way that skips it, with what the transaction did before kept."""
    store.save(received(result(test="scratch", at=NOW - hours(2))))
    batch = four_tests() + received(
        result(test="scratch", at=NOW - hours(2)), result(test="mjf", at=NOW - hours(3))
    )
    assert store.save(batch) == SaveReport(stored=5, duplicates=1, dead_letters=0)
    assert count(store, "results") == 6
    assert count(store, "series") == 4
    with store.engine.connect() as connection:
        newest = connection.execute(
            sa.text("SELECT metric, head_status FROM series ORDER BY metric")
        ).all()
    assert len(newest) == 4 and all(status is not None for _, status in newest)


def test_a_result_twice_in_one_batch_counts_as_a_duplicate(store):
    batch = received(result(), result(), result(test="mjf"))
    assert store.save(batch) == SaveReport(stored=2, duplicates=1, dead_letters=0)


def test_a_redelivery_through_a_new_store_is_still_a_duplicate(db_url):
    first = Store(db_url)
    first.save(four_tests())
    first.close()
    second = Store(db_url)
    try:
        assert second.save(four_tests()) == SaveReport(stored=0, duplicates=4, dead_letters=0)
    finally:
        second.close()


def test_two_vms_reporting_in_the_same_second_are_both_kept(store):
    one = result(vm="uuid-1", gathered_at="vm1.example.org", status="OK")
    two = result(vm="uuid-2", gathered_at="vm2.example.org", status="CRITICAL")
    assert store.save(received(one, two)).stored == 2
    total, rows = store.results()
    assert total == 2
    assert {(r.vm_uuid, r.status) for r in rows} == {("uuid-1", "OK"), ("uuid-2", "CRITICAL")}


def test_only_the_vm_uuid_differing_is_another_result(store):
    assert store.save(received(result(vm="uuid-1"), result(vm="uuid-2"))).stored == 2


def test_a_result_without_vm_uuid_is_deduplicated_too(store):
    # NULLs never conflict in a unique key: the store keeps '' instead
    assert store.save(received(result(vm=None))).stored == 1
    assert store.save(received(result(vm=None))) == SaveReport(0, 1, 0)
    assert store.results()[1][0].vm_uuid == ""


def test_every_field_of_the_results_shape_is_stored(store):
    r = result(summary="all 4 repositories", details="first\nsecond")
    store.save(received(r))
    (stored,) = store.results()[1]
    assert stored.site == "SITE-A"
    assert stored.endpoint == "vac01.example.org"
    assert stored.service_type == "uk.ac.gridpp.vac"
    assert stored.metric == "org.lhcb.WN-cvmfs"
    assert stored.vo == "lhcb"
    assert stored.status == "OK"
    assert stored.timestamp == NOW
    assert stored.timestamp.tzinfo is UTC
    assert stored.summary == "all 4 repositories"
    assert stored.details == "first\nsecond"
    assert stored.vm_uuid == "vm-1"
    assert stored.machinetype == "pilot"
    assert stored.gathered_at == "vm1.example.org"


def test_the_vo_comes_from_the_metric_name_without_vo_name(store):
    body = encode(result(vo=None)).encode()
    store.save([Received.parse(body, window=False)])
    assert store.results()[1][0].vo == "lhcb"
    assert store.vos() == ["lhcb"]


# dead letters


def test_invalid_messages_become_dead_letters_with_reason_and_raw_bytes(store):
    not_utf8 = encode(result()).encode().replace(b"fine", b"fin\xff")
    missing = encode(result()).replace("serviceType: uk.ac.gridpp.vac\n", "").encode()
    batch = [
        Received.parse(not_utf8, {"message-id": "m1"}),
        Received.parse(missing, {"message-id": "m2"}),
        *four_tests(),
    ]
    assert store.save(batch) == SaveReport(stored=4, duplicates=0, dead_letters=2)
    total, letters = store.dead_letters()
    assert total == 2
    newest_first = [letter.headers["message-id"] for letter in letters]
    assert newest_first in (["m2", "m1"], ["m1", "m2"])
    by_id = {letter.headers["message-id"]: letter for letter in letters}
    assert by_id["m1"].reason.startswith("not UTF-8")
    assert "fin\\xff" in by_id["m1"].body
    assert by_id["m2"].reason == "missing required field(s): serviceType"
    assert by_id["m2"].received_at.tzinfo is UTC
    with store.engine.connect() as connection:
        raw = connection.execute(sa.text("SELECT body FROM dead_letters ORDER BY id")).scalars()
        assert [bytes(body) for body in raw] == [not_utf8, missing]


def test_a_body_delivered_again_is_one_dead_letter(store):
    # a consumer killed before its ack: the broker delivers the same body again, maybe in
    # the same batch as the first copy, maybe with another message-id (RabbitMQ)
    first = [Received.parse(b"junk", {"message-id": "m1"}), Received.parse(b"junk", {})]
    store.save(first)
    store.save([Received.parse(b"junk", {"message-id": "m2"}), Received.parse(b"other", {})])
    total, letters = store.dead_letters()
    assert total == 2
    assert sorted(letter.body for letter in letters) == ["junk", "other"]
    assert [letter.headers for letter in letters if letter.body == "junk"] == [{"message-id": "m1"}]


def test_dead_letters_are_paged_newest_first(store):
    store.save([Received.parse(f"junk {i}".encode(), {"n": str(i)}) for i in range(5)])
    total, page = store.dead_letters(limit=2, offset=1)
    assert total == 5
    assert [letter.headers["n"] for letter in page] == ["3", "2"]


def test_what_postgresql_cannot_hold_is_dead_lettered_not_retried(store):
    nul = encode(result()).replace("fine", "fi\x00ne").encode()
    long_host = encode(result(host="h" * 600)).encode()
    batch = [Received.parse(nul), Received.parse(long_host), *four_tests()]
    assert store.save(batch) == SaveReport(stored=4, duplicates=0, dead_letters=2)
    reasons = {letter.reason for letter in store.dead_letters()[1]}
    assert reasons == {"the record contains a NUL character", "hostName is longer than 512 bytes"}


def test_a_result_built_in_code_is_checked_by_the_writer(store):
    """Only ``Received.parse`` marks a result checked; one built otherwise is checked when
    it is written, and what PostgreSQL cannot hold is dead-lettered on both databases."""
    long_host = result(host="h" * 600)
    built = Received(encode(long_host).encode(), {}, NOW, result=long_host)
    assert not built.checked and Received.parse(encode(result()).encode()).checked
    assert store.save([built, *four_tests()]) == SaveReport(stored=4, duplicates=0, dead_letters=1)
    assert [letter.reason for letter in store.dead_letters()[1]] == [
        "hostName is longer than 512 bytes"
    ]


def test_headers_that_json_cannot_hold_are_escaped(store):
    headers = {"bad\x00key": "lone \udcff surrogate"}
    assert store.save([Received.parse(b"junk", headers)]).dead_letters == 1
    (letter,) = store.dead_letters()[1]
    assert letter.headers == {"bad\\x00key": "lone \\udcff surrogate"}


# the window rule lives in Received.parse


def test_received_parse_applies_argos_window():
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)

    def parse(at: datetime, window: bool = True) -> Received:
        return Received.parse(encode(result(at=at)), window=window, now=now)

    assert parse(now - timedelta(days=3)).result is not None
    assert parse(now + timedelta(days=1)).result is not None
    old = parse(now - timedelta(days=3, seconds=1))
    assert old.error == "timestamp 2026-03-07T11:59:59Z is more than 3 days in the past"
    ahead = parse(now + timedelta(days=1, seconds=1))
    assert ahead.error == "timestamp 2026-03-11T12:00:01Z is more than 1 day in the future"
    assert parse(now - timedelta(days=30), window=False).result is not None


def test_received_parse_keeps_the_body_and_headers():
    item = Received.parse("not a record", {"a": "b"})
    assert item.body == b"not a record"
    assert item.headers == {"a": "b"}
    assert item.error == "no EOT line: the record is incomplete"
    assert item.received_at.tzinfo is UTC


def test_a_parsed_received_is_the_frozen_dataclass_its_fields_make():
    # Received.parse builds a valid one without Received.__init__ (frozen.assembled)
    parsed = Received.parse(encode(result()), {"a": "b"}, now=NOW)
    built = Received(**vars(parsed))
    assert parsed.result is not None and parsed.error is None
    assert parsed == built
    assert repr(parsed) == repr(built)
    assert vars(parsed) == vars(built)
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.error = "changed"  # type: ignore[misc]
    assert dataclasses.replace(parsed, signature="verified").signature == "verified"


def test_a_received_holds_exactly_one_of_result_and_error():
    with pytest.raises(ValueError, match="exactly one"):
        Received(b"x")
    with pytest.raises(ValueError, match="exactly one"):
        Received(b"x", result=result(), error="both")


# failures


def test_an_unreachable_postgresql_is_a_one_line_store_error():
    store = Store("postgresql://vmsam:secret@127.0.0.1:1/vmsam")
    with pytest.raises(StoreError) as caught:
        store.save(four_tests())
    message = str(caught.value)
    assert "\n" not in message
    assert "secret" not in message
    assert "127.0.0.1" in message
    assert "refused" in message.lower()


def test_an_unwritable_sqlite_path_is_a_one_line_store_error(tmp_path):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where a directory should be")
    store = Store(f"sqlite:///{blocked}/vmsam.db")
    with pytest.raises(StoreError, match="unable to open database file"):
        store.save(four_tests())


def test_a_read_only_sqlite_database_is_a_store_error_and_nothing_is_written(tmp_path):
    path = tmp_path / "vmsam.db"
    Store(f"sqlite:///{path}").upgrade()
    store = Store(f"sqlite:///file:{path}?mode=ro&uri=true")
    with pytest.raises(StoreError):
        store.save(four_tests())
    assert Store(f"sqlite:///{path}").results()[0] == 0


def test_not_a_database_url_is_a_store_error():
    with pytest.raises(StoreError, match="not a database URL"):
        Store("no url at all")
    with pytest.raises(StoreError, match="unsupported database"):
        Store("mysql://localhost/vmsam")


def test_a_failed_batch_writes_nothing_and_leaves_no_stale_ids(store, monkeypatch):
    original = write.Writer._save_series

    def fail(*args, **kwargs):
        raise sa.exc.OperationalError("INSERT", {}, Exception("server closed the connection"))

    monkeypatch.setattr(write.Writer, "_save_series", fail)
    batch = four_tests(site="NEW-SITE", host="new.example.org")
    with pytest.raises(StoreError, match="server closed the connection"):
        store.save([*batch, Received.parse(b"junk")])
    for table in ("sites", "endpoints", "memberships", "results", "dead_letters"):
        assert count(store, table) == 0, table
    monkeypatch.setattr(write.Writer, "_save_series", original)
    # the ids learnt in the rolled-back transaction were not cached: this would break the
    # foreign keys otherwise
    assert store.save(batch) == SaveReport(stored=4, duplicates=0, dead_letters=0)
    assert store.sites()[0].name == "NEW-SITE"


def test_a_connection_dropped_by_the_postgresql_server_is_replaced(fresh_pg_url):
    store = Store(fresh_pg_url)
    store.save(four_tests())
    with sa.create_engine(store.engine.url).connect() as admin:
        admin.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
        admin.commit()
    assert store.save(four_tests(host="vac02.example.org")).stored == 4
    store.close()


def test_concurrent_writers_store_each_result_once(db_url):
    stores = [Store(db_url) for _ in range(3)]
    stores[0].upgrade()
    batches = [
        four_tests(host=f"vac{i % 4}.example.org", at=NOW - hours(i // 4)) for i in range(24)
    ]
    reports: list[SaveReport] = []
    errors: list[BaseException] = []

    def work(store: Store) -> None:
        try:
            for batch in batches:
                reports.append(store.save(batch))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.close()
    assert errors == []
    assert sum(r.stored for r in reports) == 96
    assert sum(r.duplicates for r in reports) == 2 * 96
    check = Store(db_url)
    assert check.results()[0] == 96
    check.close()


# queries: results


@pytest.fixture
def history(store):
    """Two sites, three endpoints, two VOs, results over three hours."""
    batch = []
    for hour in range(3):
        at = NOW - hours(hour)
        batch += four_tests(at=at, vm=f"a-{hour}")
        batch += four_tests(at=at, vm=f"b-{hour}", host="vac02.example.org")
        batch += received(
            result(
                site="SITE-B", host="vcy.example.org", vo="cms", test="cvmfs", at=at, vm=f"c-{hour}"
            )
        )
    assert store.save(batch).stored == 27
    return store


def test_results_are_newest_first_with_the_total(history):
    total, page = history.results(limit=5)
    assert total == 27
    assert len(page) == 5
    timestamps = [r.timestamp for r in history.results(limit=100)[1]]
    assert timestamps == sorted(timestamps, reverse=True)


def test_results_pages_do_not_overlap(history):
    seen = []
    for offset in range(0, 27, 10):
        total, page = history.results(limit=10, offset=offset)
        assert total == 27
        seen += [(r.endpoint, r.metric, r.timestamp) for r in page]
    assert len(seen) == len(set(seen)) == 27


def test_results_filters(history):
    assert history.results(site="SITE-B")[0] == 3
    assert history.results(endpoint="vac02.example.org")[0] == 12
    assert history.results(metric="org.lhcb.WN-mjf")[0] == 6
    assert history.results(vo="cms")[0] == 3
    assert history.results(since=NOW - hours(1))[0] == 18
    assert history.results(until=NOW - hours(1))[0] == 9
    assert history.results(since=NOW - hours(1), until=NOW, site="SITE-A")[0] == 8
    assert history.results(site="NO-SUCH-SITE") == (0, [])
    assert history.results(endpoint="nul\x00host") == (0, [])


def test_results_accept_times_in_any_zone(history):
    plus_two = timezone(timedelta(hours=2))
    assert history.results(since=(NOW - hours(1)).astimezone(plus_two))[0] == 18


def test_a_negative_page_is_a_value_error(history):
    with pytest.raises(ValueError, match="negative"):
        history.results(offset=-1)


# queries: sites, status and freshness


def test_sites_show_each_endpoint_per_vo_with_its_worst_newest_status(store):
    old = NOW - hours(2)
    store.save(
        received(
            result(test="cvmfs", status="CRITICAL", at=old),
            result(test="cvmfs", status="OK", at=NOW - hours(1)),
            result(test="mjf", status="WARNING", at=old),
            result(host="vac02.example.org", test="cvmfs", status="OK", at=old),
            result(site="SITE-B", host="vcy.example.org", vo="cms", status="UNKNOWN", at=NOW),
        )
    )
    sites = {site.name: site for site in store.sites()}
    assert set(sites) == {"SITE-A", "SITE-B"}
    site_a = sites["SITE-A"]
    assert site_a.last_result == NOW - hours(1)
    endpoints = {e.endpoint: e for e in site_a.endpoints}
    vac01 = endpoints["vac01.example.org"]
    assert (vac01.service_type, vac01.vo) == ("uk.ac.gridpp.vac", "lhcb")
    assert vac01.status == "WARNING"  # cvmfs is OK again, mjf's newest is WARNING
    assert vac01.first_seen == old
    assert vac01.last_result == NOW - hours(1)
    assert {(m.metric, m.status, m.timestamp) for m in vac01.metrics} == {
        ("org.lhcb.WN-cvmfs", "OK", NOW - hours(1)),
        ("org.lhcb.WN-mjf", "WARNING", old),
    }
    assert endpoints["vac02.example.org"].status == "OK"
    (vcy,) = sites["SITE-B"].endpoints
    assert (vcy.vo, vcy.status) == ("cms", "UNKNOWN")


def test_two_results_of_the_same_second_combine_with_and(store):
    store.save(received(result(vm="1", status="OK"), result(vm="2", status="CRITICAL")))
    (site,) = store.sites()
    assert site.endpoints[0].status == "CRITICAL"
    assert site.endpoints[0].metrics[0].status == "CRITICAL"


def test_an_empty_store_has_no_sites_and_no_vos(store):
    assert store.sites() == []
    assert store.vos() == []


def test_vos(history):
    assert history.vos() == ["cms", "lhcb"]


# downtimes


def test_downtimes_are_filtered_by_overlap(store):
    day = NOW.replace(hour=0, minute=0, second=0)
    a = store.add_downtime("vac01.example.org", "uk.ac.gridpp.vac", day + hours(2), day + hours(4))
    b = store.add_downtime(
        "vac02.example.org",
        "uk.ac.gridpp.vac",
        day + hours(10),
        day + hours(30),
        scheduled=False,
        description="power cut",
    )
    assert a.id != b.id
    assert (b.scheduled, b.description) == (False, "power cut")
    assert store.downtimes() == [a, b]
    assert store.downtimes(endpoint="vac02.example.org") == [b]
    assert store.downtimes(start=day + hours(4), end=day + hours(10)) == []  # half-open
    assert store.downtimes(start=day + hours(3), end=day + hours(11)) == [a, b]
    assert store.downtimes(start=day + hours(24)) == [b]
    assert (
        store.downtimes(
            end=day
            + hours(
                2,
            )
        )
        == []
    )
    (stored,) = store.downtimes(endpoint="vac01.example.org")
    assert stored.start.tzinfo is UTC
    assert stored.start == day + hours(2)


def test_a_downtime_given_in_another_zone_is_stored_in_utc(store):
    plus_two = timezone(timedelta(hours=2))
    start = datetime(2026, 3, 1, 10, 0, tzinfo=plus_two)
    store.add_downtime("vac01.example.org", "uk.ac.gridpp.vac", start, start + hours(1))
    (stored,) = store.downtimes()
    assert stored.start == datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    assert stored.start.tzinfo is UTC


@pytest.mark.parametrize(
    ("endpoint", "start", "end", "message"),
    [
        ("vac01", NOW, NOW, "end after it starts"),
        ("vac01", NOW, NOW - hours(1), "end after it starts"),
        ("", NOW, NOW + hours(1), "needs a endpoint"),
        ("h\x00", NOW, NOW + hours(1), "not a valid endpoint"),
        ("vac01", NOW.replace(tzinfo=None), NOW + hours(1), "time zone"),
    ],
)
def test_invalid_downtimes_are_refused(store, endpoint, start, end, message):
    with pytest.raises(ValueError, match=message):
        store.add_downtime(endpoint, "uk.ac.gridpp.vac", start, end)
    assert store.downtimes() == []


# the A/R engine's input


def test_timeline_input_holds_the_previous_day_and_the_membership(store):
    day = datetime(2026, 3, 10, tzinfo=UTC)
    store.save(
        received(
            result(at=day - timedelta(days=1, seconds=1), vm="too-old"),
            result(at=day - hours(3), status="CRITICAL", vm="previous-day"),
            result(at=day + hours(5), vm="in-the-day"),
            result(at=day + timedelta(days=1), vm="the-next-day"),
            result(at=day + hours(6), host="vac02.example.org", site="SITE-B", vo="cms", vm="cms"),
        )
    )
    store.add_downtime("vac01.example.org", "uk.ac.gridpp.vac", day + hours(20), day + hours(30))
    store.add_downtime("vac01.example.org", "uk.ac.gridpp.vac", day - hours(10), day - hours(1))
    data = store.timeline_input(start=day, end=day + timedelta(days=1), vo="lhcb")
    assert [(r.timestamp, r.status) for r in data.results] == [
        (day - hours(3), "CRITICAL"),
        (day + hours(5), "OK"),
    ]
    (series,) = data.results.series
    assert series.seconds == [int((day - hours(3)).timestamp()), int((day + hours(5)).timestamp())]
    row = next(iter(data.results))
    assert (row.endpoint, row.service_type, row.metric, row.vo, row.site) == (
        "vac01.example.org",
        "uk.ac.gridpp.vac",
        "org.lhcb.WN-cvmfs",
        "lhcb",
        "SITE-A",
    )
    assert [(d.start, d.end) for d in data.downtimes] == [(day + hours(20), day + hours(30))]
    assert [(m.endpoint, m.site, m.vo, m.first_seen) for m in data.members] == [
        ("vac01.example.org", "SITE-A", "lhcb", day - timedelta(days=1, seconds=1))
    ]


@pytest.mark.parametrize(
    ("moment", "second"),
    [
        (datetime(2024, 3, 5, 1, 0, 0, 700_000, tzinfo=UTC), 1_709_600_400),
        (datetime(1970, 1, 1, tzinfo=UTC), 0),
        (datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC), -1),
        (datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC), -1),
    ],
)
def test_the_database_floors_a_timestamp_to_its_epoch_second(
    store: Store, moment: datetime, second: int
) -> None:
    # the engine's rule (availability.epoch): a fraction of a second counts for its second
    store.save(received(result()))  # the schema, a site and an endpoint
    changes = read.C
    with store.engine.begin() as connection:
        row = {"timestamp": moment, "endpoint_id": 1, "metric": "m", "gathered_at": "g"}
        connection.execute(
            changes.insert(), {**row, "vm_uuid": "v", "vo": "lhcb", "site_id": 1, "status": "OK"}
        )
        query = sa.select(read._epoch_seconds(connection.dialect)).where(changes.c.metric == "m")
        assert connection.execute(query).scalar_one() == second


def test_rows_read_out_of_time_order_make_sorted_series() -> None:
    rows = [
        (1, "m", "lhcb", 1, 20, "OK"),
        (1, "m", "lhcb", 1, 10, "CRITICAL"),
        (1, "m", "lhcb", 2, 5, "WARNING"),  # the same endpoint, stored for another site
        (1, "m", "lhcb", 1, 30, "UNKNOWN"),
    ]
    loaded = read._timeline_series(rows, {1: ("vac01", "vac")}, {1: "SITE-A", 2: "SITE-B"})
    assert sorted((s.site, s.seconds, s.statuses) for s in loaded.series) == [
        ("SITE-A", [10, 20, 30], ["CRITICAL", "OK", "UNKNOWN"]),
        ("SITE-B", [5], ["WARNING"]),
    ]


def test_timeline_input_filters_by_site_and_endpoint(history):
    # every result repeats its series' status, so what remains is each series' first
    # result of each day (tests/store/test_status_changes.py: why that is all it takes)
    start = NOW - hours(5)
    days = len({(NOW - hours(h)).date() for h in range(3)})
    by_site = history.timeline_input(start=start, end=NOW + hours(1), site="SITE-B")
    assert {(r.site, r.endpoint, r.metric) for r in by_site.results} == {
        ("SITE-B", "vcy.example.org", "org.cms.WN-cvmfs")
    }
    assert len(by_site.results) == days
    assert {m.endpoint for m in by_site.members} == {"vcy.example.org"}
    by_endpoint = history.timeline_input(
        start=start, end=NOW + hours(1), endpoint="vac02.example.org"
    )
    assert {r.endpoint for r in by_endpoint.results} == {"vac02.example.org"}
    assert len(by_endpoint.results) == 4 * days
    everything = history.timeline_input(start=start, end=NOW + hours(1))
    assert len(everything.results) == 9 * days
    assert min(r.timestamp for r in everything.results) == NOW - hours(2)


def test_a_backfilled_older_result_moves_the_membership_start(store):
    store.save(received(result(at=NOW)))
    store.save(received(result(at=NOW - hours(30), vm="older")))
    store.save(received(result(at=NOW - hours(10), vm="between")))
    (member,) = store.timeline_input(start=NOW - hours(1), end=NOW + hours(1)).members
    assert member.first_seen == NOW - hours(30)
    assert store.sites()[0].endpoints[0].first_seen == NOW - hours(30)


def test_timeline_input_needs_a_period(store):
    with pytest.raises(ValueError, match="after its start"):
        store.timeline_input(start=NOW, end=NOW)


def test_a_result_built_in_code_gets_the_decoders_checks_too(store):
    lower = result(status="ok")
    assert store.save(received(lower)) == SaveReport(stored=0, duplicates=0, dead_letters=1)
    assert store.dead_letters()[1][0].reason.startswith("metricStatus 'ok' is not one of")


def test_a_period_out_of_range_is_a_value_error(store):
    with pytest.raises(ValueError, match="out of range"):
        store.timeline_input(start=datetime.min.replace(tzinfo=UTC), end=NOW)


# tested VM boots


def test_tested_boots_count_distinct_vms_per_endpoint_service_type_and_vo(store: Store) -> None:
    since, until = NOW - hours(24), NOW
    vcycle = "uk.ac.gridpp.vcycle"
    store.save(
        four_tests(at=NOW - hours(1), vm="a")  # four metrics, one VM
        + received(
            result(at=NOW - hours(2), vm="b"),
            result(at=NOW - hours(30), vm="b"),  # seen before the period too: counted once
            result(at=NOW - hours(30), vm="before"),
            result(at=NOW - hours(1), vm="a", service_type=vcycle),
            result(at=NOW - hours(1), vm="a", vo="cms"),
            # no vmUUID: the VM is its host name
            result(host="vac02.example.org", at=NOW - hours(3), vm=None, gathered_at="x1"),
            result(
                host="vac02.example.org", test="mjf", at=NOW - hours(3), vm=None, gathered_at="x1"
            ),
            result(host="vac02.example.org", at=NOW - hours(3), vm=None, gathered_at="x2"),
            # [since, until)
            result(host="vac03.example.org", at=since, vm="first-second"),
            result(host="vac03.example.org", at=until, vm="too-late"),
        )
    )
    counts = [
        (b.endpoint, b.service_type, b.vo, b.boots)
        for b in store.tested_boots(since=since, until=until)
    ]
    assert counts == [
        ("vac01.example.org", "uk.ac.gridpp.vac", "cms", 1),
        ("vac01.example.org", "uk.ac.gridpp.vac", "lhcb", 2),
        ("vac01.example.org", vcycle, "lhcb", 1),
        ("vac02.example.org", "uk.ac.gridpp.vac", "lhcb", 2),
        ("vac03.example.org", "uk.ac.gridpp.vac", "lhcb", 1),
    ]
    (cms,) = store.tested_boots(since=since, until=until, vo="cms")
    assert (cms.endpoint, cms.vo, cms.boots) == ("vac01.example.org", "cms", 1)
    assert store.tested_boots(since=since, until=until, vo="atlas") == []
    assert store.tested_boots(since=since, until=until, vo="l\x00hcb") == []
    assert store.tested_boots(since=NOW + hours(1), until=NOW + hours(2)) == []
    assert store.tested_boots(since=until, until=since) == []


def test_tested_boots_of_an_empty_store(store: Store) -> None:
    assert store.tested_boots(since=NOW - hours(24), until=NOW) == []


def test_tested_boots_read_the_period_through_the_timestamp_index(store: Store) -> None:
    store.save(four_tests(at=NOW - hours(1), vm="a"))
    sqlite = store.engine.dialect.name == "sqlite"
    prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
    with store.engine.connect() as connection:
        if not sqlite:
            # a table this small is read whole; the question is whether the index can serve
            connection.exec_driver_sql("SET enable_seqscan = off")

        @sa.event.listens_for(connection, "before_cursor_execute", retval=True)
        def explain(*event: Any) -> tuple[str, Any]:
            _conn, _cursor, statement, parameters, _context, _many = event
            return prefix + statement, parameters

        plan = " ".join(
            str(value)
            for row in connection.execute(
                read.tested_boots_query(NOW - hours(24), NOW, vo="lhcb")
            ).all()
            for value in row
        )
    assert "ix_results_timestamp" in plan
