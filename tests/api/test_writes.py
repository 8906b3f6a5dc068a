"""Writes through a real ``vmsam serve`` on SQLite and PostgreSQL: downtimes declared,
read, corrected and removed with the A/R following each change, typos and duplicates
refused, every change in the audit log; tokens rotated through the token file without a
restart; CORS off unless configured."""

from __future__ import annotations

import itertools
import os
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from tests.support.api import (
    DAY,
    TOKEN,
    VAC,
    Server,
    at,
    clean_environment,
    iso,
    running_server,
    serve_command,
)
from tests.support.net import free_port

AUTH = {"Authorization": f"Bearer {TOKEN}"}
SITE_AR_DAY2 = {"start": str(DAY.replace(day=5)), "end": str(DAY.replace(day=5)), "vo": "lhcb"}


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[httpx.Client]:
    with server.client() as opened:
        yield opened


def site_ar(client: httpx.Client) -> tuple[float, float]:
    """SITE-AR's figures of its second day (OK until noon, then CRITICAL), as the report of
    every site gives them: the kept daily figures must follow every downtime change."""
    answer = client.get("/api/v1/ar/sites", params=SITE_AR_DAY2)
    assert answer.status_code == 200, answer.text
    (site,) = [s for s in answer.json()["sites"] if s["name"] == "SITE-AR"]
    (day,) = site["results"]
    return day["availability"], day["reliability"]


def declare(client: httpx.Client, **changes: object) -> httpx.Response:
    body = {
        "endpoint": "ar.example",
        "service_type": VAC,
        "start": iso(at(DAY, 36)),
        "end": iso(at(DAY, 42)),
        **changes,
    }
    return client.post("/api/v1/downtimes", json=body, headers=AUTH)


def recompute(client: httpx.Client, hours: float = 24) -> None:
    """Apply a recomputation of SITE-AR's second day from ``hours`` after DAY began,
    excluding SITE-A's time alone."""
    asked = client.post(
        "/api/v1/recomputations",
        json={
            "vo": "lhcb",
            "reason": "the downtime was corrected",
            "requester": "Ada",
            "start": iso(at(DAY, hours)),
            "end": iso(at(DAY, 48)),
            "sites": ["SITE-A"],
        },
        headers=AUTH,
    )
    assert asked.status_code == 201, asked.text
    number = asked.json()["id"]
    applied = client.post(
        f"/api/v1/recomputations/{number}/status", json={"status": "applied"}, headers=AUTH
    )
    assert applied.status_code == 200, applied.text


def test_a_wrong_downtime_is_corrected_then_removed_and_a_recomputation_follows(client):
    # a typo: 12 hours instead of 6 take the whole CRITICAL afternoon out; declared before
    # the closed day was first reported, it is in force when the report settles the day
    created = declare(client, end=iso(at(DAY, 48)))
    assert created.status_code == 201, created.text
    downtime = created.json()
    assert site_ar(client) == (50, 100)

    path = f"/api/v1/downtimes/{downtime['id']}"
    assert client.get(path).json() == downtime
    corrected = client.patch(path, json={"end": iso(at(DAY, 42))}, headers=AUTH)
    assert corrected.status_code == 200, corrected.text
    assert corrected.json() == {**downtime, "end": iso(at(DAY, 42))}
    assert client.get(path).json() == corrected.json()
    assert site_ar(client) == (50, 100)  # settled: the rules in force then
    # a recomputation of the day, applied, computes it again with the rules in force now,
    # for every site of the VO (as ARGO runs the report again); SITE-A's has no excluded
    # result of SITE-AR's
    recompute(client)
    assert site_ar(client) == (50, 66.66667)

    removed = client.delete(path, headers=AUTH)
    assert removed.status_code == 200, removed.text
    assert removed.json() == corrected.json()
    assert client.get(path).status_code == 404
    assert client.delete(path, headers=AUTH).status_code == 404
    assert site_ar(client) == (50, 66.66667)
    recompute(client, 25)
    assert site_ar(client) == (50, 50)  # back to its figure without the downtime

    log = client.get("/api/v1/audit", headers=AUTH).json()["entries"]
    mine = [e for e in log if (e["kind"], e["object_id"]) == ("downtime", downtime["id"])]
    assert [e["action"] for e in mine] == ["delete", "update", "create"]
    deleted, updated, created_entry = mine
    assert created_entry["before"] is None
    assert created_entry["after"]["end"] == iso(at(DAY, 48))
    assert (updated["before"]["end"], updated["after"]["end"]) == (
        iso(at(DAY, 48)),
        iso(at(DAY, 42)),
    )
    assert deleted["before"] == updated["after"]
    assert deleted["after"] is None
    for entry in mine:
        assert entry["actor"].startswith("token-")  # a fingerprint, never the token
        assert TOKEN not in str(entry)
        assert entry["client"] == "127.0.0.1"
        assert entry["kind"] == "downtime"


