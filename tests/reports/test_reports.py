"""A/R documents, freshness and plans from a real store (SQLite and PostgreSQL), checked
against the engine on the same inputs, the per-second reference and ARGO's rules
(docs/availability.md)."""

from __future__ import annotations

import math
import random
from datetime import date, timedelta

import pytest

from bench import reference_ar
from tests.reports.helpers import (
    DAY,
    LATER,
    TESTS,
    VAC,
    VCYCLE,
    VO,
    at,
    record,
    rows,
    save,
    vm_boot,
)
from vmsam.server.availability import DowntimeWindow, Engine, Membership, monthly, report
from vmsam.server.planning import PlanError, plan
from vmsam.server.reports import ReportError, ar_document, freshness
from vmsam.server.store import Store

ENGINE = Engine()
# the shipped profiles' name, which every A/R answer carries
PROFILE = "vmsam_wn/vmsam_critical/vmsam_ops"
METRICS = tuple(f"org.{VO}.WN-{test}" for test in TESTS)


def day(offset: int) -> date:
    return DAY + timedelta(days=offset)


# the same inputs through the store, the engine and the per-second reference


def test_site_and_endpoint_documents_equal_the_engine_and_the_reference(store: Store) -> None:
    rng = random.Random(5)
    spaces = (("s1.example.org", VAC), ("s2.example.org", VAC), ("s3.example.org", VCYCLE))
    results = []
    for host, service_type in spaces:
        for hour in range(-60, 72, 5):
            moment = at(hour + rng.random() * 4)
            moment = moment.replace(microsecond=0)
            vm = f"vm-{host}-{hour}"
            for test in TESTS:
                status = rng.choices(("OK", "WARNING", "CRITICAL", "UNKNOWN"), (6, 1, 2, 1))[0]
                results.append(
                    record(host, moment, status, test=test, service_type=service_type, vm=vm)
                )
        # a second VM in the same second: ANDed with the first
        results.append(record(host, at(7), "CRITICAL", service_type=service_type, vm="twin"))
    # another VO's results at the same site take no part in dteam's figures
    results += vm_boot("s1.example.org", at(2), "CRITICAL", vo="atlas")
    samples = [s for s in save(store, results) if s.metric in METRICS]
    dteam = [r for r in results if r.vo_name == VO]
    windows = [
        DowntimeWindow("s1.example.org", VAC, at(20), at(27), True),
        DowntimeWindow("s3.example.org", VCYCLE, at(30), at(31), True),
        DowntimeWindow("s2.example.org", VAC, at(5), at(40), False),
    ]
    for w in windows:
        store.add_downtime(w.endpoint, w.service_type, w.start, w.end, scheduled=w.scheduled)
    members = [
        Membership(host, kind, "SITE-A", VO, min(r.timestamp for r in dteam if r.host_name == host))
        for host, kind in spaces
    ]
    start, end = day(-1), day(2)

    site = ar_document(store, site="SITE-A", start=start, end=end, vo=VO, now=LATER)
    days = ENGINE.site_days(
        samples, windows, members, site="SITE-A", vo=VO, start=start, end=end, now=LATER
    )
    assert site == {**report("SITE-A", "daily", days), "profile": PROFILE}
    assert rows(site) == reference_ar.site_days(
        ENGINE.profiles, samples, windows, members, site="SITE-A", vo=VO, start=start, end=end
    )
    assert len(rows(site)) == 4

    endpoint = ar_document(store, endpoint="s1.example.org", start=start, end=end, vo=VO)
    assert endpoint["name"] == "s1.example.org"
    assert rows(endpoint) == reference_ar.endpoint_days(
        ENGINE.profiles,
        samples,
        windows,
        endpoint="s1.example.org",
        service_type=VAC,
        vo=VO,
        start=start,
        end=end,
    )
    # the downtime of s1 from 20:00 to 03:00 the next day shows on both days
    downs = [row["down"] for row in rows(endpoint)]
    assert downs[1] == round(4 / 24, 5)
    assert downs[2] == round(3 / 24, 5)


# two reference days of ARGO's rules, with the figures ARGO's engine gives, stored as results


def test_the_first_worked_example_through_the_store(store: Store) -> None:
    for hour, status in ((0, "OK"), (3, "CRITICAL"), (18, "UNKNOWN"), (22, "OK")):
        save(store, vm_boot("space1.example.org", at(hour), status))
    expected = {
        "date": "2024-03-05",
        "availability": 25.0,
        "reliability": 25.0,
        "up": 0.20833,
        "unknown": 0.16667,
        "down": 0.0,
    }
    for where in ({"site": "SITE-A"}, {"endpoint": "space1.example.org"}):
        document = ar_document(store, start=DAY, end=DAY, now=LATER, **where)
        assert rows(document) == [expected]
        assert document["granularity"] == "daily"


