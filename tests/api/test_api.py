"""The dashboard API through a real ``vmsam serve`` (uvicorn) process, on SQLite and on
PostgreSQL: shapes and values of every endpoint, filters, pagination, the write credential,
and clear 4xx answers (never a 5xx) to bad or absurd requests."""

from __future__ import annotations

import math
import subprocess
import time
from datetime import timedelta

import httpx
import pytest

from tests.support.api import (
    DAY,
    HOSTILE,
    HOSTILE_DETAILS,
    NOW,
    RESULT_FIELDS,
    SIGNER,
    TOKEN,
    VAC,
    VCYCLE,
    YESTERDAY_NOON,
    Server,
    at,
    clean_environment,
    iso,
    populate,
    result,
    running_server,
    serve_command,
)
from tests.support.net import free_port
from tests.support.postgres import drop_database
from vmsam.server.api._freshness import FreshnessCache
from vmsam.server.reports import ReportError
from vmsam.server.store import Received, Store
from vmsam.shared.messages import encode

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def client(server: Server):
    with server.client() as opened:
        yield opened


def get(client: httpx.Client, path: str, **params: object) -> dict:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    body: dict = response.json()
    return body


def ar(client: httpx.Client, path: str, start, end, **params: object) -> list[dict]:
    document = get(client, path, start=str(start), end=str(end), **params)
    return document["results"]


# --- sites -----------------------------------------------------------------------------


def test_sites_list_every_space_with_status_and_freshness(client):
    sites = {site["name"]: site for site in get(client, "/api/v1/sites")["sites"]}
    assert set(sites) == {"SITE-A", "SITE-B", "SITE-AR", "SITE-DT"}
    spaces = {(e["endpoint"], e["vo"]): e for e in sites["SITE-A"]["endpoints"]}
    assert set(spaces) == {
        ("vac01.a.example", "lhcb"),
        ("vac01.a.example", "atlas"),
        ("vac02.a.example", "lhcb"),
    }
    hostile = spaces["vac02.a.example", "lhcb"]
    assert hostile["status"] == "CRITICAL"
    assert hostile["service_type"] == VAC
    assert hostile["last_result"] == iso(NOW)
    assert {m["metric"]: m["status"] for m in hostile["metrics"]} == {
        "org.lhcb.WN-cvmfs": "OK",
        "org.lhcb.WN-middleware": "OK",
        "org.lhcb.WN-scratch": "CRITICAL",
        "org.lhcb.WN-mjf": "OK",
    }
    assert spaces["vac01.a.example", "lhcb"]["status"] == "OK"
    assert spaces["vac01.a.example", "lhcb"]["first_seen"] == iso(NOW - timedelta(hours=9))
    assert sites["SITE-A"]["last_result"] == iso(NOW)

    # SITE-B's only space was last heard of yesterday: tomorrow starts MISSING
    (silent,) = sites["SITE-B"]["endpoints"]
    assert silent["service_type"] == VCYCLE
    assert silent["last_result"] == iso(YESTERDAY_NOON)
    assert silent["freshness"]["staleness"] == "at_risk"
    assert silent["freshness"]["at_risk"] is True
    assert silent["freshness"]["p_missing_tomorrow"] > 0.01
    assert sites["SITE-B"]["at_risk"] is True
    fresh = spaces["vac01.a.example", "lhcb"]["freshness"]
    assert fresh["staleness"] == "fresh"
    assert fresh["at_risk"] is False
    assert fresh["observed_vm_starts_per_hour"] > 0
    assert set(fresh["metrics"]) == {
        f"org.lhcb.WN-{t}" for t in ("cvmfs", "middleware", "scratch", "mjf")
    }


def test_sites_of_one_vo(client):
    sites = get(client, "/api/v1/sites", vo="atlas")["sites"]
    assert [(s["name"], [(e["endpoint"], e["vo"]) for e in s["endpoints"]]) for s in sites] == [
        ("SITE-A", [("vac01.a.example", "atlas")])
    ]


