"""The cache of answers (vmsam.server.api._cache) in process, on SQLite and on PostgreSQL:
what it serves again, what makes it compute again (another process's result, a write
through the API, the TTL), what it never keeps, its conditional GETs and gzip copies, and
one computation for concurrent requests. Computations are counted by spying on the store;
no test looks at a duration."""

from __future__ import annotations

import gzip
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import anyio
import httpx
import pytest
from fastapi.testclient import TestClient

from tests.support.api import NOW, TOKEN, VAC, iso, populate, result
from tests.support.postgres import fresh_database
from vmsam.server.api import CachePolicy, create_app
from vmsam.server.api._cache import ResponseCache, _Entries, _Entry
from vmsam.server.store import Received, Store, StoreError
from vmsam.shared.config import ApiSettings, Settings
from vmsam.shared.messages import encode

RESULTS = "/api/v1/results"
SETTINGS = Settings(api=ApiSettings(token=TOKEN))
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Spied:
    """A store whose reads are counted, and may be held up (``gate``) or fail (``down``)."""

    READS = ("results", "sites", "downtimes", "timeline_input", "vos", "version")

    def __init__(self, store: Store) -> None:
        self.store = store
        self.calls: Counter[str] = Counter()
        self.gate: Callable[[], None] | None = None
        self.down = False
        for name in self.READS:
            setattr(store, name, self._counting(name, getattr(store, name)))

    def _counting(self, name: str, read: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            if self.down:
                raise StoreError("cannot read: the database went away")
            if self.gate is not None and name != "version":
                self.gate()
            return read(*args, **kwargs)

        return counted


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A store of this test's own holding tests.support.api.data_set(), on each database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/vmsam.db"
        populate(url)
        yield url
        return
    with fresh_database("vmsam_cache") as url:
        populate(url)
        yield url


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    opened = Store(db_url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def app_over(store: Store, clock: Clock, **policy: Any) -> Any:
    return create_app(store, SETTINGS, cache=CachePolicy(clock=clock, **policy))


@pytest.fixture
def spied(store: Store) -> Spied:
    return Spied(store)


@pytest.fixture
def client(store: Store, spied: Spied, clock: Clock) -> Iterator[TestClient]:
    with TestClient(app_over(store, clock)) as opened:
        yield opened


def cache_of(client: TestClient) -> ResponseCache:
    cache: ResponseCache = client.app.state.response_cache  # type: ignore[attr-defined]
    return cache


def store_elsewhere(url: str, vm: str) -> None:
    """A new result, stored by another Store (another process, as far as the app knows)."""
    fresh = result("vac01.a.example", "SITE-A", "cvmfs", NOW + timedelta(seconds=1), vm=vm)
    with Store(url) as other:
        assert other.save([Received.parse(encode(fresh), window=False)]).stored == 1


# --- served again ---------------------------------------------------------------------


def test_a_second_identical_get_is_served_from_the_cache(client, spied):
    first = client.get(RESULTS, params={"limit": 5})
    second = client.get(RESULTS, params={"limit": 5})
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert second.headers["etag"] == first.headers["etag"]
    assert spied.calls["results"] == 1
    sites = client.get("/api/v1/sites").json()
    computed = spied.calls["sites"]  # the route's read, and the freshness's
    assert computed > 0
    assert [client.get("/api/v1/sites").json() for _ in range(2)] == [sites, sites]
    assert spied.calls["sites"] == computed
    assert cache_of(client).outcomes["hit"] == 3


def test_the_same_parameters_in_another_order_or_spelling_share_an_entry(client, spied):
    answers = [
        client.get(f"{RESULTS}?vo=lhcb&limit=5"),
        client.get(f"{RESULTS}?limit=5&vo=lhcb"),
        client.get(f"{RESULTS}?limit=5&v%6F=lh%63b"),
    ]
    assert len({answer.content for answer in answers}) == 1
    assert spied.calls["results"] == 1


def test_different_query_strings_are_different_entries(client, spied):
    five = client.get(RESULTS, params={"limit": 5}).json()
    six = client.get(RESULTS, params={"limit": 6}).json()
    lhcb = client.get(RESULTS, params={"limit": 5, "vo": "lhcb"}).json()
    atlas = client.get(RESULTS, params={"limit": 5, "vo": "atlas"}).json()
    assert (len(five["results"]), len(six["results"])) == (5, 6)
    assert lhcb != atlas
    assert spied.calls["results"] == 4
    # a repeated parameter is refused before anything is computed or kept
    assert client.get(f"{RESULTS}?limit=6&limit=1").status_code == 400
    assert spied.calls["results"] == 4


def test_a_cached_answer_is_counted_under_its_route(client):
    for _ in range(3):
        client.get(RESULTS, params={"limit": 2})
    text = client.get("/metrics").text
    assert 'vmsam_api_requests_total{method="GET",route="/api/v1/results",status="200"} 3.0' in (
        text
    )
    assert 'vmsam_api_cache_lookups_total{outcome="hit"} 2.0' in text


# --- computed again -------------------------------------------------------------------


def test_a_result_stored_by_another_process_shows_in_the_next_answer(client, spied, db_url):
    before = client.get(RESULTS, params={"limit": 1})
    store_elsewhere(db_url, "vm-elsewhere")
    after = client.get(
        RESULTS, params={"limit": 1}, headers={"If-None-Match": before.headers["etag"]}
    )
    assert after.status_code == 200
    assert after.json()["total"] == before.json()["total"] + 1
    assert after.json()["results"][0]["vm_uuid"] == "vm-elsewhere"
    assert spied.calls["results"] == 2


def test_with_a_check_interval_the_version_is_read_once_per_interval(store, spied, clock, db_url):
    with TestClient(app_over(store, clock, check_interval=60, ttl=600)) as client:
        before = client.get(RESULTS, params={"limit": 1}).json()
        store_elsewhere(db_url, "vm-later")
        clock.now += 59
        assert client.get(RESULTS, params={"limit": 1}).json() == before
        clock.now += 1
        after = client.get(RESULTS, params={"limit": 1}).json()
    assert after["results"][0]["vm_uuid"] == "vm-later"
    assert spied.calls["results"] == 2


def test_a_downtime_posted_through_the_api_shows_at_once(store, spied, clock):
    # the version is read once an hour here: only the write itself can make it show
    with TestClient(app_over(store, clock, check_interval=3600)) as client:
        path = "/api/v1/downtimes"
        assert client.get(path, params={"endpoint": "dt.example"}).json()["downtimes"] == []
        body = {
            "endpoint": "dt.example",
            "service_type": VAC,
            "start": iso(NOW),
            "end": iso(NOW + timedelta(hours=2)),
            "scheduled": True,
        }
        # a refused write changes nothing, and drops nothing
        assert client.post(path, json=body).status_code == 401
        assert client.get(path, params={"endpoint": "dt.example"}).json()["downtimes"] == []
        assert spied.calls["downtimes"] == 1
        created = client.post(path, json=body, headers=AUTH)
        assert created.status_code == 201
        listed = client.get(path, params={"endpoint": "dt.example"}).json()["downtimes"]
    assert listed == [created.json()]
    assert spied.calls["downtimes"] == 2


def test_an_answer_expires_after_the_ttl(store, spied, clock):
    with TestClient(app_over(store, clock, ttl=30)) as client:
        client.get("/api/v1/sites")
        once = spied.calls["sites"]
        clock.now += 29.9
        client.get("/api/v1/sites")
        assert spied.calls["sites"] == once
        clock.now += 0.1
        client.get("/api/v1/sites")
        assert spied.calls["sites"] > once
        twice = spied.calls["sites"]
        client.get("/api/v1/sites")
    assert spied.calls["sites"] == twice


def test_a_failing_database_is_not_hidden_behind_cached_answers(client, spied):
    assert client.get(RESULTS, params={"limit": 1}).status_code == 200
    spied.down = True
    answer = client.get(RESULTS, params={"limit": 1})
    assert answer.status_code == 503
    assert "went away" in answer.json()["detail"]
    assert cache_of(client).outcomes["bypass"] == 1
    assert len(cache_of(client)) == 0
    spied.down = False
    assert client.get(RESULTS, params={"limit": 1}).status_code == 200
    assert len(cache_of(client)) == 1


# --- never kept -----------------------------------------------------------------------


def test_errors_are_not_cached(client, spied):
    for _ in range(2):
        missing = client.get(RESULTS, params={"site": "NOWHERE"})
        assert missing.status_code == 404
        assert "etag" not in missing.headers
    assert spied.calls["results"] == 2  # the page each time (then whether the site exists)
    for _ in range(2):
        invalid = client.get(RESULTS, params={"limit": 0})
        assert invalid.status_code == 422
        assert "etag" not in invalid.headers
    assert len(cache_of(client)) == 0


def test_metrics_healthz_and_the_page_are_not_cached(client, spied):
    for _ in range(2):
        for path in ("/metrics", "/healthz", "/", "/openapi.json"):
            answer = client.get(path)
            assert answer.status_code == 200
            # the page may be kept if checked again; the rest (operations) not at all
            expected = "no-cache" if path == "/" else "no-store"
            assert answer.headers["cache-control"] == expected, path
            assert "etag" not in answer.headers or path == "/", path
    assert spied.calls["vos"] == 2
    assert len(cache_of(client)) == 0
    assert sum(cache_of(client).outcomes.values()) == 0


SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


def test_the_security_headers_are_on_computed_cached_and_304_answers(client):
    computed = client.get(RESULTS, params={"limit": 2})
    cached = client.get(RESULTS, params={"limit": 2})
    assert cache_of(client).outcomes["hit"] == 1
    unchanged = client.get(
        RESULTS, params={"limit": 2}, headers={"If-None-Match": computed.headers["etag"]}
    )
    assert unchanged.status_code == 304
    refused = client.get(RESULTS, params={"limit": 0})
    for answer in (computed, cached, unchanged, refused):
        for name, value in SECURITY_HEADERS.items():
            assert answer.headers[name] == value, (answer.status_code, name)
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        assert "access-control-allow-origin" not in answer.headers  # CORS is off by default
    assert refused.headers["cache-control"] == "no-store"


def test_an_answer_for_one_caller_is_never_kept_nor_served_to_another(client):
    for _ in range(2):
        audited = client.get("/api/v1/audit", headers=AUTH)
        assert audited.status_code == 200
        assert audited.headers["cache-control"] == "no-store"
        assert "etag" not in audited.headers
        assert client.get("/api/v1/audit").status_code == 401
    assert len(cache_of(client)) == 0


def test_a_304_is_not_kept_in_place_of_the_answer(client):
    tag = client.get(RESULTS, params={"limit": 3}).headers["etag"]
    assert (
        client.get(RESULTS, params={"limit": 3}, headers={"If-None-Match": tag}).status_code == 304
    )
    again = client.get(RESULTS, params={"limit": 3})
    assert again.status_code == 200
    assert len(again.json()["results"]) == 3


# --- conditional GETs and gzip --------------------------------------------------------


def test_if_none_match_answers_304_from_the_cache(client, spied):
    first = client.get(RESULTS, params={"limit": 5})
    tag = first.headers["etag"]
    assert first.headers["cache-control"] == "no-cache"
    for given in (tag, f"W/{tag}", f'"nope", {tag}', "*"):
        again = client.get(RESULTS, params={"limit": 5}, headers={"If-None-Match": given})
        assert again.status_code == 304, given
        assert again.content == b""
        assert again.headers["etag"] == tag
        assert again.headers["cache-control"] == "no-cache"
        assert "content-type" not in again.headers
    other = client.get(RESULTS, params={"limit": 5}, headers={"If-None-Match": '"0123"'})
    assert other.status_code == 200
    assert other.json() == first.json()
    assert spied.calls["results"] == 1


def raw_get(client: TestClient, path: str, encoding: str) -> tuple[httpx.Headers, bytes]:
    """The headers and the body as sent, not decoded."""
    with client.stream("GET", path, headers={"Accept-Encoding": encoding}) as answer:
        assert answer.status_code == 200
        return answer.headers, b"".join(answer.iter_raw())


def test_a_gzip_copy_for_clients_that_take_it(client):
    path = "/api/v1/sites"
    plain_headers, plain = raw_get(client, path, "identity")
    zipped_headers, zipped = raw_get(client, path, "gzip, deflate")
    assert "content-encoding" not in plain_headers
    assert zipped_headers["content-encoding"] == "gzip"
    assert len(zipped) < len(plain)
    assert gzip.decompress(zipped) == plain
    assert int(zipped_headers["content-length"]) == len(zipped)
    assert int(plain_headers["content-length"]) == len(plain)
    for headers in (plain_headers, zipped_headers):
        assert headers["vary"] == "Accept-Encoding"
        assert headers["content-type"] == "application/json"
        assert headers["etag"] == plain_headers["etag"]
        assert "content-security-policy" in headers
    refused_headers, refused = raw_get(client, path, "gzip;q=0, identity")
    assert "content-encoding" not in refused_headers
    assert refused == plain
    _, anything = raw_get(client, path, "*")
    assert gzip.decompress(anything) == plain


def test_uncached_big_answers_are_compressed_too(client):
    headers, body = raw_get(client, "/openapi.json", "gzip")
    assert headers["content-encoding"] == "gzip"
    assert gzip.decompress(body).startswith(b'{"openapi"')


# --- one computation ------------------------------------------------------------------


def concurrently(app: Any, paths: list[str]) -> list[httpx.Response]:
    async def main() -> list[httpx.Response]:
        answers: list[httpx.Response] = []
        transport = httpx.ASGITransport(app=app)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://test") as client,
            anyio.create_task_group() as group,
        ):

            async def one(path: str) -> None:
                answers.append(await client.get(path))

            for path in paths:
                group.start_soon(one, path)
        return answers

    return anyio.run(main)


def hold_until(condition: Callable[[], bool]) -> Callable[[], None]:
    """A gate for the spied store: the first read waits (in its worker thread) until
    ``condition`` holds, so that other requests arrive while it computes."""
    first = threading.Event()

    def gate() -> None:
        if first.is_set():
            return
        first.set()
        for _ in range(1000):
            if condition():
                return
            threading.Event().wait(0.01)
        raise AssertionError("the other requests never came")

    return gate


def test_concurrent_misses_are_computed_once(store, spied, clock):
    app = app_over(store, clock)
    cache: ResponseCache = app.state.response_cache
    many = 8
    spied.gate = hold_until(lambda: cache.outcomes["shared"] == many - 1)
    answers = concurrently(app, [f"{RESULTS}?limit=4"] * many)
    assert [answer.status_code for answer in answers] == [200] * many
    assert len({answer.content for answer in answers}) == 1
    assert spied.calls["results"] == 1
    assert (cache.outcomes["miss"], cache.outcomes["shared"]) == (1, many - 1)


def test_while_an_expired_answer_is_recomputed_the_others_get_it(store, spied, clock):
    app = app_over(store, clock, ttl=30)
    cache: ResponseCache = app.state.response_cache
    first = concurrently(app, [RESULTS])[0].json()
    clock.now += 30
    many = 5
    spied.gate = hold_until(lambda: cache.outcomes["stale"] == many - 1)
    answers = concurrently(app, [RESULTS] * many)
    assert all(answer.json() == first for answer in answers)  # nothing changed meanwhile
    assert spied.calls["results"] == 2
    assert (cache.outcomes["miss"], cache.outcomes["stale"]) == (2, many - 1)


# --- bounded --------------------------------------------------------------------------


def entry(size: int) -> _Entry:
    return _Entry([], b"x" * size, None, b'"t"', None, 0.0, 0)


def test_the_least_recently_used_answers_go_first_within_the_bytes_allowed():
    entries = _Entries(max_bytes=8 * 1400)
    for number in range(8):
        entries.put(("/a", (("n", str(number)),)), entry(1000))
    assert len(entries) == 8
    entries.get(("/a", (("n", "0"),)))  # used: now the newest
    evicted = entries.put(("/a", (("n", "8"),)), entry(1000))
    assert evicted == 1
    assert entries.bytes <= entries.max_bytes
    assert entries.get(("/a", (("n", "1"),))) is None
    assert entries.get(("/a", (("n", "0"),))) is not None
    # an answer of more than an eighth of the room is served but not kept
    assert entries.put(("/big", ()), entry(1400)) == 0
    assert entries.get(("/big", ())) is None