def test_the_second_worked_example_with_a_stored_downtime(store: Store) -> None:
    for hour, status in ((0, "OK"), (3, "CRITICAL"), (12, "UNKNOWN"), (22, "OK")):
        save(store, vm_boot("space1.example.org", at(hour), status))
    store.add_downtime("space1.example.org", VAC, at(18), at(22))
    document = ar_document(store, site="SITE-A", start=DAY, end=DAY, now=LATER)
    assert document == {
        "name": "SITE-A",
        "granularity": "daily",
        "profile": PROFILE,
        "results": [
            {
                "date": "2024-03-05",
                "availability": 27.77778,
                "reliability": 35.71429,
                "up": 0.20833,
                "unknown": 0.25,
                "down": 0.16667,
            }
        ],
    }


def test_stored_downtimes_replace_and_unscheduled_ones_change_nothing(store: Store) -> None:
    save(store, vm_boot("space1.example.org", at(0), "OK"))
    save(store, vm_boot("space2.example.org", at(0), "CRITICAL", site="SITE-B"))
    # across midnight: 4 h of DAY, 2 h of the next day
    store.add_downtime("space1.example.org", VAC, at(20), at(26))
    store.add_downtime("space1.example.org", VAC, at(6), at(12), scheduled=False)
    # another endpoint's downtime and a downtime of another service type of the same host
    store.add_downtime("space2.example.org", VAC, at(0), at(24))
    store.add_downtime("space1.example.org", VCYCLE, at(0), at(24))
    document = ar_document(store, endpoint="space1.example.org", start=DAY, end=day(1), now=LATER)
    assert [(r["availability"], r["reliability"], r["down"]) for r in rows(document)] == [
        (83.33333, 100.0, 0.16667),
        (91.66667, 100.0, 0.08333),
    ]
    # a whole day of downtime over CRITICAL: A = 0, R undefined
    other = ar_document(store, site="SITE-B", start=DAY, end=DAY, now=LATER)
    assert rows(other)[0]["availability"] == 0.0
    assert rows(other)[0]["reliability"] == -1.0


def test_monthly_documents_average_the_days_of_each_month(store: Store) -> None:
    first = date(2024, 2, 28)
    samples = save(store, vm_boot("space1.example.org", at(12, first), "OK"))
    samples += save(store, vm_boot("space1.example.org", at(6, date(2024, 3, 2)), "CRITICAL"))
    start, end = date(2024, 2, 27), date(2024, 3, 3)
    document = ar_document(
        store, site="SITE-A", start=start, end=end, granularity="monthly", now=LATER
    )
    member = Membership("space1.example.org", VAC, "SITE-A", VO, at(12, first))
    days = ENGINE.site_days(
        samples, [], [member], site="SITE-A", vo=VO, start=start, end=end, now=LATER
    )
    assert document == {**report("SITE-A", "monthly", monthly(days)), "profile": PROFILE}
    feb, march = rows(document)
    assert (feb["date"], march["date"]) == ("2024-02", "2024-03")
    # Feb 27 absent (site not yet there: MISSING), 28 half MISSING, 29 all OK
    assert (feb["up"], feb["unknown"]) == (0.5, 0.5)
    assert feb["availability"] == 100.0  # 0.5 / (1.00000001 - 0.5) * 100 = 99.999998
    # March 1 MISSING (Feb 28's result carries over one day only), 2: MISSING until 06:00,
    # then CRITICAL, carried over to the 3rd
    assert (march["up"], march["unknown"]) == (0.0, round((1 + 0.25 + 0) / 3, 5))
    assert march["availability"] == 0.0


def test_today_ends_at_now_and_later_days_are_left_out(store: Store) -> None:
    save(store, vm_boot("space1.example.org", at(0), "OK"))
    save(store, vm_boot("space1.example.org", at(6), "CRITICAL"))
    save(store, vm_boot("space1.example.org", at(15), "OK"))  # after now: not counted
    document = ar_document(
        store, endpoint="space1.example.org", start=day(-1), end=day(3), now=at(12)
    )
    assert rows(document) == [
        {
            "date": "2024-03-04",
            "availability": -1.0,
            "reliability": -1.0,
            "up": 0.0,
            "unknown": 1.0,
            "down": 0.0,
        },
        {
            "date": "2024-03-05",
            "availability": 50.0,
            "reliability": 50.0,
            "up": 0.5,
            "unknown": 0.0,
            "down": 0.0,
        },
    ]
    assert ar_document(store, site="SITE-A", start=day(1), end=day(3), now=at(12))["results"] == []