# --- results ---------------------------------------------------------------------------


def test_results_shape_and_values(client):
    page = get(client, "/api/v1/results", endpoint="vac02.a.example", metric="org.lhcb.WN-scratch")
    assert page["total"] == 1
    (only,) = page["results"]
    assert set(only) == RESULT_FIELDS
    assert only == {
        "site": "SITE-A",
        "endpoint": "vac02.a.example",
        "service_type": VAC,
        "metric": "org.lhcb.WN-scratch",
        "vo": "lhcb",
        "status": "CRITICAL",
        "timestamp": iso(NOW),
        "summary": HOSTILE,
        "details": HOSTILE_DETAILS,
        "vm_uuid": "vm-hostile",
        "machinetype": "pilot",
        "gathered_at": "vm-hostile.vac02.a.example",
        "signature": "unsigned",
        "signer": None,
    }


def test_results_newest_first_with_the_total(client):
    page = get(client, "/api/v1/results", limit=10000)
    assert page["total"] == 65 == len(page["results"])
    stamps = [r["timestamp"] for r in page["results"]]
    assert stamps == sorted(stamps, reverse=True)


@pytest.mark.parametrize(
    ("filters", "total"),
    [
        ({"site": "SITE-A"}, 45),
        ({"endpoint": "vac02.a.example"}, 4),
        ({"metric": "org.lhcb.WN-scratch"}, 16),
        ({"vo": "atlas"}, 1),
        ({"site": "SITE-A", "vo": "lhcb", "metric": "org.lhcb.WN-mjf"}, 11),
        ({"since": iso(NOW - timedelta(hours=2))}, 17),
        ({"since": iso(NOW - timedelta(hours=2)), "until": iso(NOW)}, 8),
        ({"site": "SITE-AR", "since": str(DAY), "until": str(DAY + timedelta(days=1))}, 4),
        ({"since": (NOW - timedelta(hours=2)).astimezone().isoformat()}, 17),  # an offset
        ({"site": "SITE-AR", "until": iso(at(DAY, 36))}, 4),
        ({"metric": "org.lhcb.WN-none"}, 0),
        ({"signature": "verified"}, 41),
        ({"signature": "unsigned"}, 4),
        ({"signature": "unsigned", "site": "SITE-B"}, 0),
    ],
)
def test_results_filters(client, filters, total):
    page = get(client, "/api/v1/results", limit=10000, **filters)
    assert page["total"] == total == len(page["results"])
    for row in page["results"]:
        for key in ("site", "endpoint", "metric", "vo", "signature"):
            if key in filters:
                assert row[key] == filters[key]


def test_results_not_checked_for_signatures_have_none(client):
    page = get(client, "/api/v1/results", limit=10000, signature="none")
    assert page["total"] == 65 - 41 - 4 == len(page["results"])
    assert {(row["signature"], row["signer"]) for row in page["results"]} == {(None, None)}
    verified = get(client, "/api/v1/results", endpoint="vac01.a.example", limit=1)["results"]
    assert verified[0]["signer"] == SIGNER


def test_since_and_until_split_the_results(client):
    moment = iso(NOW - timedelta(hours=4, minutes=30))
    before = get(client, "/api/v1/results", until=moment, limit=1)["total"]
    after = get(client, "/api/v1/results", since=moment, limit=1)["total"]
    assert 0 < before < 65
    assert before + after == 65


def test_results_pages_cover_everything_once(client):
    whole = get(client, "/api/v1/results", site="SITE-A", limit=100)["results"]
    pages = []
    for offset in range(0, 50, 7):
        page = get(client, "/api/v1/results", site="SITE-A", limit=7, offset=offset)
        assert page["total"] == 45
        pages += page["results"]
    assert pages == whole
    assert get(client, "/api/v1/results", offset=10**12)["results"] == []


# --- dead letters ------------------------------------------------------------------------


