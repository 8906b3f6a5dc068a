"""Status timelines from the store, on SQLite and PostgreSQL: the pieces the A/R engine
builds (site, endpoint, metric), each metric piece with the result that set it, and the
figures they imply equal to those of the A/R documents."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from tests.reports.helpers import DAY, LATER, VAC, VCYCLE, at, record, rows, save, vm_boot
from vmsam.server.reports import ar_document, prune
from vmsam.server.store import Store
from vmsam.server.timelines import status_document
from vmsam.shared.errors import ReportError

SPACE = "space1.example.org"
SCRATCH = "org.dteam.WN-scratch"


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def spans(pieces: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(piece["start"], piece["end"], piece["status"]) for piece in pieces]


def metric(document: dict[str, Any], name: str, endpoint: str = SPACE) -> list[dict[str, Any]]:
    (space,) = (e for e in document["endpoints"] if e["endpoint"] == endpoint)
    (found,) = (m for m in space["metrics"] if m["metric"] == name)
    pieces: list[dict[str, Any]] = found["pieces"]
    return pieces


def seconds(piece: dict[str, Any]) -> int:
    def moment(text: str) -> datetime:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)

    return int((moment(piece["end"]) - moment(piece["start"])).total_seconds())


@pytest.fixture
def example(store: Store) -> Store:
    """OK 0-3 h, CRITICAL 3-18 h, UNKNOWN 18-22 h, OK 22-24 h on DAY, then silence."""
    for hour, status in ((0, "OK"), (3, "CRITICAL"), (18, "UNKNOWN"), (22, "OK")):
        save(store, vm_boot(SPACE, at(hour), status, vm=f"vm-{hour}"))
    return store


def test_the_site_timeline_is_the_engines_with_the_results_that_set_it(example: Store) -> None:
    document = status_document(
        example, site="SITE-A", start=DAY, end=DAY + timedelta(days=2), now=LATER
    )
    assert (document["name"], document["scope"], document["vo"]) == ("SITE-A", "site", "dteam")
    day1, day2 = DAY + timedelta(days=1), DAY + timedelta(days=2)
    expected_day = [
        (stamp(at(0)), stamp(at(3)), "OK"),
        (stamp(at(3)), stamp(at(18)), "CRITICAL"),
        (stamp(at(18)), stamp(at(22)), "UNKNOWN"),
        (stamp(at(22)), stamp(at(0, day1)), "OK"),
        # the last result carries over into the next day, and no further
        (stamp(at(0, day1)), stamp(at(0, day2)), "OK"),
        (stamp(at(0, day2)), stamp(at(24, day2)), "MISSING"),
    ]
    assert spans(document["pieces"]) == expected_day
    (space,) = document["endpoints"]
    assert (space["endpoint"], space["service_type"]) == (SPACE, VAC)
    assert spans(space["pieces"]) == expected_day
    pieces = metric(document, SCRATCH)
    assert spans(pieces) == expected_day
    setting = [(p["result"] or {}).get("vm_uuid") for p in pieces]
    assert setting == ["vm-0", "vm-3", "vm-18", "vm-22", "vm-22", None]
    assert [p["carried"] for p in pieces] == [False, False, False, False, True, False]
    critical = pieces[1]["result"]
    assert critical == {
        "timestamp": stamp(at(3)),
        "status": "CRITICAL",
        "vm_uuid": "vm-3",
        "machinetype": "pilot",
        "gathered_at": "vm-3.example.org",
        "summary": "critical",
    }
    # the endpoint's CRITICAL piece was set by every metric, all CRITICAL from vm-3
    set_by = space["pieces"][1]["set_by"]
    assert {entry["metric"] for entry in set_by} == {
        f"org.dteam.WN-{test}" for test in ("cvmfs", "middleware", "scratch", "mjf")
    }
    assert {entry["result"]["vm_uuid"] for entry in set_by} == {"vm-3"}
    assert space["pieces"][-1]["set_by"] == [
        {"metric": entry["metric"], "result": None} for entry in space["pieces"][-1]["set_by"]
    ]


def test_results_of_one_second_and_the_metric_that_made_the_endpoint_fail(store: Store) -> None:
    save(store, vm_boot(SPACE, at(1), vm="vm-good"))
    # two VMs in the same second: the worse result sets the status (AND), whatever the order
    save(store, [record(SPACE, at(5), "OK", test="scratch", vm="vm-fine")])
    bad = record(SPACE, at(5), "CRITICAL", test="scratch", vm="vm-bad")
    save(store, [dataclasses.replace(bad, vm_machinetype="lhcb-prod")])
    document = status_document(store, endpoint=SPACE, day=DAY, now=LATER)
    assert document["scope"] == "endpoint"
    scratch = metric(document, SCRATCH)
    assert spans(scratch)[2] == (stamp(at(5)), stamp(at(24)), "CRITICAL")
    assert scratch[2]["result"]["vm_uuid"] == "vm-bad"
    assert scratch[2]["result"]["machinetype"] == "lhcb-prod"
    (space,) = document["endpoints"]
    assert spans(document["pieces"]) == spans(space["pieces"])
    failing = space["pieces"][-1]
    assert failing["status"] == "CRITICAL"
    assert [entry["metric"] for entry in failing["set_by"]] == [SCRATCH]
    assert failing["set_by"][0]["result"]["vm_uuid"] == "vm-bad"
    # the first hour: MISSING, then OK from vm-good
    assert [p["status"] for p in space["pieces"]] == ["MISSING", "OK", "CRITICAL"]


def test_downtimes_mark_the_endpoint_and_the_site_not_the_metrics(store: Store) -> None:
    save(store, vm_boot(SPACE, at(0)))
    store.add_downtime(SPACE, VAC, at(6), at(12), description="upgrade")
    document = status_document(store, site="SITE-A", day=DAY, now=LATER)
    expected = [
        (stamp(at(0)), stamp(at(6)), "OK"),
        (stamp(at(6)), stamp(at(12)), "DOWNTIME"),
        (stamp(at(12)), stamp(at(24)), "OK"),
    ]
    assert spans(document["pieces"]) == expected
    assert spans(document["endpoints"][0]["pieces"]) == expected
    assert document["endpoints"][0]["pieces"][1]["set_by"] == []
    assert spans(metric(document, SCRATCH)) == [(stamp(at(0)), stamp(at(24)), "OK")]


def day_seconds(pieces: list[dict[str, Any]]) -> dict[str, Counter[str]]:
    """Seconds in each status, per day of the pieces."""
    days: dict[str, Counter[str]] = {}
    for piece in pieces:
        days.setdefault(piece["start"][:10], Counter())[piece["status"]] += seconds(piece)
    return days


def figures(spent: Counter[str]) -> tuple[float, float, float]:
    """Availability, reliability and the up fraction as ARGO defines them (-1: undefined)."""
    total = sum(spent.values())
    up = spent["OK"] + spent["WARNING"]
    unknown = spent["UNKNOWN"] + spent["MISSING"]
    down = spent["DOWNTIME"]

    def percent(denominator: int) -> float:
        return -1.0 if denominator == 0 else round(100 * up / denominator, 5)

    return percent(total - unknown), percent(total - unknown - down), round(up / total, 5)


def test_the_figures_the_timelines_imply_are_those_of_the_ar_documents(store: Store) -> None:
    rng = random.Random(14)
    start = DAY
    for hour in range(0, 24 * 4):
        for host, kind in (("a.example.org", VAC), ("b.example.org", VCYCLE)):
            if rng.random() < 0.3:
                continue
            moment = at(hour + rng.random(), start)
            status = rng.choice(["OK", "OK", "OK", "WARNING", "CRITICAL", "UNKNOWN"])
            tests = rng.sample(["cvmfs", "middleware", "scratch", "mjf"], rng.randint(1, 4))
            save(store, vm_boot(host, moment, status, tests=tests, service_type=kind))
    store.add_downtime("a.example.org", VAC, at(30, start), at(40, start))
    end = start + timedelta(days=4)  # the last day: nothing carried, MISSING
    document = status_document(store, site="SITE-A", start=start, end=end, now=LATER)
    ar = rows(ar_document(store, site="SITE-A", start=start, end=end, now=LATER))
    implied = day_seconds(document["pieces"])
    assert sorted(implied) == [row["date"] for row in ar]
    for row in ar:
        spent = implied[row["date"]]
        assert sum(spent.values()) == 86_400
        assert figures(spent) == (row["availability"], row["reliability"], row["up"])
    for space in document["endpoints"]:
        by_endpoint = rows(
            ar_document(store, endpoint=space["endpoint"], start=start, end=end, now=LATER)
        )
        implied = day_seconds(space["pieces"])
        for row in by_endpoint:
            assert figures(implied[row["date"]]) == (
                row["availability"],
                row["reliability"],
                row["up"],
            )


def test_today_ends_at_now(store: Store) -> None:
    save(store, vm_boot(SPACE, at(0)))
    now = at(10)
    document = status_document(store, site="SITE-A", now=now)  # today by default
    assert (document["start"], document["end"]) == (DAY.isoformat(), DAY.isoformat())
    assert spans(document["pieces"]) == [(stamp(at(0)), stamp(now), "OK")]


def test_pruned_days_have_no_timeline(store: Store) -> None:
    for offset in range(3):
        save(store, vm_boot(SPACE, at(1, DAY + timedelta(days=offset))))
    prune(store, DAY + timedelta(days=2), now=LATER)
    document = status_document(
        store, site="SITE-A", start=DAY, end=DAY + timedelta(days=2), now=LATER
    )
    assert document["pruned"] == [DAY.isoformat(), (DAY + timedelta(days=1)).isoformat()]
    assert {piece["start"][:10] for piece in document["pieces"]} == {
        (DAY + timedelta(days=2)).isoformat()
    }


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ({"site": "NOWHERE"}, "unknown site 'NOWHERE'"),
        ({"endpoint": "nowhere.example.org"}, "unknown endpoint 'nowhere.example.org'"),
        ({"site": "SITE-A", "vo": "atlas"}, "unknown vo 'atlas'"),
        ({"site": "SITE-A", "start": "2024-03-01", "end": "2024-04-01"}, "32 days; at most 31"),
        ({"site": "SITE-A", "start": "2024-03-02", "end": "2024-03-01"}, "is before the start"),
        ({"site": "SITE-A", "day": "2024-03-01", "start": "2024-03-01"}, "either day or start"),
        ({"site": "SITE-A", "day": "2024-02-30"}, "is not a date"),
        ({"site": "SITE-A", "endpoint": SPACE}, "exactly one of a site and an endpoint"),
        ({"site": "SITE-A", "service_type": VAC}, "applies to an endpoint"),
        ({"endpoint": SPACE, "service_type": "other"}, "unknown service type 'other'"),
    ],
)
def test_bad_requests_say_what_is_wrong(
    example: Store, where: dict[str, Any], message: str
) -> None:
    with pytest.raises(ReportError, match=message.replace("(", r"\(")):
        status_document(
            example,
            now=LATER,
            **(where if {"day", "start"} & set(where) else {**where, "day": DAY}),
        )


def test_a_range_of_31_days_is_allowed(example: Store) -> None:
    document = status_document(
        example, site="SITE-A", start=date(2024, 3, 1), end=date(2024, 3, 31), now=LATER
    )
    assert {piece["start"][:10] for piece in document["pieces"]} == {
        (date(2024, 3, 1) + timedelta(days=k)).isoformat() for k in range(31)
    }


def test_a_carried_piece_names_the_result_from_which_the_status_held(store: Store) -> None:
    day1, day2 = DAY + timedelta(days=1), DAY + timedelta(days=2)
    for hours, vm in ((1, "vm-a"), (5, "vm-b"), (20, "vm-c"), (27, "vm-d"), (40, "vm-e")):
        save(store, vm_boot(SPACE, at(hours), vm=vm))
    document = status_document(store, endpoint=SPACE, start=DAY, end=day2, now=LATER)
    carried = [
        (piece["start"][:10], piece["result"]["vm_uuid"])
        for piece in metric(document, SCRATCH)
        if piece["carried"]
    ]
    # OK from vm-a on DAY (vm-b and vm-c only repeated it); on day1 OK held all day from
    # its first result, vm-d
    assert carried == [(day1.isoformat(), "vm-a"), (day2.isoformat(), "vm-d")]
