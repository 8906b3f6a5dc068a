"""One line on each bad day, read from the stored results and downtimes: which metric was in
which state when, set by which machinetype's VMs, and the downtimes.

The A/R figures come from ``vmsam.server.reports.ar_document``; this only tells a person why
a day came out as it did, by the same rules (docs/availability.md): a result holds until the
next one, a day starts with the last result of the day before (or ``MISSING``), the metrics
combine with the profile's metric operation, a scheduled downtime overrides them, and the
spaces of a site combine with their service type's operation.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

from vmsam.server.availability import Profiles, load_profiles
from vmsam.server.store import Downtime, Store, StoredResult

DAY = 86_400
UP = ("OK", "WARNING")
# one VM's results arrive over a few seconds: what lasts less is not worth a word
NOTICEABLE = 60
NO_DOWNTIME = ""


@dataclass(frozen=True)
class Piece:
    """``state`` from ``start`` to ``end`` seconds into the day, and what made it so: the
    metrics (or, for a site, the spaces) in that state, the machinetypes of the VMs whose
    results set it, whether a result of the day before did, the downtime's description."""

    start: int
    end: int
    state: str
    names: frozenset[str] = frozenset()
    machinetypes: frozenset[str] = frozenset()
    carried: bool = False
    downtime: str = NO_DOWNTIME

    @property
    def cause(self) -> tuple[str, frozenset[str], frozenset[str], bool, str]:
        return (self.state, self.names, self.machinetypes, self.carried, self.downtime)


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def _merge(pieces: Sequence[Piece]) -> list[Piece]:
    merged: list[Piece] = []
    for piece in pieces:
        if piece.end <= piece.start:
            continue
        if merged and merged[-1].cause == piece.cause and merged[-1].end == piece.start:
            merged[-1] = replace(merged[-1], end=piece.end)
        else:
            merged.append(piece)
    return merged


def _cut(timelines: Sequence[Sequence[Piece]]) -> list[tuple[int, int, list[Piece]]]:
    """The day cut at every change of any timeline: (start, end, each one's piece)."""
    edges = sorted({0, DAY, *(p.start for pieces in timelines for p in pieces)})
    return [
        (start, end, [next(p for p in pieces if p.start <= start < p.end) for pieces in timelines])
        for start, end in itertools.pairwise(edges)
    ]


class Explainer:
    """Reads a day of an endpoint or a site back from the store, as pieces of state."""

    def __init__(self, store: Store, vo: str, profiles: Profiles | None = None) -> None:
        self.store = store
        self.vo = vo
        self.profiles = profiles if profiles is not None else load_profiles()

    def _fold(self, operation: str, states: Sequence[str]) -> str:
        state = states[0]
        for other in states[1:]:
            state = self.profiles.operations.apply(operation, state, other)
        return state

    def _results(self, endpoint: str, day: date) -> list[StoredResult]:
        """The endpoint's results of ``day`` and the day before, oldest first."""
        since = midnight(day) - timedelta(days=1)
        until = since + timedelta(days=2)
        total, _ = self.store.results(
            endpoint=endpoint, vo=self.vo, since=since, until=until, limit=0
        )
        _, results = self.store.results(
            endpoint=endpoint, vo=self.vo, since=since, until=until, limit=total
        )
        return sorted(results, key=lambda r: r.timestamp)

    def _metric(self, metric: str, results: list[StoredResult], day: date) -> list[Piece]:
        start = midnight(day)
        mine = [r for r in results if r.metric == metric]
        instants = sorted({r.timestamp for r in mine})
        before = [t for t in instants if t < start]
        # the last result of the day before carries over; results in one second AND
        moments = [*before[-1:], *(t for t in instants if t >= start)]
        pieces = [Piece(0, DAY, "MISSING", frozenset({metric}))]
        for moment in moments:
            same = [r for r in mine if r.timestamp == moment]
            state = self._fold("AND", [r.status for r in same])
            second = max(0, int((moment - start).total_seconds()))
            pieces[-1] = replace(pieces[-1], end=second)
            kinds = frozenset(r.machinetype for r in same if r.status == state)
            pieces.append(Piece(second, DAY, state, frozenset({metric}), kinds, moment < start))
        return _merge(pieces)

    def _downtimes(self, endpoint: str, service_type: str, day: date) -> list[Piece]:
        """The endpoint's scheduled downtimes on ``day`` as pieces (overlaps joined)."""
        start = midnight(day)
        windows: list[Downtime] = self.store.downtimes(
            endpoint, start, start + timedelta(days=1), service_type=service_type
        )
        pieces = []
        cursor = 0
        for window in sorted(windows, key=lambda d: d.start):
            begin = max(cursor, int((window.start - start).total_seconds()))
            end = min(DAY, int((window.end - start).total_seconds()))
            if not window.scheduled or begin >= end:
                continue
            pieces.append(Piece(cursor, begin, NO_DOWNTIME))
            pieces.append(Piece(begin, end, "DOWNTIME", downtime=window.description or "scheduled"))
            cursor = end
        pieces.append(Piece(cursor, DAY, NO_DOWNTIME))
        return _merge(pieces)

    def endpoint_day(self, endpoint: str, service_type: str, day: date) -> tuple[list[Piece], int]:
        """The endpoint's day as pieces, and how many results it had on that day."""
        results = self._results(endpoint, day)
        metrics = self.profiles.metrics.metrics(service_type, self.vo)
        timelines = [self._metric(metric, results, day) for metric in metrics]
        downtimes = self._downtimes(endpoint, service_type, day)
        operation = self.profiles.aggregation.metric_operation
        pieces = []
        for start, end, (downtime, *current) in _cut([downtimes, *timelines]):
            if downtime.state == "DOWNTIME":
                pieces.append(replace(downtime, start=start, end=end))
                continue
            state = self._fold(operation, [p.state for p in current])
            setting = [p for p in current if p.state == state]
            pieces.append(
                Piece(
                    start,
                    end,
                    state,
                    frozenset().union(*(p.names for p in setting)),
                    frozenset().union(*(p.machinetypes for p in setting)),
                    any(p.carried for p in setting),
                )
            )
        begin = midnight(day)
        on_day = sum(1 for r in results if begin <= r.timestamp < begin + timedelta(days=1))
        return _merge(pieces), on_day

    def site_day(self, service_type: str, spaces: dict[str, list[Piece]]) -> list[Piece]:
        """A site's day from its spaces' (all of ``service_type``)."""
        group = self.profiles.aggregation.group_of(service_type)
        operation = group.services[service_type] if group is not None else "OR"
        names = sorted(spaces)
        pieces = []
        for start, end, current in _cut([spaces[name] for name in names]):
            state = self._fold(operation, [p.state for p in current])
            each = frozenset(
                f"{name.split('.', 1)[0]} {p.state}"  # vac01 CRITICAL
                for name, p in zip(names, current, strict=True)
            )
            pieces.append(Piece(start, end, state, each))
        return _merge(pieces)


