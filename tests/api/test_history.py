"""Status timelines and trends through a real ``vmsam serve``, on SQLite and PostgreSQL:
the pieces of SITE-AR's known days with the VMs that set them, figures equal to /ar's,
the trends of the data set, and a clear 4xx for every bad request."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.api import DAY, NOW, VAC, Server

SITE = "/api/v1/status/sites/SITE-AR"
ENDPOINT = "/api/v1/status/endpoints/ar.example"
THREE_DAYS = {"start": DAY.isoformat(), "end": (DAY + timedelta(days=2)).isoformat(), "vo": "lhcb"}


@pytest.fixture(scope="module")
def client(server: Server):
    with server.client() as opened:
        yield opened


def get(client: httpx.Client, path: str, **params: object) -> dict[str, Any]:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def stamp(day_offset: int, hours: int = 0) -> str:
    moment = datetime.combine(DAY, datetime.min.time(), UTC) + timedelta(
        days=day_offset, hours=hours
    )
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def spans(pieces: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(p["start"], p["end"], p["status"]) for p in pieces]


# SITE-AR: OK from DAY 00:00 (vm-1), CRITICAL from DAY+1 12:00 (vm-2), carried into DAY+2
EXPECTED = [
    (stamp(0), stamp(1), "OK"),
    (stamp(1), stamp(1, 12), "OK"),
    (stamp(1, 12), stamp(2), "CRITICAL"),
    (stamp(2), stamp(3), "CRITICAL"),
]


def test_a_sites_timelines_with_the_vms_that_set_them(client):
    document = get(client, SITE, **THREE_DAYS)
    assert (document["name"], document["scope"], document["vo"]) == ("SITE-AR", "site", "lhcb")
    assert spans(document["pieces"]) == EXPECTED
    (space,) = document["endpoints"]
    assert (space["endpoint"], space["service_type"]) == ("ar.example", VAC)
    assert spans(space["pieces"]) == EXPECTED
    assert len(space["metrics"]) == 4
    for timeline in space["metrics"]:
        assert spans(timeline["pieces"]) == EXPECTED
        setting = [(p["result"]["vm_uuid"], p["carried"]) for p in timeline["pieces"]]
        assert setting == [("vm-1", False), ("vm-1", True), ("vm-2", False), ("vm-2", True)]
        assert timeline["pieces"][2]["result"]["machinetype"] == "pilot"
        assert timeline["pieces"][2]["result"]["gathered_at"] == "vm-2.ar.example"
    assert {entry["result"]["vm_uuid"] for entry in space["pieces"][2]["set_by"]} == {"vm-2"}


def test_the_figures_of_the_timelines_are_those_of_ar(client):
    document = get(client, SITE, **THREE_DAYS)
    ar = get(client, "/api/v1/ar/sites/SITE-AR", **THREE_DAYS)["results"]
    up: Counter[str] = Counter()
    for start, end, status in spans(document["pieces"]):
        seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
        up[start[:10]] += int(seconds) if status in ("OK", "WARNING") else 0
    # nothing UNKNOWN, MISSING or in downtime: availability is the share of up time
    assert [round(100 * up[row["date"]] / 86_400, 5) for row in ar] == [
        row["availability"] for row in ar
    ]
    assert [row["availability"] for row in ar] == [100.0, 50.0, 0.0]


def test_without_the_metrics_timelines_the_rest_is_the_same(client):
    full = get(client, SITE, **THREE_DAYS)
    slim = get(client, SITE, metrics="false", **THREE_DAYS)
    assert all(space["metrics"] == [] for space in slim["endpoints"])
    for space in full["endpoints"]:
        space["metrics"] = []
    assert slim == full


def test_an_endpoints_timelines_and_one_day(client):
    document = get(client, ENDPOINT, day=(DAY + timedelta(days=1)).isoformat(), vo="lhcb")
    assert document["scope"] == "endpoint"
    assert spans(document["pieces"]) == EXPECTED[1:3]
    typed = get(client, ENDPOINT, service_type=VAC, **THREE_DAYS)
    assert spans(typed["pieces"]) == EXPECTED


def test_today_by_default_up_to_now(client):
    document = get(client, "/api/v1/status/sites/SITE-A", vo="lhcb")
    assert document["start"] == document["end"] == NOW.date().isoformat()
    assert document["pieces"][0]["start"] == f"{NOW.date().isoformat()}T00:00:00Z"
    # the space that reported CRITICAL a moment ago is in the site's endpoints
    spaces = {space["endpoint"]: space for space in document["endpoints"]}
    assert set(spaces) == {"vac01.a.example", "vac02.a.example"}
    scratch = next(
        m for m in spaces["vac02.a.example"]["metrics"] if m["metric"] == "org.lhcb.WN-scratch"
    )
    assert scratch["pieces"][-1]["status"] == "CRITICAL"
    assert scratch["pieces"][-1]["result"]["vm_uuid"] == "vm-hostile"


def test_trends_of_the_data_set(client):
    document = get(client, "/api/v1/trends", **THREE_DAYS)
    assert document["days"] == 3
    failing = [(e["site"], e["endpoint"], e["metric"], e["critical"]) for e in document["failing"]]
    assert ("SITE-AR", "ar.example", "org.lhcb.WN-scratch", 1) in failing
    assert ("SITE-DT", "dt.example", "org.lhcb.WN-scratch", 1) in failing
    assert {e["changes"] for e in document["flapping"]} == {1}
    assert document["contrast"] is None  # one machinetype everywhere
    assert (
        get(client, "/api/v1/trends", site="SITE-DT", top=1, **THREE_DAYS)["failing"][0]["site"]
        == "SITE-DT"
    )


BAD = [
    # (path, query, status, words in the detail)
    (SITE, {**THREE_DAYS, "start": "2024-02-30"}, 422, "start"),
    (SITE, {**THREE_DAYS, "start": "yesterday"}, 422, "start"),
    (SITE, {**THREE_DAYS, "start": "2024-3-4"}, 422, "start"),
    (SITE, {**THREE_DAYS, "start": "2024-03-10"}, 422, "before the start"),
    (SITE, {**THREE_DAYS, "start": "2024-01-01"}, 422, "at most 31"),
    (SITE, {**THREE_DAYS, "day": "2024-03-04"}, 422, "either day or start"),
    (SITE, {"start": "0001-01-01", "end": "0001-01-02", "vo": "lhcb"}, 422, "between"),
    (SITE, {"day": "9999-12-31", "vo": "lhcb"}, 422, "between"),
    (SITE, {**THREE_DAYS, "vo": "cms"}, 404, "unknown vo"),
    (SITE, THREE_DAYS | {"vo": ""}, 422, "vo"),
    (SITE, [*THREE_DAYS.items(), ("start", "2024-03-03")], 400, "give start= once"),
    (SITE, [*THREE_DAYS.items(), ("vo", "lhcb")], 400, "give vo= once"),
    (SITE, {"day": "2024-03-04"}, 422, "several VOs"),
    (SITE, {**THREE_DAYS, "metrics": "maybe"}, 422, "metrics"),
    ("/api/v1/status/sites/NO-SUCH-SITE", THREE_DAYS, 404, "unknown site"),
    ("/api/v1/status/sites/%00", THREE_DAYS, 404, "unknown site"),
    ("/api/v1/status/sites/<img src=x onerror=alert(1)>", THREE_DAYS, 404, "unknown site"),
    ("/api/v1/status/sites/" + "x" * 3000, THREE_DAYS, 422, "site"),
    ("/api/v1/status/endpoints/nowhere.example", THREE_DAYS, 404, "unknown endpoint"),
    (ENDPOINT, {**THREE_DAYS, "service_type": "ARC-CE"}, 404, "unknown service type"),
    ("/api/v1/trends", {**THREE_DAYS, "site": "NO-SUCH-SITE"}, 404, "unknown site"),
    ("/api/v1/trends", {**THREE_DAYS, "top": "0"}, 422, "top"),
    ("/api/v1/trends", {**THREE_DAYS, "top": "1000"}, 422, "top"),
    ("/api/v1/trends", {**THREE_DAYS, "top": "ten"}, 422, "top"),
    ("/api/v1/trends", {**THREE_DAYS, "end": "2025-03-04"}, 422, "at most 31"),
    ("/api/v1/trends", [*THREE_DAYS.items(), ("site", "A"), ("site", "B")], 400, "give site="),
    ("/api/v1/trends", {**THREE_DAYS, "vo": "cms"}, 404, "unknown vo"),
]


@pytest.mark.parametrize(("path", "query", "expected", "words"), BAD)
def test_bad_requests_get_a_clear_4xx(client, path, query, expected, words):
    response = client.get(path, params=query)
    assert response.status_code == expected, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    assert "\n" not in detail
    assert words.lower() in detail.lower()