def test_an_endpoint_without_results_is_refused_unless_forced(client):
    typo = declare(client, endpoint="ar.exmaple")
    assert typo.status_code == 422
    assert "ar.exmaple" in typo.json()["detail"]
    assert "force=true" in typo.json()["detail"]
    other_type = declare(client, service_type="ARC-CE")
    assert other_type.status_code == 422
    assert f"(it has '{VAC}')" in other_type.json()["detail"]
    assert client.get("/api/v1/downtimes", params={"endpoint": "ar.exmaple"}).status_code == 404

    forced = client.post(
        "/api/v1/downtimes",
        params={"force": "true"},
        headers=AUTH,
        json={
            "endpoint": "new.example",
            "service_type": VAC,
            "start": "2024-06-01",
            "end": "2024-06-02",
        },
    )
    assert forced.status_code == 201, forced.text
    assert (forced.json()["start"], forced.json()["end"]) == (
        "2024-06-01T00:00:00Z",
        "2024-06-02T00:00:00Z",
    )
    # its endpoint is known now (by its downtime): listed, not a 404
    listed = client.get("/api/v1/downtimes", params={"endpoint": "new.example"}).json()
    assert listed["downtimes"] == [forced.json()]
    path = f"/api/v1/downtimes/{forced.json()['id']}"
    # a correction that keeps the endpoint needs no force again; one that moves it does
    assert client.patch(path, json={"description": "cabling"}, headers=AUTH).status_code == 200
    moved = client.patch(path, json={"endpoint": "elsewhere.example"}, headers=AUTH)
    assert moved.status_code == 422
    assert client.delete(path, headers=AUTH).status_code == 200


def test_an_exact_duplicate_is_409_with_the_stored_id(client):
    first = declare(client, start=iso(at(DAY, 40)), description="first")
    assert first.status_code == 201, first.text
    again = declare(client, start=iso(at(DAY, 40)), description="the same, said again")
    assert again.status_code == 409
    assert again.json()["id"] == first.json()["id"]
    assert str(first.json()["id"]) in again.json()["detail"]
    other = declare(client, start=iso(at(DAY, 40)), scheduled=False)  # not the same
    assert other.status_code == 201, other.text
    # correcting one into the other is refused the same way
    path = f"/api/v1/downtimes/{other.json()['id']}"
    clash = client.patch(path, json={"scheduled": True}, headers=AUTH)
    assert clash.status_code == 409
    assert clash.json()["id"] == first.json()["id"]
    for made in (first, other):
        assert client.delete(f"/api/v1/downtimes/{made.json()['id']}", headers=AUTH).is_success


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", "/api/v1/downtimes/1", {"description": "x"}),
        ("DELETE", "/api/v1/downtimes/1", None),
        ("GET", "/api/v1/audit", None),
        ("GET", "/api/v1/health/details", None),
    ],
)
def test_every_write_and_authenticated_read_needs_the_token(client, method, path, body):
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {TOKEN}"}):
        refused = client.request(method, path, json=body, headers=headers)
        assert refused.status_code == 401, (headers, refused.text)
        assert refused.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"end": "2024-03-04T00:00:00Z"}, "end must come after start"),
        ({"start": "2024-03-05T10:00:00"}, "has no time zone"),
        ({"colour": "red"}, "colour"),
        ({"scheduled": "yes"}, "scheduled"),
    ],
)
def test_a_bad_correction_is_422_and_changes_nothing(client, body, words):
    created = declare(client, start=iso(at(DAY, 38)))
    assert created.status_code == 201, created.text
    path = f"/api/v1/downtimes/{created.json()['id']}"
    refused = client.patch(path, json=body, headers=AUTH)
    assert refused.status_code == 422, refused.text
    assert words in refused.json()["detail"]
    assert client.get(path).json() == created.json()
    assert client.delete(path, headers=AUTH).status_code == 200


# --- the token file ------------------------------------------------------------------------

