"""The store hands the A/R engine only the status changes it needs (window functions in the
database), and the engine must give the same figures on them as on every stored row: random
histories with repeats, results of one second, silent days and day boundaries, on SQLite and
PostgreSQL."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.store.conftest import result
from vmsam.server.availability import Engine, Sample
from vmsam.server.store import Received, Store
from vmsam.shared.messages import encode

DAY = date(2026, 3, 10)
MIDNIGHT = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC)
VO = "lhcb"
HOSTS = ("vac01.example.org", "vac02.example.org")
TESTS = ("cvmfs", "middleware", "scratch", "mjf")
_names = itertools.count()

# an offset from midnight of the day before the period (the carry-over day) to its end:
# in seconds, clustered so that repeats, shared seconds and microsecond neighbours are common
offsets = st.one_of(
    st.integers(0, 4 * 86_400 - 1),
    st.sampled_from([86_399, 86_400, 2 * 86_400 - 1, 2 * 86_400, 3 * 86_400 - 1]),
    st.integers(0, 40).map(lambda k: 86_400 + 3_600 * k),
)
statuses = st.sampled_from(["OK", "OK", "OK", "WARNING", "CRITICAL", "UNKNOWN"])
# a tested VM: its results of every test at one moment, now and then one of them missing
boots = st.tuples(
    st.sampled_from(HOSTS),
    offsets,
    st.sampled_from([0, 0, 1, 999_999]),
    st.lists(st.one_of(statuses, st.none()), min_size=len(TESTS), max_size=len(TESTS)),
)
Event = tuple[str, str, int, int, str]


def _events(drawn: list[tuple[str, int, int, list[str | None]]]) -> list[Event]:
    return [
        (host, test, offset, micro, status)
        for host, offset, micro, outcome in drawn
        for test, status in zip(TESTS, outcome, strict=True)
        if status is not None
    ]


def _history(site: str, drawn: list[Event]) -> list[Received]:
    batch = []
    for n, (host, test, offset, micro, status) in enumerate(drawn):
        at = MIDNIGHT - timedelta(days=1) + timedelta(seconds=offset, microseconds=micro)
        record = result(
            host=f"{site.lower()}.{host}", site=site, test=test, status=status, at=at, vm=f"vm-{n}"
        )
        batch.append(Received(encode(record).encode(), {}, at, result=record))
    return batch


def _figures(store: Store, site: str, batch: list[Received], days: int) -> tuple[object, object]:
    start, end = MIDNIGHT, MIDNIGHT + timedelta(days=days)
    loaded = store.timeline_input(start=start, end=end, vo=VO, site=site)
    every = [
        Sample(r.host_name, r.service_type, r.metric_name, r.timestamp, r.status)
        for item in batch
        if (r := item.result) is not None and start - timedelta(days=1) <= r.timestamp < end
    ]
    engine = Engine()
    period = {"site": site, "vo": VO, "start": DAY, "end": DAY + timedelta(days=days - 1)}
    now = end + timedelta(days=30)
    expected = engine.site_days(every, [], loaded.members, **period, now=now)
    got = engine.site_days(loaded.results, [], loaded.members, **period, now=now)
    for host in {m.endpoint for m in loaded.members}:
        single = {**period, "endpoint": host, "service_type": "uk.ac.gridpp.vac"}
        del single["site"]
        assert engine.endpoint_days(loaded.results, [], **single, now=now) == (
            engine.endpoint_days(every, [], **single, now=now)
        )
    return expected, got


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shared_store(request, tmp_path_factory):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('changes')}/vmsam.db"
    else:
        url = request.getfixturevalue("store_pg_url")
    with Store(url) as store:
        yield store


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(drawn=st.lists(boots, min_size=1, max_size=40), days=st.integers(1, 3))
def test_the_engine_gives_the_same_figures_on_the_status_changes(shared_store, drawn, days):
    site = f"SITE-{next(_names)}"
    batch = _history(site, _events(drawn))
    assert shared_store.save(batch).stored == len(batch)
    expected, got = _figures(shared_store, site, batch, days)
    assert got == expected


def test_repeats_within_a_day_are_left_out_but_each_day_keeps_its_first(shared_store):
    site = f"SITE-{next(_names)}"
    # hourly OK for two days, one CRITICAL hour in the middle of the second
    hours = [h for h in range(48)]
    statuses = ["CRITICAL" if h == 30 else "OK" for h in hours]
    drawn = [
        ("vac01.example.org", "cvmfs", 3_600 * h + 60, 0, status)
        for h, status in zip(hours, statuses, strict=True)
    ]
    batch = _history(site, drawn)
    shared_store.save(batch)
    loaded = shared_store.timeline_input(
        start=MIDNIGHT, end=MIDNIGHT + timedelta(days=1), vo=VO, site=site
    )
    kept = sorted((r.timestamp - MIDNIGHT + timedelta(days=1), r.status) for r in loaded.results)
    assert kept == [
        (timedelta(seconds=60), "OK"),  # the first of the day before
        (timedelta(hours=24, seconds=60), "OK"),  # the first of the day
        (timedelta(hours=30, seconds=60), "CRITICAL"),
        (timedelta(hours=31, seconds=60), "OK"),
    ]


def test_results_sharing_a_second_are_all_kept(shared_store):
    site = f"SITE-{next(_names)}"
    drawn = [
        ("vac01.example.org", "cvmfs", 86_400 + 100, 0, "OK"),
        ("vac01.example.org", "cvmfs", 86_400 + 200, 0, "OK"),
        ("vac01.example.org", "cvmfs", 86_400 + 200, 500, "CRITICAL"),
        ("vac01.example.org", "cvmfs", 86_400 + 300, 0, "CRITICAL"),
        ("vac01.example.org", "cvmfs", 86_400 + 400, 0, "CRITICAL"),
    ]
    batch = _history(site, drawn)
    shared_store.save(batch)
    loaded = shared_store.timeline_input(
        start=MIDNIGHT, end=MIDNIGHT + timedelta(days=1), vo=VO, site=site
    )
    # the second holding OK and CRITICAL combines to CRITICAL: the CRITICAL after it is kept
    # because it follows a shared second; the last one repeats it and goes
    assert sorted((r.timestamp - MIDNIGHT).seconds for r in loaded.results) == [100, 200, 200, 300]


def test_a_repeat_that_shares_its_second_still_counts(shared_store):
    site = f"SITE-{next(_names)}"
    # CRITICAL, then a second holding CRITICAL and OK (CRITICAL by AND), then OK: dropping
    # the repeated CRITICAL would make that second OK
    drawn = [
        ("vac01.example.org", test, 86_400 + offset, micro, status)
        for test in TESTS
        for offset, micro, status in (
            (100, 0, "CRITICAL"),
            (200, 0, "CRITICAL"),
            (200, 1, "OK"),
            (43_200, 0, "OK"),
        )
    ]
    batch = _history(site, drawn)
    shared_store.save(batch)
    expected, got = _figures(shared_store, site, batch, 1)
    assert got == expected