# the VO rule and the other errors


def test_the_vo_may_be_left_out_only_when_the_store_holds_one(store: Store) -> None:
    with pytest.raises(ReportError, match="no results yet"):
        ar_document(store, site="SITE-A", start=DAY, end=DAY)
    save(store, vm_boot("space1.example.org", at(0), "OK"))
    assert rows(ar_document(store, site="SITE-A", start=DAY, end=DAY, now=LATER))
    save(store, vm_boot("space1.example.org", at(0), "CRITICAL", vo="atlas"))
    with pytest.raises(ReportError, match=r"several VOs \(atlas, dteam\)"):
        ar_document(store, site="SITE-A", start=DAY, end=DAY)
    with pytest.raises(ReportError, match="unknown vo 'cms'"):
        ar_document(store, site="SITE-A", start=DAY, end=DAY, vo="cms")
    atlas = ar_document(store, site="SITE-A", start=DAY, end=DAY, vo="atlas", now=LATER)
    dteam = ar_document(store, site="SITE-A", start=DAY, end=DAY, vo=VO, now=LATER)
    assert rows(atlas)[0]["availability"] == 0.0
    assert rows(dteam)[0]["availability"] == 100.0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"site": "SITE-X"}, "unknown site 'SITE-X'"),
        ({"endpoint": "nowhere.example.org"}, "unknown endpoint 'nowhere.example.org'"),
        (
            {"endpoint": "space1.example.org", "service_type": "ARC-CE"},
            "unknown service type 'ARC-CE' of endpoint 'space1.example.org'",
        ),
        ({"site": "SITE-A", "start": date.min}, "must lie between 0001-01-01 and 9999-12-31"),
        ({"site": "SITE-A", "start": DAY, "end": date.max}, "must lie between"),
        ({"site": "SITE-A", "end": DAY - timedelta(days=1)}, r"the end \(2024-03-04\) is before"),
        ({"site": "SITE-A", "end": DAY + timedelta(days=366)}, "367 days; at most 366"),
        ({"site": "SITE-A", "start": "2024-3-5"}, "start '2024-3-5' is not a date"),
        ({"site": "SITE-A", "end": "yesterday"}, "end 'yesterday' is not a date"),
        ({"site": "SITE-A", "start": "2024-02-30"}, "is not a date"),
        ({"site": "SITE-A", "endpoint": "space1.example.org"}, "exactly one of"),
        ({}, "exactly one of"),
        ({"site": "SITE-A", "service_type": VAC}, "applies to an endpoint"),
        ({"site": "SITE-A", "granularity": "weekly"}, "granularity 'weekly'"),
    ],
)
def test_bad_requests_raise_report_errors_that_say_what_is_wrong(
    store: Store, arguments: dict[str, object], message: str
) -> None:
    save(store, vm_boot("space1.example.org", at(0), "OK"))
    request: dict[str, object] = {"start": DAY, "end": DAY, **arguments}
    with pytest.raises(ReportError, match=message) as caught:
        ar_document(store, **request)
    assert "\n" not in str(caught.value)


def test_a_range_of_366_days_is_allowed(store: Store) -> None:
    save(store, vm_boot("space1.example.org", at(0), "OK"))
    document = ar_document(
        store, site="SITE-A", start=DAY, end=DAY + timedelta(days=365), now=LATER
    )
    assert len(rows(document)) == (LATER.date() - DAY).days


def test_an_endpoint_with_several_service_types_needs_one(store: Store) -> None:
    save(store, vm_boot("space1.example.org", at(0), "OK"))
    save(store, vm_boot("space1.example.org", at(0), "CRITICAL", service_type=VCYCLE))
    with pytest.raises(ReportError, match=r"several service types \(uk.ac.gridpp.vac, uk.ac"):
        ar_document(store, endpoint="space1.example.org", start=DAY, end=DAY)
    vcycle = ar_document(
        store, endpoint="space1.example.org", service_type=VCYCLE, start=DAY, end=DAY, now=LATER
    )
    assert rows(vcycle)[0]["availability"] == 0.0
    # the site ORs its two services: one working one is enough
    site = ar_document(store, site="SITE-A", start=DAY, end=DAY, now=LATER)
    assert rows(site)[0]["availability"] == 100.0


