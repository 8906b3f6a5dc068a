"""Trends over a range of days (docs/availability.md#trends): the metrics of each space that
flap (status changes per day) and that fail most (CRITICAL and WARNING results), each
broken down by the machinetype of the VMs that gave the results, and the sentence of the
strongest machinetype contrast, which ARGO, seeing no VM, cannot give. One document for
the API (``GET /api/v1/trends``) and ``vmsam trends``.

Every bad request raises ``ReportError`` (a name the store does not know: "unknown ...").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

from vmsam.server.reports import resolve_vo
from vmsam.server.store import Store, TrendCount
from vmsam.server.timelines import day_range, midnight
from vmsam.shared.errors import ReportError

__all__ = ["CONTRAST_MIN_RESULTS", "TOP_MAX", "trends_document"]

TOP_MAX = 100
# a machinetype with fewer results in a metric says nothing either way about it
CONTRAST_MIN_RESULTS = 3

_Key = tuple[str, str, str, str]  # site, endpoint, service type, metric


@dataclass
class _Tally:
    results: int = 0
    critical: int = 0
    warning: int = 0
    unknown: int = 0
    changes: int = 0

    def add(self, count: TrendCount) -> None:
        self.results += count.results
        self.changes += count.changes
        if count.status == "CRITICAL":
            self.critical += count.results
        elif count.status == "WARNING":
            self.warning += count.results
        elif count.status == "UNKNOWN":
            self.unknown += count.results

    def counts(self) -> dict[str, int]:
        return {
            "results": self.results,
            "critical": self.critical,
            "warning": self.warning,
            "unknown": self.unknown,
            "changes": self.changes,
        }


@dataclass
class _Item:
    """One metric of one space: its tally and each machinetype's."""

    total: _Tally = field(default_factory=_Tally)
    machinetypes: dict[str, _Tally] = field(default_factory=dict)


def _shown(machinetype: str) -> str:
    return machinetype or "(no machinetype)"


@dataclass(frozen=True)
class _Contrast:
    strength: tuple[Fraction, int]
    sentence: str


def _contrast(key: _Key, item: _Item) -> _Contrast | None:
    """The two machinetypes whose shares of CRITICAL results differ most (each with at
    least CONTRAST_MIN_RESULTS results), as a sentence; None without such a pair."""
    counted = {
        name: tally
        for name, tally in item.machinetypes.items()
        if tally.results >= CONTRAST_MIN_RESULTS
    }
    if len(counted) < 2:
        return None

    def share(name: str) -> Fraction:
        return Fraction(counted[name].critical, counted[name].results)

    # ties: the machinetype with more results, then the name, so the answer is stable
    worst = max(sorted(counted), key=lambda name: (share(name), counted[name].results))
    best = min(sorted(counted), key=lambda name: (share(name), -counted[name].results))
    if share(worst) <= share(best):
        return None
    bad, good = counted[worst], counted[best]
    site, endpoint, _, metric = key
    failing = f"{_shown(worst)} VMs ({bad.critical} of {bad.results} CRITICAL results)"
    other = f"{_shown(best)} ({good.critical} of {good.results})"
    if share(best) == 0:
        only = "only " if share(worst) == 1 else ""
        claim = f"fails {only}on {failing}, never on {other}"
    else:
        claim = f"fails more on {failing} than on {other}"
    return _Contrast(
        (share(worst) - share(best), bad.results + good.results),
        f"{metric} at {site} ({endpoint}) {claim}",
    )


def _tallied(counts: Iterable[TrendCount]) -> dict[_Key, _Item]:
    items: dict[_Key, _Item] = {}
    for count in counts:
        key = (count.site, count.endpoint, count.service_type, count.metric)
        item = items.setdefault(key, _Item())
        item.total.add(count)
        item.machinetypes.setdefault(count.machinetype, _Tally()).add(count)
    return items


def _entry(key: _Key, item: _Item, days: int) -> dict[str, object]:
    site, endpoint, service_type, metric = key
    return {
        "site": site,
        "endpoint": endpoint,
        "service_type": service_type,
        "metric": metric,
        **item.total.counts(),
        "changes_per_day": round(item.total.changes / days, 2),
        "machinetypes": [
            {"machinetype": name, **tally.counts()}
            for name, tally in sorted(item.machinetypes.items())
        ],
    }


def trends_document(
    store: Store,
    *,
    start: date | str | None = None,
    end: date | str | None = None,
    day: date | str | None = None,
    vo: str | None = None,
    site: str | None = None,
    top: int = 10,
    now: datetime | None = None,
) -> dict[str, object]:
    """The trends of ``vo`` (of ``site`` alone if given) over the days asked for
    (``timelines.day_range``: at most 31): the ``top`` flapping and failing metrics of
    spaces, each site's totals, and the strongest machinetype contrast."""
    if not 1 <= top <= TOP_MAX:
        raise ReportError(f"top must be between 1 and {TOP_MAX}, not {top}")
    moment = datetime.now(UTC) if now is None else now.astimezone(UTC)
    first, last = day_range(start, end, day, now=moment)
    chosen_vo = resolve_vo(store, vo)
    if site is not None:
        unknown = store.unknown_name(site=site)
        if unknown is not None:
            raise ReportError(unknown)
    counts = store.trend_counts(
        since=midnight(first), until=midnight(last) + timedelta(days=1), vo=chosen_vo, site=site
    )
    items = _tallied(counts)
    days = (last - first).days + 1
    flapping = sorted(
        (key for key, item in items.items() if item.total.changes),
        key=lambda key: (-items[key].total.changes, key),
    )
    failing = sorted(
        (key for key, item in items.items() if item.total.critical or item.total.warning),
        key=lambda key: (-items[key].total.critical, -items[key].total.warning, key),
    )
    contrasts = {key: _contrast(key, item) for key, item in items.items()}
    found = [contrast for contrast in contrasts.values() if contrast is not None]
    strongest = max(found, key=lambda contrast: contrast.strength, default=None)
    sites: dict[str, _Tally] = {}
    for count in counts:
        sites.setdefault(count.site, _Tally()).add(count)
    return {
        "vo": chosen_vo,
        "site": site,
        "start": first.isoformat(),
        "end": last.isoformat(),
        "days": days,
        "contrast": strongest.sentence if strongest is not None else None,
        "flapping": [_entry(key, items[key], days) for key in flapping[:top]],
        "failing": [
            {
                **_entry(key, items[key], days),
                "contrast": contrast.sentence if (contrast := contrasts[key]) else None,
            }
            for key in failing[:top]
        ],
        "sites": [
            {"site": name, **tally.counts()}
            for name, tally in sorted(sites.items(), key=lambda pair: (-pair[1].critical, pair[0]))
        ],
    }