def _spans(pieces: Sequence[Piece]) -> str:
    return ", ".join(
        f"{clock(p.start)}-{'24:00' if p.end == DAY else clock(p.end)}" for p in pieces
    )


def _short(metric: str) -> str:
    return metric.rsplit(".", 1)[-1]  # org.lhcb.WN-cvmfs -> WN-cvmfs


def _grouped(pieces: Sequence[Piece]) -> list[list[Piece]]:
    """The pieces not up, grouped by what they say but the machinetypes (which are joined),
    in the order of their first piece; pieces that follow each other are joined."""
    groups: dict[tuple[object, ...], list[Piece]] = {}
    for piece in pieces:
        if piece.state in UP or piece.end - piece.start < NOTICEABLE:
            continue
        key = (piece.state, piece.names, piece.carried, piece.downtime)
        found = groups.setdefault(key, [])
        if found and found[-1].end == piece.start:
            last = found[-1]
            found[-1] = replace(
                last, end=piece.end, machinetypes=last.machinetypes | piece.machinetypes
            )
        else:
            found.append(piece)
    return list(groups.values())


def describe_endpoint(pieces: Sequence[Piece], on_day: int, day: date) -> str:
    """Why an endpoint's day was not all up, in one line ("" when it was)."""
    parts = []
    if on_day == 0:
        parts.append(f"no result on this day, {day - timedelta(days=1)}'s last ones carry over")
    for group in _grouped(pieces):
        first = group[0]
        spans = _spans(group)
        if first.state == "DOWNTIME":
            parts.append(f"scheduled downtime {spans} ({first.downtime})")
            continue
        metrics = ", ".join(sorted(_short(name) for name in first.names))
        if first.state == "MISSING":
            if first.start == 0:
                why = f"nothing from {day - timedelta(days=1)} to carry over"
            else:
                why = f"no result yet for {metrics}"
            parts.append(f"MISSING {spans}, {why}")
            continue
        kinds = frozenset().union(*(p.machinetypes for p in group))
        source = f" from {', '.join(sorted(kinds))} VMs" if kinds else ""
        carried = ", carried over from the day before" if first.carried else ""
        parts.append(f"{first.state} {metrics} {spans}{source}{carried}")
    return "; ".join(parts)


def describe_site(pieces: Sequence[Piece]) -> str:
    """Why a site's day was not all up, in one line ("" when it was)."""
    parts = []
    for group in _grouped(pieces):
        first = group[0]
        spaces = ", ".join(sorted(first.names))
        parts.append(f"{first.state} {_spans(group)}, no space up ({spaces})")
    return "; ".join(parts)