def test_dead_letters_with_reason_and_escaped_body(client):
    page = get(client, "/api/v1/deadletters")
    assert page["total"] == 2
    newest, oldest = page["results"]
    assert set(newest) == {"received_at", "reason", "body", "headers"}
    assert "more than 3 days in the past" in newest["reason"]
    assert "hostName: old.example" in newest["body"]
    assert oldest["body"] == "not a record \\xff\\xfe"
    assert oldest["reason"]
    assert get(client, "/api/v1/deadletters", limit=1, offset=1)["results"] == [oldest]


# --- availability ------------------------------------------------------------------------


def test_site_ar_daily_follows_the_rules(client):
    days = ar(client, "/api/v1/ar/sites/SITE-AR", DAY, DAY + timedelta(days=3), vo="lhcb")
    assert [d["date"] for d in days] == [str(DAY + timedelta(days=k)) for k in range(4)]
    # carry-over into DAY+2, nothing carried into DAY+3 (a day without results: MISSING)
    assert [d["availability"] for d in days] == [100, 50, 0, -1]
    assert [d["reliability"] for d in days] == [100, 50, 0, -1]
    assert [d["up"] for d in days] == [1, 0.5, 0, 0]
    assert [d["unknown"] for d in days] == [0, 0, 0, 1]
    assert set(days[0]) == {"date", "availability", "reliability", "up", "unknown", "down"}


def test_endpoint_ar_and_its_json_document(client):
    document = get(
        client,
        "/api/v1/ar/endpoints/ar.example",
        start=str(DAY),
        end=str(DAY + timedelta(days=2)),
        vo="lhcb",
        service_type=VAC,
    )
    assert document["name"] == "ar.example"
    assert document["granularity"] == "daily"
    assert [d["availability"] for d in document["results"]] == [100, 50, 0]


def test_monthly_ar_averages_the_days(client):
    first, last = DAY.replace(day=1), DAY.replace(day=31)
    daily = ar(client, "/api/v1/ar/sites/SITE-AR", first, last, vo="lhcb")
    (month,) = ar(client, "/api/v1/ar/sites/SITE-AR", first, last, vo="lhcb", granularity="monthly")
    assert month["date"] == "2024-03"
    up = sum(d["up"] for d in daily) / len(daily)
    unknown = sum(d["unknown"] for d in daily) / len(daily)
    assert math.isclose(month["availability"], up / (1.00000001 - unknown) * 100, abs_tol=1e-4)


def test_every_ar_answer_names_the_profile_in_force(client):
    span = {"start": str(DAY), "end": str(DAY), "vo": "lhcb"}
    for path, extra in (
        ("/api/v1/ar/sites/SITE-AR", {}),
        ("/api/v1/ar/endpoints/ar.example", {"service_type": VAC}),
        ("/api/v1/ar/sites", {}),
        ("/api/v1/ar/groups", {}),
    ):
        assert get(client, path, **span, **extra)["profile"] == "vmsam_wn/vmsam_critical/vmsam_ops"


def test_groups_ar_weighs_the_sites_of_the_configured_groups(client):
    document = get(client, "/api/v1/ar/groups", start=str(DAY), end=str(DAY), vo="lhcb")
    (group,) = document["groups"]
    assert (group["name"], group["kind"]) == ("ALL", "federation")
    members = {m["name"]: m for m in group["members"]}
    assert members["SITE-A"]["weight_source"] == "file"
    assert members["SITE-ELSEWHERE"]["monitored"] is False
    sites = get(client, "/api/v1/ar/sites", start=str(DAY), end=str(DAY), vo="lhcb")["sites"]
    # the data set reports no HS06: every other site weighs 0, counted as 1 by ARGO's rule
    weights = {name: (11 if name == "SITE-A" else 1) for name in members}
    defined = {
        site["name"]: site["results"][0]["availability"]
        for site in sites
        if site["name"] in members and site["results"][0]["availability"] >= 0
    }
    expected = sum(a * weights[name] for name, a in defined.items()) / sum(
        weights[name] for name in defined
    )
    assert math.isclose(group["results"][0]["availability"], expected, abs_tol=1e-5)
    assert get(client, "/api/v1/ar/groups", **ONE_DAY, kind="tier")["groups"] == []


