"""The current status of every space, as the dashboard shows it: the store's status of its
newest results (worst metric wins), MISSING when the freshness rule says so."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from vmsam.server.availability import Profiles
from vmsam.server.availability.freshness import Staleness
from vmsam.server.reports import freshness
from vmsam.server.store import SpaceKey, Store

MISSING = "MISSING"
PROBLEMS = frozenset({"CRITICAL", MISSING})
"""The statuses a site's contacts are told of."""


@dataclass(frozen=True)
class SpaceStatus:
    site: str
    endpoint: str
    service_type: str
    vo: str
    status: str

    @property
    def key(self) -> SpaceKey:
        return (self.site, self.endpoint, self.service_type, self.vo)


def current_statuses(
    store: Store, *, now: datetime, profiles: Profiles | None = None
) -> dict[SpaceKey, SpaceStatus]:
    """Every space of every site with its current status, by site, endpoint, service type
    and VO."""
    missing = {
        (f.site, f.endpoint, f.service_type, f.vo)
        for f in freshness(store, now=now, profiles=profiles)
        if f.staleness == Staleness.MISSING
    }
    found = {}
    for site in store.sites():
        for space in site.endpoints:
            key = (site.name, space.endpoint, space.service_type, space.vo)
            status = MISSING if key in missing else space.status
            found[key] = SpaceStatus(*key, status)
    return found
