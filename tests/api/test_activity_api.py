"""``GET /api/v1/activity`` through a real ``vmsam serve``, on SQLite and PostgreSQL: the
no-VMs and VMs-ran periods per space of a site, and the API's rules for bad requests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.support.api import NOW, Server, populate, running_server
from tests.support.postgres import fresh_database
from vmsam.server.store import IdleSeen, Store, VmSeen

SPACE = "vac01.a.example"
TODAY = NOW.date()
WEEK = {"site": "SITE-A", "vo": "lhcb", "start": (TODAY - timedelta(days=6)).isoformat()}
IDLE_START = NOW - timedelta(days=3)
IDLE_END = NOW - timedelta(days=2)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    def serve(url: str) -> Iterator[Server]:
        populate(url)
        with Store(url) as store:
            store.record_activity(
                [
                    VmSeen(
                        SPACE,
                        "vm-a",
                        "SITE-A",
                        "f1",
                        "pilot",
                        NOW - timedelta(days=5),
                        NOW - timedelta(days=4),
                        "shutdown",
                        None,
                    )
                ],
                [IdleSeen(SPACE, "SITE-A", "f1", "", IDLE_START, IDLE_END)],
                [],
            )
        with running_server(url, tmp_path_factory.mktemp("serve")) as running:
            yield running

    if request.param == "sqlite":
        yield from serve(f"sqlite:///{Path(tmp_path_factory.mktemp('db'))}/vmsam.db")
        return
    with fresh_database("vmsam_api") as url:
        yield from serve(url)


def stamp(moment: object) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%SZ}"


def test_the_periods_of_each_space(served: Server) -> None:
    with served.client() as client:
        response = client.get("/api/v1/activity", params=WEEK)
    assert response.status_code == 200, response.text
    document = response.json()
    assert (document["site"], document["vo"], document["end"]) == (
        "SITE-A",
        "lhcb",
        WEEK["start"],
    )  # start alone is that one day
    with served.client() as client:
        document = client.get("/api/v1/activity", params={**WEEK, "end": TODAY.isoformat()}).json()
    spaces = {space["space"]: space for space in document["spaces"]}
    assert set(spaces) == {"vac01.a.example", "vac02.a.example"}
    assert spaces[SPACE]["no_vms"] == [
        {
            "start": stamp(IDLE_START),
            "end": stamp(IDLE_END),
            "evidence": spaces[SPACE]["no_vms"][0]["evidence"],
        }
    ]
    assert "f1" in spaces[SPACE]["no_vms"][0]["evidence"]
    assert spaces[SPACE]["vms_ran"] == [
        {
            "start": stamp(NOW - timedelta(days=5)),
            "end": stamp(NOW - timedelta(days=4)),
            "vms": 1,
        }
    ]
    # nobody reported on vac02: neither list, unknown
    assert (spaces["vac02.a.example"]["no_vms"], spaces["vac02.a.example"]["vms_ran"]) == ([], [])


BAD = [
    ({**WEEK, "site": "NO-SUCH-SITE"}, 404, "unknown site"),
    ({"vo": "lhcb"}, 422, "site"),
    ({**WEEK, "vo": "cms"}, 404, "unknown vo"),
    ({**WEEK, "end": (TODAY + timedelta(days=60)).isoformat()}, 422, "at most 31"),
    ({**WEEK, "start": "yesterday"}, 422, "start"),
    ([*WEEK.items(), ("site", "SITE-B")], 400, "give site= once"),
    ({**WEEK, "site": "x" * 3000}, 422, "site"),
]


@pytest.mark.parametrize(("query", "expected", "words"), BAD)
def test_bad_requests_get_a_clear_4xx(served: Server, query, expected, words) -> None:
    with served.client() as client:
        response = client.get("/api/v1/activity", params=query)
    assert response.status_code == expected, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail
    assert words.lower() in detail.lower()


def test_the_status_timelines_carry_the_activity_of_missing_pieces(served: Server) -> None:
    with served.client() as client:
        response = client.get(
            f"/api/v1/status/endpoints/{SPACE}",
            params={"vo": "lhcb", "start": WEEK["start"], "end": TODAY.isoformat()},
        )
    assert response.status_code == 200, response.text
    (space,) = response.json()["endpoints"]
    by_day = {piece["start"][:10]: piece for piece in space["pieces"]}
    assert by_day[IDLE_START.date().isoformat()]["status"] == "MISSING"
    assert by_day[IDLE_START.date().isoformat()]["activity"] == "no-vms"
    assert by_day[IDLE_END.date().isoformat()]["activity"] == "no-vms"
    assert by_day[(NOW - timedelta(days=5)).date().isoformat()]["activity"] == "vms-ran"
    assert by_day[(NOW - timedelta(days=6)).date().isoformat()]["activity"] == "unknown"
    assert {p["activity"] for p in space["pieces"] if p["status"] != "MISSING"} == {None}
    assert "no-vms" in {p["activity"] for p in space["pieces"]}