def test_downtime_needs_the_token_then_is_stored_apart_from_the_settled_day(client):
    path = "/api/v1/ar/endpoints/dt.example"
    (before,) = ar(client, path, DAY, DAY, vo="lhcb")  # the closed day is settled now
    assert (before["availability"], before["reliability"]) == (50, 50)
    body = {
        "endpoint": "dt.example",
        "service_type": VAC,
        "start": iso(at(DAY, 12)),
        "end": iso(at(DAY, 18)),
        "scheduled": True,
    }
    missing = client.post("/api/v1/downtimes", json=body)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    for wrong in ("Bearer nope", f"Bearer {TOKEN}x", f"Basic {TOKEN}", "Bearer"):
        refused = client.post("/api/v1/downtimes", json=body, headers={"Authorization": wrong})
        assert refused.status_code == 401, wrong
        assert isinstance(refused.json()["detail"], str)
    assert get(client, "/api/v1/downtimes", endpoint="dt.example")["downtimes"] == []

    created = client.post("/api/v1/downtimes", json=body, headers=AUTH)
    assert created.status_code == 201, created.text
    downtime = created.json()
    assert downtime["start"] == body["start"]
    assert downtime["end"] == body["end"]
    assert downtime["scheduled"] is True
    listed = get(client, "/api/v1/downtimes", endpoint="dt.example")["downtimes"]
    assert listed == [downtime]
    assert get(client, "/api/v1/downtimes", site="SITE-DT")["downtimes"] == [downtime]
    outside = {"start": iso(at(DAY, 18)), "end": iso(at(DAY, 24))}
    assert get(client, "/api/v1/downtimes", endpoint="dt.example", **outside)["downtimes"] == []

    # declared after the day settled, it changes none of its figures
    assert ar(client, path, DAY, DAY, vo="lhcb") == [before]


def test_a_downtime_with_an_offset_is_stored_in_utc(client):
    body = {
        "endpoint": "elsewhere.example",
        "service_type": VAC,
        "start": "2024-05-01T10:00:00+02:00",
        "end": "2024-05-01T11:00:00+02:00",
        "scheduled": False,
        "description": "<b>kernel</b> update",
    }
    created = client.post("/api/v1/downtimes", json=body, headers=AUTH, params={"force": "true"})
    assert created.status_code == 201, created.text
    assert created.json()["start"] == "2024-05-01T08:00:00Z"
    assert created.json()["description"] == "<b>kernel</b> update"
    assert created.json()["scheduled"] is False


@pytest.mark.parametrize(
    "change",
    [
        {"end": "2024-05-01T09:00:00Z"},  # before the start
        {"end": "2024-05-01T10:00:00Z"},  # empty
        {"start": "2024-05-01T10:00:00", "end": "2024-05-01T11:00:00"},  # no time zone
        {"start": 1714557600},  # seconds, not ISO 8601
        {"start": "tomorrow"},
        {"scheduled": "yes"},
        {"endpoint": ""},
        {"endpoint": "x" * 600},
        {"endpoint": "nul\x00byte"},
        {"colour": "red"},  # not a field
        {"start": "0001-01-01T00:00:00+01:00"},  # before the year 1 in UTC
    ],
)
def test_invalid_downtimes_are_refused(client, change):
    body = {
        "endpoint": "elsewhere.example",
        "service_type": VAC,
        "start": "2024-05-01T10:00:00Z",
        "end": "2024-05-01T11:00:00Z",
        "scheduled": True,
        **change,
    }
    # forced: what is refused is the field, not the endpoint the store never saw
    refused = client.post("/api/v1/downtimes", json=body, headers=AUTH, params={"force": "true"})
    assert refused.status_code == 422, refused.text
    assert isinstance(refused.json()["detail"], str)


