"""The dashboard's one cache of answers and its one ETag mechanism, as ASGI middleware.

Many open pages poll the same few URLs (the status grid, the downtimes, the A/R of the site
a shifter looks at) while each costs the database and the A/R engine tens to hundreds of
milliseconds to compute. So every successful ``GET /api/v1/...`` answer is kept as bytes,
with a gzip-compressed copy and its ETag, and served again without running the route:

- **Key**: the path and the query string as the routes read it (parameters in any order,
  any percent-encoding); the encoding served follows the request's ``Accept-Encoding``
  (``Vary: Accept-Encoding``).
- **Valid** while the store's version (``Store.version()``: the newest result and dead
  letter and the revision, moved on by other processes too) is the one the answer was
  computed under, and for at most ``ttl`` seconds (30): answers depend on the clock as
  well (freshness flags, today's A/R up to now).
- **The version is read off the event loop**, in a thread of its own, at most one read at
  a time: a request waits for a read that began after it arrived (with ``check_interval``
  0, the default) or at most ``check_interval`` seconds before, and every request that
  arrives during a read shares the next one. So a result the consumer stored shows in the
  next answer.
- **One computation per key**: concurrent misses of a key wait for the first one's
  answer. When the version moved (the consumer stores results all day) or the TTL ran out,
  the first request computes the new answer and those that come meanwhile get the one
  before it, at most one computation old, rather than all waiting for it.
- **Dropped at once** (nothing old is served any more): on a write through this app (a 2xx
  answer to a request that is not GET, HEAD or OPTIONS), so the writer's next read shows
  it; and on a 503 or a failed read of the version, until a read succeeds again, so an
  outage is not hidden behind old answers.
- **Bounded**: least recently used entries go first once the bytes held pass
  ``max_bytes``; an answer larger than an eighth of it is served but never kept.
- **Never kept**: errors, 304s, requests other than GET, paths outside ``/api/v1/`` (the
  page, ``/metrics``, ``/healthz``), answers that say ``no-store`` or ``private`` (those
  for one caller, such as the audit log: they go out as the route made them, untagged).

Conditional GETs: ``ETag`` and ``Cache-Control: no-cache`` on every successful
``GET /api/v1/...``, and 304 without a body when ``If-None-Match`` names the tag (weak
``W/`` tags and ``*`` match too): a page polling an unchanged view receives a few headers.
The tag is a hash of the JSON, the same for its gzip copy: it names the content, and
``Vary`` keeps the encodings apart in caches along the way.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from operator import itemgetter
from urllib.parse import parse_qsl

import anyio
import anyio.to_thread
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vmsam.shared.errors import StoreError

__all__ = ["CachePolicy", "ResponseCache", "ResponseCacheMiddleware"]

PREFIX = "/api/v1/"
TTL_SECONDS = 30.0
MAX_BYTES = 64 * 2**20
# below this a gzip copy saves less than its header costs; GZipMiddleware uses the same
GZIP_MIN_BYTES = 500
# compressing and hashing a larger answer would hold up the event loop: a thread does it
_THREAD_MIN_BYTES = 64 * 2**10
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
_DROPPED = frozenset({b"content-length", b"etag", b"cache-control", b"vary"})
_ACCEPT = b"accept-encoding"

Key = tuple[str, tuple[tuple[str, str], ...]]
Headers = list[tuple[bytes, bytes]]


@dataclass(frozen=True)
class CachePolicy:
    """How long answers stay, how stale the store's version may be read, how much is kept."""

    ttl: float = TTL_SECONDS
    # 0: a request is answered only after a read of the version that began once it arrived,
    # so a result another process stored shows in the next answer; more trades that for
    # fewer reads (at most one per interval)
    check_interval: float = 0.0
    max_bytes: int = MAX_BYTES
    clock: Callable[[], float] = time.monotonic


@dataclass(frozen=True, slots=True)
class _Entry:
    """One answer as sent: the route's headers, the body and its gzip copy, the tag."""

    headers: Headers  # the route's own, without length, tag, cache-control or vary
    body: bytes
    gzipped: bytes | None
    etag: bytes
    route: object  # scope["route"]: /metrics labels a cached answer with its route too
    created: float
    generation: int  # the cache's generation when its computation began

    @property
    def size(self) -> int:
        return len(self.body) + len(self.gzipped or b"") + 256  # roughly what else it holds