def test_a_service_type_outside_the_profile_is_a_report_error(store: Store) -> None:
    save(store, vm_boot("storage.example.org", at(0), "OK", service_type="SRM"))
    with pytest.raises(ReportError, match="'SRM' has no metrics"):
        ar_document(store, endpoint="storage.example.org", start=DAY, end=DAY)


# freshness


def test_freshness_says_which_spaces_are_fresh_at_risk_and_missing(store: Store) -> None:
    now = at(18)
    for k in range(1, 14):  # every 12 hours over the last week
        save(store, vm_boot("fresh.example.org", now - timedelta(hours=12 * k)))
    save(store, vm_boot("fresh.example.org", at(8), vm="twin-a"))
    save(store, vm_boot("fresh.example.org", at(8), vm="twin-b"))
    save(store, vm_boot("fresh.example.org", now - timedelta(days=8)))  # outside the week
    save(store, vm_boot("stale.example.org", at(12, day(-1)), site="SITE-B"))
    save(store, vm_boot("gone.example.org", at(12, day(-3)), site="SITE-B"))
    save(store, vm_boot("half.example.org", at(10), tests=("cvmfs", "middleware")))
    save(store, vm_boot("atlas.example.org", at(10), vo="atlas"))

    found = {f.endpoint: f for f in freshness(store, now=now, vo=VO)}
    assert set(found) == {
        "fresh.example.org",
        "stale.example.org",
        "gone.example.org",
        "half.example.org",
    }

    fresh = found["fresh.example.org"]
    assert (fresh.site, fresh.service_type, fresh.vo) == ("SITE-A", VAC, VO)
    assert fresh.staleness == "fresh"
    assert fresh.last_result == at(8)
    assert fresh.metrics == dict.fromkeys(METRICS, at(8))
    assert fresh.observed_vm_starts_per_hour == pytest.approx(15 / 168)
    assert (fresh.p_missing_tomorrow, fresh.at_risk) == (0.0, False)

    stale = found["stale.example.org"]
    assert stale.staleness == "at_risk"
    assert stale.observed_vm_starts_per_hour == pytest.approx(1 / 168)
    assert stale.p_missing_tomorrow == pytest.approx(math.exp(-6 / 168))
    assert stale.at_risk

    gone = found["gone.example.org"]
    assert gone.staleness == "missing"
    assert gone.at_risk

    half = found["half.example.org"]
    assert half.staleness == "missing"
    assert half.metrics[f"org.{VO}.WN-cvmfs"] == at(10)
    assert half.metrics[f"org.{VO}.WN-mjf"] is None

    everyone = freshness(store, now=now)
    assert {(f.endpoint, f.vo) for f in everyone} >= {("atlas.example.org", "atlas")}
    with pytest.raises(ReportError, match="unknown vo"):
        freshness(store, now=now, vo="cms")


def test_a_busy_space_seen_yesterday_is_not_at_risk(store: Store) -> None:
    for hour in range(-72, 0, 2):  # every 2 hours for 3 days, the last one at 22:00
        save(store, vm_boot("busy.example.org", at(hour)))
    [busy] = freshness(store, now=at(1))
    assert busy.staleness == "at_risk"
    assert busy.observed_vm_starts_per_hour == pytest.approx(36 / 168)
    assert busy.p_missing_tomorrow == pytest.approx(math.exp(-23 * 36 / 168))
    assert not busy.at_risk


# the sampling plan


def test_plan_gives_the_smallest_fraction_for_the_target() -> None:
    answer = plan(1.0)
    assert answer["vm_starts_per_hour"] == 1.0
    assert answer["target"] == 0.99
    assert answer["fraction"] == pytest.approx(math.log(100) / 24)
    assert answer["probability"] >= 0.99
    assert plan(10.0, 0.999)["fraction"] < plan(1.0, 0.999)["fraction"]


@pytest.mark.parametrize(
    ("rate", "target", "message"),
    [
        (0.1, 0.99, r"needs at least 0.1919 VM starts per hour"),
        (0.0, 0.5, "needs at least"),
        (1.0, 1.0, "target must be within"),
        (1.0, float("nan"), "target must be within"),
        (-1.0, 0.99, "VM starts per hour must be >= 0"),
        (float("inf"), 0.99, "VM starts per hour must be >= 0"),
    ],
)
def test_plan_explains_what_it_cannot_do(rate: float, target: float, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        plan(rate, target)