@pytest.mark.parametrize(
    ("content", "content_type", "expected", "words"),
    [
        (b"{not json", "application/json", 400, "not valid JSON"),
        (b"\xff\xfe", "application/json", 400, "not valid JSON"),
        (b"", "application/json", 400, "empty"),
        (b'{"endpoint": "dt.example"}', "text/plain", 400, "Content-Type: application/json"),
        (b"[]", "application/json", 422, "body"),
        (b"null", "application/json", 422, "body"),
        (b'{"endpoint": "dt.example"}', "application/json", 422, "service_type"),
    ],
)
def test_a_body_that_is_no_json_is_400_and_json_that_is_no_downtime_422(
    client, content, content_type, expected, words
):
    refused = client.post(
        "/api/v1/downtimes", content=content, headers={**AUTH, "Content-Type": content_type}
    )
    assert refused.status_code == expected, refused.text
    assert words in refused.json()["detail"]


def test_without_a_configured_token_writes_are_refused(db_url, tmp_path):
    with running_server(db_url, tmp_path, token=None) as server, server.client() as client:
        body = {
            "endpoint": "dt.example",
            "service_type": VAC,
            "start": "2024-05-01T10:00:00Z",
            "end": "2024-05-01T11:00:00Z",
        }
        for headers in ({}, AUTH, {"Authorization": "Bearer"}):
            refused = client.post("/api/v1/downtimes", json=body, headers=headers)
            assert refused.status_code == 403
            assert "no API token" in refused.json()["detail"]
        assert client.get("/api/v1/downtimes").status_code == 200


# --- bad requests: a clear 4xx, never a 5xx -----------------------------------------------

