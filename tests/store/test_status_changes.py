"""The store hands the A/R engine only the status changes it needs (kept as the results are
written), and the engine must give the same figures on them as on every stored row: random
histories with repeats, results of one second, silent days and day boundaries, arriving in
any order and batch, twice, from two writers at once, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import itertools
import random
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.store.conftest import result
from vmsam.server.availability import Engine, Sample
from vmsam.server.store import Received, Store
from vmsam.server.store import _models as models
from vmsam.server.store._changes import Point, kept
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


def _mixed(site: str, drawn: list[Event], strangers: list[Event]) -> list[Received]:
    """Results of ``site`` for VO, and ``strangers``: results in the same series (the same
    endpoints and metrics) without a VO or under another site, which a report of the site
    for VO leaves out."""
    batch = _history(site, drawn)
    for n, (host, test, offset, micro, status) in enumerate(strangers):
        at = MIDNIGHT - timedelta(days=1) + timedelta(seconds=offset, microseconds=micro)
        record = result(
            host=f"{site.lower()}.{host}",
            site=site if n % 2 else f"{site}-B",
            test=test,
            status=status,
            at=at,
            vm=f"stranger-{n}",
        )
        if n % 2:  # the same metric, said to be another VO's
            record = dataclasses.replace(record, vo_name="atlas")
        batch.append(Received(encode(record).encode(), {}, at, result=record))
    return batch


def _unkept(store: Store, site: str) -> list[tuple[object, ...]]:
    """The results of ``site``'s series that the rule keeps, judged over each whole series
    as stored, but that status_changes lacks: none, however the results arrived."""
    r, c = models.RESULTS.c, models.STATUS_CHANGES.c
    with store.engine.connect() as connection:
        endpoints = sa.select(models.ENDPOINTS.c.id).where(
            models.ENDPOINTS.c.hostname.like(f"{site.lower()}.%")
        )
        rows = connection.execute(
            sa.select(
                r.endpoint_id,
                r.metric,
                r.timestamp,
                r.gathered_at,
                r.vm_uuid,
                r.status,
                r.site_id,
                r.vo,
            )
            .where(r.endpoint_id.in_(endpoints))
            .order_by(r.endpoint_id, r.metric, r.timestamp, r.gathered_at, r.vm_uuid)
        ).all()
        stored = set(
            connection.execute(
                sa.select(c.endpoint_id, c.metric, c.timestamp, c.gathered_at, c.vm_uuid).where(
                    c.endpoint_id.in_(endpoints)
                )
            ).all()
        )
    missing = []
    for key, series in itertools.groupby(rows, key=lambda row: (row[0], row[1])):
        points = [Point(*row[2:]) for row in series]
        for i in kept(points):
            if (*key, *points[i].order) not in stored:
                missing.append((*key, *points[i].order))
    return missing


def _batches(items: list[Received], shuffle: random.Random, count: int) -> list[list[Received]]:
    shuffled = items[:]
    shuffle.shuffle(shuffled)
    cuts = sorted(shuffle.sample(range(1, len(shuffled)), max(0, min(count, len(shuffled)) - 1)))
    return [shuffled[a:b] for a, b in itertools.pairwise([0, *cuts, len(shuffled)])]


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    drawn=st.lists(boots, min_size=1, max_size=30),
    strangers=st.lists(boots, max_size=8),
    days=st.integers(1, 3),
    shuffle=st.randoms(use_true_random=False),
    count=st.integers(1, 6),
    redelivered=st.booleans(),
)
def test_results_arriving_in_any_order_and_batch_keep_every_change(
    shared_store, *, drawn, strangers, days, shuffle, count, redelivered
):
    """The writer judges each result against the newest of its series, or the series again
    from before a late one: whatever the order of arrival, the batches and the results
    delivered twice, status_changes holds every change of the whole series, and the engine
    gives the figures of every result."""
    site = f"SITE-{next(_names)}"
    mine = _history(site, _events(drawn))
    everything = _mixed(site, _events(drawn), _events(strangers))
    batches = _batches(everything, shuffle, count)
    if redelivered and everything:
        batches.append(shuffle.sample(everything, max(1, len(everything) // 3)))
    for batch in batches:
        shared_store.save(batch)
    assert _unkept(shared_store, site) == []
    expected, got = _figures(shared_store, site, mine, days)
    assert got == expected


def test_a_late_result_is_judged_with_its_neighbours(shared_store):
    site = f"SITE-{next(_names)}"
    host, test = "vac01.example.org", "cvmfs"
    # OK at 100 s, 300 s and 400 s; then CRITICAL at 200 s, late: it and the OK after it are
    # changes, and the OK at 400 s repeats that one
    on_time = _history(site, [(host, test, 86_400 + t, 0, "OK") for t in (100, 300, 400)])
    shared_store.save(on_time)
    late = _history(site, [(host, test, 86_400 + 200, 0, "CRITICAL")])
    shared_store.save(late)
    loaded = shared_store.timeline_input(
        start=MIDNIGHT, end=MIDNIGHT + timedelta(days=1), vo=VO, site=site
    )
    assert sorted(((r.timestamp - MIDNIGHT).seconds, r.status) for r in loaded.results) == [
        (100, "OK"),
        (200, "CRITICAL"),
        (300, "OK"),
    ]
    assert _unkept(shared_store, site) == []


def test_two_writers_of_the_same_series_take_turns(store_pg_url):
    """Two stores (two consumers) saving batches of the same series at once: each judges
    against what the other committed, and no change is missing."""
    site = f"SITE-{next(_names)}"
    shuffle = random.Random(7)
    drawn = [
        (
            shuffle.choice(HOSTS),
            test,
            86_400 + shuffle.randrange(86_400),
            0,
            shuffle.choice(["OK", "CRITICAL"]),
        )
        for test in TESTS
        for _ in range(150)
    ]
    everything = _history(site, drawn)
    batches = _batches(everything, shuffle, 60)
    with Store(store_pg_url) as first, Store(store_pg_url) as second:
        with ThreadPoolExecutor(2) as pool:
            done = list(
                pool.map(
                    lambda pair: pair[0].save(pair[1]),
                    zip(itertools.cycle([first, second]), batches),
                )
            )
        assert sum(report.stored for report in done) == len(everything)
        assert _unkept(first, site) == []
        expected, got = _figures(first, site, everything, 1)
    assert got == expected


@pytest.mark.parametrize("stranger", ["another VO", "another site"])
def test_a_change_behind_a_strangers_result_is_kept(shared_store, stranger):
    site = f"SITE-{next(_names)}"
    host, test = "vac01.example.org", "cvmfs"
    # OK, then the stranger's CRITICAL, then the site's own CRITICAL: for the site alone
    # the CRITICAL changes its status, though it repeats the result before it
    mine = _history(
        site, [(host, test, 86_400 + t, 0, s) for t, s in ((100, "OK"), (300, "CRITICAL"))]
    )
    record = result(
        host=f"{site.lower()}.{host}",
        site=site,
        test=test,
        status="CRITICAL",
        at=MIDNIGHT + timedelta(seconds=200),
        vm="stranger",
    )
    record = (
        dataclasses.replace(record, vo_name="atlas")
        if stranger == "another VO"
        else dataclasses.replace(record, site_name=f"{site}-B")
    )
    shared_store.save(
        [*mine, Received(encode(record).encode(), {}, record.timestamp, result=record)]
    )
    expected, got = _figures(shared_store, site, mine, 1)
    assert got == expected
    assert got[0].critical_seconds > 0


def test_a_late_result_sharing_a_second_makes_the_one_after_count(shared_store):
    site = f"SITE-{next(_names)}"
    host, test = "vac01.example.org", "cvmfs"
    # OK at 100 s, 200.5 s and 300 s: the last two repeat the first. A CRITICAL at 200.0 s
    # arrives late: second 200 holds OK and CRITICAL (CRITICAL by AND), so the OK at 300 s,
    # which follows that second, now ends the CRITICAL
    on_time = _history(
        site,
        [
            (host, test, 86_400 + t, micro, "OK")
            for t, micro in ((100, 0), (200, 500_000), (300, 0), (400, 0))
        ],
    )
    shared_store.save(on_time)
    late = _history(site, [(host, test, 86_400 + 200, 0, "CRITICAL")])
    shared_store.save(late)
    expected, got = _figures(shared_store, site, [*on_time, *late], 1)
    assert got == expected
    assert got[0].critical_seconds == 100
    assert _unkept(shared_store, site) == []
