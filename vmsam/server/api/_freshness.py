"""Freshness for GET /api/v1/sites, computed at most once per half minute per VO.

vmsam.server.reports.freshness counts a week of tested VM boots in the database (about 0.1 s for
250 spaces, growing with the results of the week); a short cache keeps many open pages
from repeating it, yet a result that arrives shows in the flags within half a minute. The
current status comes fresh from the store on every computation of /sites.

The whole answer of /sites is cached as well (vmsam.server.api._cache), but only until
anything stored changes, which with a consumer running is every few seconds: this cache is
what keeps each of those recomputations to the status query (tens of milliseconds for 250
spaces) rather than a week of boots counted again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from vmsam.server.availability import Profiles
from vmsam.server.reports import EndpointFreshness, freshness
from vmsam.server.store import Store

__all__ = ["FreshnessCache"]

TTL_SECONDS = 30.0

Key = tuple[str, str, str, str]  # site, endpoint, service type, VO


class FreshnessCache:
    def __init__(
        self,
        store: Store,
        profiles: Profiles | None,
        *,
        ttl: float = TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._profiles = profiles
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str | None, tuple[float, dict[Key, EndpointFreshness]]] = {}

    def get(self, vo: str | None) -> dict[Key, EndpointFreshness]:
        """By (site, endpoint, service type, VO); ReportError for an unknown ``vo``."""
        # one computation at a time: concurrent page loads wait for it rather than repeat it
        with self._lock:
            cached = self._entries.get(vo)
            if cached is not None and self._clock() - cached[0] < self._ttl:
                return cached[1]
            found = {
                (f.site, f.endpoint, f.service_type, f.vo): f
                for f in freshness(self._store, vo=vo, profiles=self._profiles)
            }
            self._entries[vo] = (self._clock(), found)
            return found