ONE_DAY = {"start": "2024-03-04", "end": "2024-03-04", "vo": "lhcb"}
SITE_AR = "/api/v1/ar/sites/SITE-AR"
RANGE = {"start": "2024-05-02T00:00:00Z", "end": "2024-05-01T00:00:00Z"}
BAD = [
    # (path, query, status, words in the detail)
    ("/api/v1/results", {"since": "not-a-date"}, 422, "since"),
    ("/api/v1/results", {"since": "2024-13-45T00:00:00Z"}, 422, "since"),
    ("/api/v1/results", {"since": "1700000000"}, 422, "ISO 8601"),
    ("/api/v1/results", {"since": "2024-03-04T10:00:00"}, 422, "has no time zone"),
    ("/api/v1/results", {"since": "2024-02-30"}, 422, "not a day of the calendar"),
    ("/api/v1/results", {"vo": "no-such-vo"}, 404, "unknown vo"),
    ("/api/v1/results", [("site", "SITE-A"), ("site", "SITE-B")], 400, "give site= once"),
    ("/api/v1/results", [("limit", "1"), ("limit", "2")], 400, "give limit= once"),
    ("/api/v1/results", {"until": "0001-01-01T00:00:00+01:00"}, 422, "until"),
    ("/api/v1/results", {"since": iso(NOW), "until": iso(NOW - timedelta(hours=1))}, 422, "until"),
    ("/api/v1/results", {"limit": "0"}, 422, "limit"),
    ("/api/v1/results", {"limit": "10001"}, 422, "limit"),
    ("/api/v1/results", {"limit": "ten"}, 422, "limit"),
    ("/api/v1/results", {"offset": "-1"}, 422, "offset"),
    ("/api/v1/results", {"signature": "forged"}, 422, "signature"),
    ("/api/v1/results", {"offset": str(10**30)}, 422, "offset"),
    ("/api/v1/results", {"site": "NO-SUCH-SITE"}, 404, "unknown site"),
    ("/api/v1/results", {"endpoint": "nowhere.example"}, 404, "unknown endpoint"),
    ("/api/v1/results", {"site": "nul\x00byte"}, 404, "unknown site"),
    ("/api/v1/results", {"site": "x" * 5000}, 422, "site"),
    ("/api/v1/results", {"site": ""}, 422, "site"),
    ("/api/v1/deadletters", {"limit": "0"}, 422, "limit"),
    ("/api/v1/deadletters", {"offset": "1e3"}, 422, "offset"),
    ("/api/v1/sites", {"vo": "no-such-vo"}, 404, "vo"),
    ("/api/v1/downtimes", {"start": "yesterday"}, 422, "start"),
    ("/api/v1/downtimes", {"start": "2024-03-04T10:00"}, 422, "has no time zone"),
    ("/api/v1/downtimes", {"site": "NO-SUCH-SITE"}, 404, "unknown site"),
    ("/api/v1/downtimes", {"endpoint": "nowhere.example"}, 404, "unknown endpoint"),
    ("/api/v1/downtimes", {"vo": "no-such-vo"}, 404, "unknown vo"),
    ("/api/v1/downtimes", [("vo", "lhcb"), ("vo", "atlas")], 400, "give vo= once"),
    ("/api/v1/downtimes/0", {}, 422, "downtime_id"),
    ("/api/v1/downtimes/123456789", {}, 404, "no downtime has id 123456789"),
    ("/api/v1/downtimes/2147483648", {}, 422, "downtime_id"),  # beyond the column's INTEGER
    ("/api/v1/sites", [("vo", "lhcb"), ("vo", "lhcb")], 400, "give vo= once"),
    ("/api/v1/downtimes", RANGE, 422, "end"),
    (SITE_AR, {**ONE_DAY, "start": "2024-02-30"}, 422, "start"),
    (SITE_AR, {**ONE_DAY, "start": "2024-3-4"}, 422, "start"),
    (SITE_AR, {**ONE_DAY, "start": "1709510400"}, 422, "start"),
    (SITE_AR, {**ONE_DAY, "start": "2024-03-05"}, 422, "before"),
    (SITE_AR, {**ONE_DAY, "start": "2023-01-01", "end": "2024-06-01"}, 422, "366"),
    (SITE_AR, {**ONE_DAY, "start": "0001-01-01", "end": "0001-01-02"}, 422, ""),
    (SITE_AR, {**ONE_DAY, "start": "9999-12-31", "end": "9999-12-31"}, None, ""),
    (SITE_AR, {"end": "2024-03-04", "vo": "lhcb"}, 422, "start"),
    (SITE_AR, {**ONE_DAY, "granularity": "weekly"}, 422, "granularity"),
    (SITE_AR, {"start": "2024-03-04", "end": "2024-03-04"}, 422, "vo"),
    (SITE_AR, {**ONE_DAY, "vo": "cms"}, 404, "vo"),
    (SITE_AR, [*ONE_DAY.items(), ("start", "2024-03-03")], 400, "give start= once"),
    ("/api/v1/ar/sites/NO-SUCH-SITE", ONE_DAY, 404, "unknown site"),
    ("/api/v1/ar/sites/%00", ONE_DAY, 404, "unknown site"),
    ("/api/v1/ar/sites/%ff%fe", ONE_DAY, 404, "unknown site"),
    ("/api/v1/ar/sites/" + "x" * 3000, ONE_DAY, 422, "site"),
    ("/api/v1/ar/endpoints/nowhere.example", ONE_DAY, 404, "unknown endpoint"),
    ("/api/v1/ar/groups", {**ONE_DAY, "kind": "region"}, 422, "kind"),
    ("/api/v1/ar/groups", {**ONE_DAY, "vo": "cms"}, 404, "vo"),
    ("/api/v1/ar/groups", {**ONE_DAY, "end": "2024-03-01"}, 422, "before"),
    ("/api/v1/ar/groups", {**ONE_DAY, "granularity": "hourly"}, 422, "granularity"),
    ("/api/v1/ar/endpoints/ar.example", {**ONE_DAY, "service_type": "ARC-CE"}, 404, "service type"),
]


@pytest.mark.parametrize(("path", "query", "expected", "words"), BAD)
def test_bad_requests_get_a_clear_4xx(client, path, query, expected, words):
    response = client.get(path, params=query)
    if expected is None:  # anything but a server error
        assert response.status_code < 500, response.text
        return
    assert response.status_code == expected, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    assert "\n" not in detail
    assert words.lower() in detail.lower()