class _Entries:
    """Entries by key, least recently used first, bounded by their bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[Key, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Key) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: Key, entry: _Entry) -> int:
        """Keep ``entry`` (unless it alone would take an eighth of the room); the number of
        entries evicted to make room."""
        self.discard(key)  # an answer grown too large must not leave its old self behind
        if entry.size > self.max_bytes // 8:
            return 0
        self._entries[key] = entry
        self.bytes += entry.size
        evicted = 0
        while self.bytes > self.max_bytes:
            _, oldest = self._entries.popitem(last=False)
            self.bytes -= oldest.size
            evicted += 1
        return evicted

    def discard(self, key: Key) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.bytes -= entry.size

    def clear(self) -> None:
        self._entries.clear()
        self.bytes = 0


class _VersionWatch:
    """The store's version as last read, in a worker thread, one read at a time.

    Lives on the event loop (one per app, as uvicorn runs it): only the read itself runs in
    a thread, so the counters need no lock.
    """

    def __init__(
        self,
        read: Callable[[], object],
        on_change: Callable[[bool], None],  # called with whether to drop everything
        *,
        interval: float,
        clock: Callable[[], float],
    ) -> None:
        self._read = read
        self._on_change = on_change
        self._interval = interval
        self._clock = clock
        self.healthy = False  # no read has succeeded yet
        self._version: object = None
        self._started = 0  # reads begun
        self._finished = 0  # the last read that ended (they end in the order they begin)
        self._began_at = -math.inf  # when the last read began
        self._running: anyio.Event | None = None
        # a thread of the version's own: the shared pool may be busy with routes computing
        self._limiter = anyio.CapacityLimiter(1)

    def forget(self) -> None:
        """The next request reads the version again, whatever the interval."""
        self._began_at = -math.inf

    async def sync(self) -> None:
        """Return once a read has ended that began after this call (or at most
        ``interval`` seconds before it); ``healthy`` tells whether it succeeded."""
        if self._clock() - self._began_at < self._interval:
            return
        wanted = self._started + 1  # a read that is running now began too early
        while self._finished < wanted:
            if self._running is None:
                await self._check()
            else:
                await self._running.wait()

    async def _check(self) -> None:
        self._started += 1
        number = self._started
        self._running = running = anyio.Event()
        self._began_at = self._clock()
        try:
            self._take(await anyio.to_thread.run_sync(self._safely, limiter=self._limiter))
        finally:
            self._finished = number
            self._running = None
            running.set()

    def _take(self, version: object | None) -> None:
        if version is None:
            # the database failed: answers computed before may no longer be what it holds
            self.healthy = False
            self._version = None
            self._on_change(True)
        elif version != self._version or not self.healthy:
            self.healthy = True
            self._version = version
            self._on_change(False)

    def _safely(self) -> object | None:
        try:
            return self._read()
        except StoreError:
            return None


@dataclass
class _Flight:
    """A computation of one key in progress: the others wait for ``done``."""

    done: anyio.Event = field(default_factory=anyio.Event)


class ResponseCache:
    """The entries, the store's version and the computations in progress, shared by the
    middleware of one app (``app.state.response_cache``)."""

    def __init__(self, read_version: Callable[[], object], policy: CachePolicy) -> None:
        self.policy = policy
        self._entries = _Entries(policy.max_bytes)
        # moves on whenever what is stored may have changed: an entry of an older generation
        # is only served while its key is being computed again, and a computation that began
        # under an older generation may have read what is no longer stored: it is not kept
        self.generation = 0
        self.watch = _VersionWatch(
            read_version, self.invalidate, interval=policy.check_interval, clock=policy.clock
        )
        self.flights: dict[Key, _Flight] = {}
        # lookups by outcome: hit, stale (out of date, served while recomputed), shared
        # (waited for another request's computation), miss, bypass (database failing); and
        # the entries evicted for room
        self.outcomes: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def bytes(self) -> int:
        return self._entries.bytes

    def invalidate(self, drop: bool = True) -> None:
        """Make every answer kept so far out of date: recomputed before it is served again
        (``drop``: a write went through, the database failed), or served meanwhile to
        those waiting for its recomputation (the version moved)."""
        self.generation += 1
        if drop:
            self._entries.clear()

    def lookup(self, key: Key) -> tuple[_Entry | None, bool]:
        """The entry of ``key`` and whether it is current (its generation, within the TTL)."""
        entry = self._entries.get(key)
        if entry is None:
            return None, False
        young = self.policy.clock() - entry.created < self.policy.ttl
        return entry, young and entry.generation == self.generation

    def keep(self, key: Key, entry: _Entry) -> None:
        """Keep an answer unless the cache moved on since its computation began."""
        if entry.generation == self.generation:
            self.outcomes["evicted"] += self._entries.put(key, entry)

    def collect(self) -> Iterator[Metric]:
        """For /metrics (a prometheus_client collector)."""
        lookups = CounterMetricFamily(
            "vmsam_api_cache_lookups", "Cacheable requests by outcome", labels=["outcome"]
        )
        for outcome in ("hit", "stale", "shared", "miss", "bypass"):
            lookups.add_metric([outcome], self.outcomes[outcome])
        yield lookups
        yield CounterMetricFamily(
            "vmsam_api_cache_evictions", "Answers evicted for room", value=self.outcomes["evicted"]
        )
        yield GaugeMetricFamily("vmsam_api_cache_bytes", "Bytes held", value=self.bytes)
        yield GaugeMetricFamily("vmsam_api_cache_entries", "Answers held", value=len(self))


def cache_key(scope: Scope) -> Key:
    """The path and the parameters as the routes read them (Starlette's own parsing, so
    that two URLs with the same key cannot give different answers); a parameter's repeated
    values keep their order (the last one counts)."""
    pairs = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
    return scope["path"], tuple(sorted(pairs, key=itemgetter(0)))


def _header(scope: Scope, name: bytes) -> bytes:
    return b",".join(value for key, value in scope["headers"] if key.lower() == name)


def _accepts_gzip(scope: Scope) -> bool:
    """Whether ``Accept-Encoding`` takes gzip: named (or ``*``) with a q above 0."""
    weights: dict[bytes, float] = {}
    for part in _header(scope, _ACCEPT).lower().split(b","):
        coding, _, params = part.partition(b";")
        weight = 1.0
        for param in params.split(b";"):
            name, _, value = param.strip().partition(b"=")
            if name == b"q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        weights[coding.strip()] = weight
    return weights.get(b"gzip", weights.get(b"x-gzip", weights.get(b"*", 0.0))) > 0


def _matches(scope: Scope, etag: bytes) -> bool:
    given = {
        part.strip().removeprefix(b"W/") for part in _header(scope, b"if-none-match").split(b",")
    }
    return etag in given or b"*" in given


def _encoded(body: bytes) -> tuple[bytes, bytes | None]:
    """The tag and the gzip copy (when it is worth having) of a body."""
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'.encode()
    gzipped = None
    if len(body) >= GZIP_MIN_BYTES:
        # mtime 0: the same body always compresses to the same bytes
        compressed = gzip.compress(body, compresslevel=6, mtime=0)
        gzipped = compressed if len(compressed) < len(body) else None
    return etag, gzipped


def _keepable(headers: Headers) -> bool:
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"set-cookie":
            return False
        if lowered == b"cache-control" and (b"no-store" in value or b"private" in value):
            return False
    return True


class _Capture:
    """The ``send`` of a computation: a 200 is gathered into a body, anything else goes
    straight to the client."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.start: Message | None = None
        self.chunks: list[bytes] = []
        self.complete = False

    @property
    def succeeded(self) -> bool:
        return self.start is not None and self.start["status"] == 200

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.start = message
            if not self.succeeded:
                await self._send(message)
            return
        if not self.succeeded:
            await self._send(message)
            return
        if message["type"] == "http.response.body":
            self.chunks.append(message.get("body", b""))
            self.complete = not message.get("more_body", False)


