"""Recomputations through a real ``vmsam serve`` on SQLite and PostgreSQL: requested,
applied, rejected and revoked with the A/R following, duplicates and forbidden changes
409, hostile input 4xx, every change audited, and the candidates."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from tests.api.test_writes import AUTH, SITE_AR_DAY2, site_ar
from tests.support.api import DAY, Server, at, iso

RECOMPUTATIONS = "/api/v1/recomputations"
SECOND_DAY = DAY + timedelta(days=1)


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[httpx.Client]:
    with server.client() as opened:
        yield opened


def ask(client: httpx.Client, **changes: object) -> httpx.Response:
    body = {
        "vo": "lhcb",
        "reason": "the broker dropped every message",
        "requester": "Ada",
        "requester_email": "ada@example.org",
        # SITE-AR is CRITICAL from 12:00 of its second day: A = 50 that day
        "start": iso(at(DAY, 36)),
        "end": iso(at(DAY, 48)),
        "sites": ["SITE-AR"],
        **changes,
    }
    return client.post(RECOMPUTATIONS, json=body, headers=AUTH)


def decide(client: httpx.Client, number: int, status: str) -> httpx.Response:
    return client.post(f"{RECOMPUTATIONS}/{number}/status", json={"status": status}, headers=AUTH)


def site_document(client: httpx.Client) -> dict[str, object]:
    answer = client.get("/api/v1/ar/sites/SITE-AR", params=SITE_AR_DAY2)
    assert answer.status_code == 200, answer.text
    document: dict[str, object] = answer.json()
    return document


def test_requested_applied_and_revoked_with_the_figures_following(client: httpx.Client) -> None:
    assert site_ar(client) == (50.0, 50.0)
    assert site_document(client)["recomputations"] == []
    asked = ask(client)
    assert asked.status_code == 201, asked.text
    record = asked.json()
    assert (record["state"], record["source"], record["decided_at"]) == ("pending", "person", None)
    assert record["start"].startswith(str(SECOND_DAY))
    assert site_ar(client) == (50.0, 50.0)  # pending changes nothing

    again = ask(client, reason="once more")
    assert again.status_code == 409
    assert again.json()["id"] == record["id"]

    applied = decide(client, record["id"], "applied")
    assert applied.status_code == 200, applied.text
    assert applied.json()["state"] == "applied"
    assert applied.json()["decided_by"]
    # the kept daily figures of every site follow, and every A/R answer names it
    assert site_ar(client) == (100.0, 100.0)
    assert site_document(client)["recomputations"] == [record["id"]]
    every = client.get("/api/v1/ar/sites", params=SITE_AR_DAY2).json()
    assert every["recomputations"] == [record["id"]]
    groups = client.get("/api/v1/ar/groups", params=SITE_AR_DAY2).json()
    assert groups["recomputations"] == [record["id"]]
    status = client.get(
        "/api/v1/status/sites/SITE-AR", params={"day": str(SECOND_DAY), "vo": "lhcb"}
    )
    assert [r["id"] for r in status.json()["recomputations"]] == [record["id"]]
    marked = [
        piece["recomputation"]
        for endpoint in status.json()["endpoints"]
        for metric in endpoint["metrics"]
        for piece in metric["pieces"]
    ]
    assert record["id"] in marked

    conflict = decide(client, record["id"], "rejected")
    assert conflict.status_code == 409
    assert conflict.json()["detail"] == (
        f"recomputation {record['id']} is applied: it can only become revoked"
    )

    revoked = client.delete(f"{RECOMPUTATIONS}/{record['id']}", headers=AUTH)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["state"] == "revoked"
    assert site_ar(client) == (50.0, 50.0)
    assert client.delete(f"{RECOMPUTATIONS}/{record['id']}", headers=AUTH).status_code == 409
    # it stays listed, and the audit log has each change
    listed = client.get(RECOMPUTATIONS, params={"state": "revoked"}).json()["recomputations"]
    assert [r["id"] for r in listed] == [record["id"]]
    assert client.get(f"{RECOMPUTATIONS}/{record['id']}").json()["state"] == "revoked"
    entries = client.get("/api/v1/audit", headers=AUTH).json()["entries"]
    mine = [e for e in entries if e["kind"] == "recomputation" and e["object_id"] == record["id"]]
    assert [e["after"]["state"] for e in mine] == ["revoked", "applied", "pending"]


def test_rejected_then_listed_by_filters(client: httpx.Client) -> None:
    asked = ask(client, start=iso(at(DAY, 1)), end=iso(at(DAY, 2)), sites=[])
    assert asked.status_code == 201, asked.text
    number = asked.json()["id"]
    assert decide(client, number, "rejected").json()["state"] == "rejected"
    assert decide(client, number, "applied").status_code == 409
    by_day = client.get(RECOMPUTATIONS, params={"date": str(DAY)}).json()["recomputations"]
    assert number in [r["id"] for r in by_day]
    later = client.get(RECOMPUTATIONS, params={"date": str(DAY + timedelta(days=5))}).json()
    assert number not in [r["id"] for r in later["recomputations"]]
    assert (
        client.get(RECOMPUTATIONS, params={"vo": "lhcb", "state": "rejected"}).json()[
            "recomputations"
        ][0]["id"]
        == number
    )


@pytest.mark.parametrize(
    ("changes", "code", "text"),
    [
        ({"start": "2024-03-05T12:00"}, 422, "no time zone"),
        ({"start": "yesterday"}, 422, "not an ISO 8601 time"),
        ({"end": iso(at(DAY, 30))}, 422, "end must come after the start"),
        ({"vo": "cms"}, 422, "unknown vo 'cms'"),
        ({"sites": ["NO-SUCH-SITE"]}, 422, "unknown site 'NO-SUCH-SITE'"),
        ({"sites": [f"S{i}" for i in range(501)]}, 422, "sites"),
        ({"metrics": ["m"] * 501}, 422, "metrics"),
        ({"reason": ""}, 422, "reason"),
        ({"requester_email": "x" * 300}, 422, "requester_email"),
        ({"requester_email": "nobody"}, 422, "not an e-mail address"),
        ({"source": "DROP TABLE"}, 422, "source"),
        ({"state": "applied"}, 422, "state"),
        ({"sites": "SITE-AR"}, 422, "sites"),
    ],
)
def test_hostile_requests(
    client: httpx.Client, changes: dict[str, object], code: int, text: str
) -> None:
    answer = ask(client, **changes)
    assert answer.status_code == code, answer.text
    assert text in answer.json()["detail"]


@pytest.mark.parametrize(
    ("method", "path", "body", "code", "text"),
    [
        ("GET", f"{RECOMPUTATIONS}/999999", None, 404, "no recomputation has id 999999"),
        ("GET", f"{RECOMPUTATIONS}/0", None, 422, "recomputation_id"),
        ("GET", f"{RECOMPUTATIONS}/99999999999", None, 422, "recomputation_id"),
        ("POST", f"{RECOMPUTATIONS}/999999/status", {"status": "applied"}, 404, "no recomput"),
        ("POST", f"{RECOMPUTATIONS}/1/status", {"status": "done"}, 422, "status"),
        ("POST", f"{RECOMPUTATIONS}/1/status", {"status": "revoked"}, 422, "status"),
        ("DELETE", f"{RECOMPUTATIONS}/999999", None, 404, "no recomputation has id"),
        ("GET", f"{RECOMPUTATIONS}?state=done", None, 422, "state"),
        ("GET", f"{RECOMPUTATIONS}?vo=cms", None, 404, "unknown vo 'cms'"),
        ("GET", f"{RECOMPUTATIONS}?date=2024-13-01", None, 422, "date"),
        ("GET", f"{RECOMPUTATIONS}?vo=a&vo=b", None, 400, "give vo= once"),
        ("GET", f"{RECOMPUTATIONS}/candidates?start=2024-03-05", None, 422, "end"),
        (
            "GET",
            f"{RECOMPUTATIONS}/candidates?start=2024-03-05&end=2024-03-01",
            None,
            422,
            "end must come after",
        ),
        (
            "GET",
            f"{RECOMPUTATIONS}/candidates?start=2024-03-05&end=2024-03-06&vo=cms",
            None,
            404,
            "unknown vo",
        ),
    ],
)
def test_unknown_ids_and_bad_parameters(  # noqa: PLR0917 - the parametrised columns
    client: httpx.Client, method: str, path: str, body: object, code: int, text: str
) -> None:
    answer = client.request(method, path, json=body, headers=AUTH)
    assert answer.status_code == code, answer.text
    assert text in answer.json()["detail"]


def test_writes_need_the_token(client: httpx.Client) -> None:
    body = {
        "vo": "lhcb",
        "reason": "r",
        "requester": "r",
        "start": "2024-03-05",
        "end": "2024-03-06",
    }
    assert client.post(RECOMPUTATIONS, json=body).status_code == 401
    assert client.post(f"{RECOMPUTATIONS}/1/status", json={"status": "applied"}).status_code == 401
    assert client.delete(f"{RECOMPUTATIONS}/1").status_code == 401
    assert client.post(RECOMPUTATIONS, content=b"{", headers=AUTH).status_code == 400


def test_candidates_and_accepting_one(client: httpx.Client) -> None:
    # the data set's results arrive on DAY and DAY+1 only: the day after is silent
    params = {"start": iso(at(DAY, 48)), "end": iso(at(DAY, 60))}
    answer = client.get(f"{RECOMPUTATIONS}/candidates", params=params)
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert found["outage_seconds"] == 3600.0
    silent = [c for c in found["candidates"] if c["source"] == "broker-outage"]
    assert silent, found
    first = silent[0]
    accepted = ask(
        client,
        start=first["start"],
        end=first["end"],
        sites=first["sites"],
        metrics=first["metrics"],
        reason=first["reason"],
        source=first["source"],
    )
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["source"] == "broker-outage"
    again = client.get(f"{RECOMPUTATIONS}/candidates", params=params).json()["candidates"]
    assert (first["start"], first["end"]) not in [(c["start"], c["end"]) for c in again]