@pytest.mark.parametrize(
    "raw",
    [
        "/api/v1/results?site=%ff%fe%fd",  # not UTF-8 once decoded
        "/api/v1/results?endpoint=%C0%AF",  # an overlong encoding
        "/api/v1/results?since=%00",
        "/api/v1/results?limit=%ff",
        "/api/v1/ar/endpoints/%ff?start=2024-03-04&end=2024-03-04&vo=lhcb",
        "/api/v1/results?site=" + "%41" * 20000,  # a very long query
        "/api/v1/results?" + "&".join(f"k{i}=v" for i in range(3000)),
        "/api/v1/%2e%2e/%2e%2e/etc/passwd",
        "/static/../../../../etc/passwd",
    ],
)
def test_absurd_requests_never_fail_the_server(client, raw):
    response = client.get(httpx.URL(client.base_url.join("/")).copy_with(raw_path=raw.encode()))
    assert 200 <= response.status_code < 500, response.text
    if response.status_code != 200:
        assert response.headers["content-type"] in ("application/json", "text/plain; charset=utf-8")
    assert "root:" not in response.text


# --- operations --------------------------------------------------------------------------


def test_healthz_says_only_whether_the_database_answers(client):
    assert get(client, "/healthz") == {"status": "ok"}


def test_the_health_details_are_for_token_holders(client, db_url):
    refused = client.get("/api/v1/health/details")
    assert refused.status_code == 401
    assert "database" not in refused.text
    details = client.get("/api/v1/health/details", headers=AUTH)
    assert details.status_code == 200, details.text
    assert details.json()["status"] == "ok"
    assert details.json()["database"].startswith("Store(")
    assert details.headers["cache-control"] == "no-store"
    assert "etag" not in details.headers
    # never kept by the answer cache: the next caller without a token is refused again
    assert client.get("/api/v1/health/details").status_code == 401


def test_metrics_count_requests_by_route_template(client):
    client.get("/api/v1/results", params={"limit": 1})
    client.get(
        "/api/v1/ar/sites/A-MADE-UP-SITE", params={"start": "2024-03-04", "end": "2024-03-04"}
    )
    client.get("/no/such/page")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'vmsam_api_requests_total{method="GET",route="/api/v1/results",status="200"}' in text
    assert 'route="/api/v1/ar/sites/{site}",status="404"' in text
    assert 'route="unmatched",status="404"' in text
    assert "A-MADE-UP-SITE" not in text
    assert "/no/such/page" not in text
    assert "vmsam_api_request_seconds_bucket" in text


def test_openapi_schema_describes_the_contract(client):
    schema = get(client, "/openapi.json")
    assert set(schema["paths"]) == {
        "/api/v1/sites",
        "/api/v1/results",
        "/api/v1/deadletters",
        "/api/v1/ar/sites",
        "/api/v1/ar/sites/{site}",
        "/api/v1/ar/endpoints/{endpoint}",
        "/api/v1/ar/groups",
        "/api/v1/downtimes",
        "/api/v1/downtimes/{downtime_id}",
        "/api/v1/recomputations",
        "/api/v1/recomputations/candidates",
        "/api/v1/recomputations/{recomputation_id}",
        "/api/v1/recomputations/{recomputation_id}/status",
        "/api/v1/alerts/ack",
        "/api/v1/audit",
        "/api/v1/health/details",
        "/api/v1/status/sites/{site}",
        "/api/v1/status/endpoints/{endpoint}",
        "/api/v1/trends",
        "/api/v1/activity",
        "/healthz",
        "/metrics",
    }
    result = schema["components"]["schemas"]["ResultModel"]
    assert set(result["properties"]) == RESULT_FIELDS
    post = schema["paths"]["/api/v1/downtimes"]["post"]
    assert post["security"] == [{"HTTPBearer": []}]
    assert schema["paths"]["/api/v1/alerts/ack"]["post"]["security"] == [{"HTTPBearer": []}]
    recomputations = schema["paths"]["/api/v1/recomputations"]["post"]
    assert recomputations["security"] == [{"HTTPBearer": []}]