NEW_TOKEN = "rotated-token-0123456789"


def write_tokens(path: Path, text: str) -> None:
    """Replace the file as an admin's editor would, with a new modification time."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text)
    os.utime(path, ns=(before + 10**9, before + 10**9))


_hours = itertools.count(1)


def post_downtime(client: httpx.Client, token: str) -> httpx.Response:
    """A new downtime each time (one hour longer than the last), with ``token``."""
    return client.post(
        "/api/v1/downtimes",
        params={"force": "true"},
        headers={"Authorization": f"Bearer {token}"},
        json={
            "endpoint": "rotation.example",
            "service_type": VAC,
            "start": "2024-07-01T00:00:00Z",
            "end": iso(at(DAY, next(_hours)) + timedelta(days=150)),
        },
    )


def test_tokens_are_rotated_through_the_file_without_a_restart(db_url, tmp_path):
    tokens = tmp_path / "tokens"
    write_tokens(tokens, "# the operators\nalice:alice-token-0123456789\n\n")
    config = f'[api]\ntoken_file = "{tokens}"\n'
    with (
        running_server(db_url, tmp_path / "serve", config_text=config) as server,
        server.client() as client,
    ):
        assert post_downtime(client, "alice-token-0123456789").status_code == 201
        assert post_downtime(client, NEW_TOKEN).status_code == 401

        write_tokens(tokens, f"alice:alice-token-0123456789\nbob:{NEW_TOKEN}\n")
        added = post_downtime(client, NEW_TOKEN)
        assert added.status_code == 201, added.text
        write_tokens(tokens, f"bob:{NEW_TOKEN}\n")  # alice's token withdrawn
        assert post_downtime(client, "alice-token-0123456789").status_code == 401

        bob = {"Authorization": f"Bearer {NEW_TOKEN}"}
        actors = {e["actor"] for e in client.get("/api/v1/audit", headers=bob).json()["entries"]}
        assert {"alice", "bob"} <= actors

        # a garbled file refuses every write, with a clear answer and a line in the log
        write_tokens(tokens, f"bob:{NEW_TOKEN}\nthis line is no token\n")
        broken = post_downtime(client, NEW_TOKEN)
        assert broken.status_code == 503
        assert "token file" in broken.json()["detail"]
        assert str(tokens) not in broken.json()["detail"]  # the path is for the log
        tokens.unlink()
        assert post_downtime(client, NEW_TOKEN).status_code == 503
        write_tokens(tokens, f"bob:{NEW_TOKEN}\n")
        assert post_downtime(client, NEW_TOKEN).status_code == 201
        output = server.output()
    assert "line 2: a token is printable ASCII without spaces" in output
    assert "No such file or directory" in output
    assert "Traceback" not in output
    assert NEW_TOKEN not in output


# --- CORS ----------------------------------------------------------------------------------


def test_cors_is_off_by_default(client):
    answer = client.get("/api/v1/sites", headers={"Origin": "https://elsewhere.example"})
    assert "access-control-allow-origin" not in answer.headers
    preflight = client.options(
        "/api/v1/downtimes",
        headers={
            "Origin": "https://elsewhere.example",
            "Access-Control-Request-Method": "POST",
        },
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_allows_only_the_configured_origins(db_url, tmp_path):
    allowed = "https://dashboard.example.org"
    text = f'[api]\ntoken = "{TOKEN}"\ncors_origins = ["{allowed}"]\n'
    with running_server(db_url, tmp_path, config_text=text) as server, server.client() as client:
        answer = client.get("/api/v1/sites", headers={"Origin": allowed})
        assert answer.headers["access-control-allow-origin"] == allowed
        assert "access-control-allow-credentials" not in answer.headers
        assert "etag" in answer.headers["access-control-expose-headers"].lower()
        other = client.get("/api/v1/sites", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
        preflight = client.options(
            "/api/v1/downtimes",
            headers={
                "Origin": allowed,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == allowed


def test_an_origin_that_is_no_origin_stops_serve_with_exit_78(db_url, tmp_path):
    config = tmp_path / "vmsam.toml"
    config.write_text('[api]\ncors_origins = ["dashboard.example.org/path"]\n')
    done = subprocess.run(
        serve_command(db_url, free_port(), config),
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_environment(),
        check=False,
    )
    assert done.returncode == 78, done.stderr
    assert "[api] cors_origins" in done.stderr
    assert "Traceback" not in done.stderr