class ResponseCacheMiddleware:
    """The ASGI side of ``ResponseCache``: answers from it, fills it, and drops it on a
    write or a database failure."""

    def __init__(self, app: ASGIApp, cache: ResponseCache) -> None:
        self.app = app
        self.cache = cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "GET" and scope["path"].startswith(PREFIX):
            await self._read(scope, receive, send)
            return
        status = 0

        async def watching(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watching)
        finally:
            self._after(scope["method"], status)

    def _after(self, method: str, status: int) -> None:
        if status == 503:
            # the database failed: answers kept may not be what it holds, and the next
            # request must find out whether it is back
            self.cache.invalidate()
            self.cache.watch.forget()
        elif method not in _SAFE and 200 <= status < 300:
            # a write went through this app: the next read shows it (other processes see
            # it through the version); a refused write changes nothing and drops nothing
            self.cache.invalidate()

    async def _read(self, scope: Scope, receive: Receive, send: Send) -> None:
        cache = self.cache
        await cache.watch.sync()
        if not cache.watch.healthy:
            cache.outcomes["bypass"] += 1
            await self._compute(None, scope, receive, send)
            return
        key = cache_key(scope)
        waited = False
        while True:
            entry, fresh = cache.lookup(key)
            flight = cache.flights.get(key)
            if entry is not None and (fresh or flight is not None):
                cache.outcomes["hit" if fresh else "stale"] += 1
                await self._answer(entry, scope, send)
                return
            if flight is None or waited:
                break
            # another request computes this key: wait for its answer rather than repeat it
            # (once: if it left nothing to share, an error say, compute it here)
            waited = True
            cache.outcomes["shared"] += 1
            await flight.done.wait()
        cache.outcomes["miss"] += 1
        await self._compute(key, scope, receive, send)

    async def _compute(self, key: Key | None, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the route; answer, and keep the answer under ``key`` unless it is None."""
        cache = self.cache
        generation = cache.generation
        flight = _Flight()
        if key is not None and key not in cache.flights:
            cache.flights[key] = flight
        # the route's answer uncompressed: the cache keeps both encodings of it itself
        inner = {**scope, "headers": [h for h in scope["headers"] if h[0].lower() != _ACCEPT]}
        try:
            capture = _Capture(send)
            try:
                await self.app(inner, receive, capture)
            finally:
                if "route" in inner:  # the router's finding, for /metrics' label
                    scope["route"] = inner["route"]
                self._after("GET", capture.start["status"] if capture.start else 0)
            if not capture.succeeded or not capture.complete:
                return
            assert capture.start is not None
            body = b"".join(capture.chunks)
            raw: Headers = capture.start.get("headers", [])
            if not _keepable(raw):
                # an answer for one caller (authenticated) goes out as the route made it:
                # no tag, and its own Cache-Control: no-store
                await send(capture.start)
                await send({"type": "http.response.body", "body": body})
                return
            if len(body) >= _THREAD_MIN_BYTES:
                etag, gzipped = await anyio.to_thread.run_sync(_encoded, body)
            else:
                etag, gzipped = _encoded(body)
            entry = _Entry(
                headers=[(name, value) for name, value in raw if name.lower() not in _DROPPED],
                body=body,
                gzipped=gzipped,
                etag=etag,
                route=scope.get("route"),
                created=cache.policy.clock(),
                generation=generation,
            )
            if key is not None:
                cache.keep(key, entry)
            await self._answer(entry, scope, send)
        finally:
            if key is not None and cache.flights.get(key) is flight:
                del cache.flights[key]
                flight.done.set()

    @staticmethod
    async def _answer(entry: _Entry, scope: Scope, send: Send) -> None:
        if entry.route is not None:
            scope["route"] = entry.route
        added = [
            (b"etag", entry.etag),
            (b"cache-control", b"no-cache"),
            (b"vary", b"Accept-Encoding"),
        ]
        if _matches(scope, entry.etag):
            headers = [
                (name, value) for name, value in entry.headers if name.lower() != b"content-type"
            ]
            await send({"type": "http.response.start", "status": 304, "headers": headers + added})
            await send({"type": "http.response.body", "body": b""})
            return
        body = entry.body
        if entry.gzipped is not None and _accepts_gzip(scope):
            body = entry.gzipped
            added.append((b"content-encoding", b"gzip"))
        added.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": entry.headers + added})
        await send({"type": "http.response.body", "body": body})