def test_the_page_and_its_files_come_from_the_server(client):
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "default-src 'none'" in policy
    assert '<script src="/static/app.js"' in page.text
    assert "http" not in page.text.replace("http-equiv", "")  # nothing from elsewhere
    script = client.get("/static/app.js")
    assert script.status_code == 200
    assert "innerHTML" not in script.text
    assert client.get("/static/app.css").status_code == 200
    assert client.get("/docs").status_code == 404  # its scripts would come from a CDN


# --- the process ---------------------------------------------------------------------------


def test_serve_refuses_a_port_in_use(tmp_path):
    url = f"sqlite:///{tmp_path}/vmsam.db"
    with running_server(url, tmp_path / "first") as first:
        port = int(first.url.rsplit(":", 1)[1])
        config = tmp_path / "empty.toml"
        config.write_text("")
        done = subprocess.run(
            serve_command(url, port, config),
            capture_output=True,
            text=True,
            timeout=60,
            env=clean_environment(),
            check=False,
        )
    assert done.returncode == 78
    assert "address already in use" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("mysql://nobody@localhost/x", "unsupported database"),
        ("not a url", "not a database URL"),
        ("postgresql://u:secret@localhost:port/x", "not a database URL"),
        ("postgresql+nosuch://u@localhost/x", "no driver"),
    ],
)
def test_serve_refuses_a_bad_database_url(tmp_path, url, words):
    config = tmp_path / "empty.toml"
    config.write_text("")
    done = subprocess.run(
        serve_command(url, free_port(), config),
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_environment(),
        check=False,
    )
    assert done.returncode == 78  # EX_CONFIG: trying again will not help
    assert words in done.stderr
    assert "secret" not in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_serve_takes_the_database_from_the_environment(tmp_path):
    url = f"sqlite:///{tmp_path}/vmsam.db"
    populate(url)
    config = tmp_path / "empty.toml"
    config.write_text("")
    port = free_port()
    command = serve_command(url, port, config)
    del command[command.index("--db") : command.index("--db") + 2]
    process = subprocess.Popen(
        command,
        env={**clean_environment(), "VMSAM_DB": url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(600):
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/api/v1/results?limit=1", timeout=5)
                break
            except httpx.TransportError:
                assert process.poll() is None
                time.sleep(0.1)
        assert response.json()["total"] == 65
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_a_database_that_goes_away_answers_503(empty_pg, tmp_path):
    url = empty_pg
    populate(url)
    with running_server(url, tmp_path) as server, server.client() as client:
        assert client.get("/api/v1/sites").status_code == 200
        drop_database(url)
        health = client.get("/healthz")
        assert health.status_code == 503
        assert health.json()["status"] == "unavailable"
        for path in ("/api/v1/sites", "/api/v1/results", "/api/v1/downtimes"):
            response = client.get(path)
            assert response.status_code == 503, path
            detail = response.json()["detail"]
            assert "cannot" in detail
            assert "\n" not in detail
        assert "Traceback" not in server.output()


# --- freshness, cached -------------------------------------------------------------------


def test_freshness_is_computed_once_per_ttl(tmp_path):
    store = Store(f"sqlite:///{tmp_path}/vmsam.db")
    try:
        store.save([Received.parse(encode(result("one.example", "S1", "cvmfs", NOW)))])
        now = [0.0]
        cache = FreshnessCache(store, None, ttl=300, clock=lambda: now[0])
        assert [key[1] for key in cache.get(None)] == ["one.example"]
        store.save([Received.parse(encode(result("two.example", "S2", "cvmfs", NOW)))])
        now[0] = 299.0
        assert [key[1] for key in cache.get(None)] == ["one.example"]
        now[0] = 300.0
        assert sorted(key[1] for key in cache.get(None)) == ["one.example", "two.example"]
        with pytest.raises(ReportError):
            cache.get("no-such-vo")
    finally:
        store.close()
