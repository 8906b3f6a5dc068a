"""Status timelines of a site or an endpoint (docs/availability.md#status-timelines): the
pieces the A/R engine builds for each UTC day, each metric's with the result that set it.
One document for the API (``GET /api/v1/status/...``) and ``vmsam status``.

Every bad request raises ``ReportError`` (a name the store does not know: "unknown ...").
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

from vmsam.server.activity import UNKNOWN, Activity, load_activity
from vmsam.server.availability import (
    STATES,
    AvailabilityError,
    DayTimelines,
    Profiles,
    Timeline,
    epoch,
)
from vmsam.server.reports import parse_day, profile_runs, resolve_vo
from vmsam.server.store import PRUNED, Recomputation, ResultTimelineRow, StatusInput, Store
from vmsam.shared.errors import ReportError
from vmsam.shared.messages import format_timestamp

__all__ = ["MAX_TIMELINE_DAYS", "day_range", "midnight", "status_document"]

# a month of pieces, each metric's with its result, is what a page or a terminal can show
MAX_TIMELINE_DAYS = 31
_MISSING = STATES.index("MISSING")
_UNKNOWN = STATES.index("UNKNOWN")

Piece = dict[str, object]


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def day_range(
    start: date | str | None,
    end: date | str | None,
    day: date | str | None,
    *,
    now: datetime,
    limit: int = MAX_TIMELINE_DAYS,
) -> tuple[date, date]:
    """The days asked for: ``day`` alone, or ``start`` to ``end`` inclusive (either one
    alone is that one day), today (UTC) when none is given; at most ``limit`` days."""
    if day is not None:
        if start is not None or end is not None:
            raise ReportError("give either day or start and end, not both")
        first = last = _day(day, "day")
    else:
        given_start = _day(start, "start") if start is not None else None
        given_end = _day(end, "end") if end is not None else None
        first = given_start or given_end or now.date()
        last = given_end or given_start or now.date()
    if first <= date.min or last >= date.max:
        raise ReportError(f"the days must lie between {date.min} and {date.max}, excluded")
    if last < first:
        raise ReportError(f"the end ({last}) is before the start ({first})")
    days = (last - first).days + 1
    if days > limit:
        raise ReportError(f"the range has {days} days; at most {limit} are allowed")
    return first, last


def _day(value: date | str, what: str) -> date:
    if isinstance(value, datetime):  # a datetime is a date whose time would be dropped
        raise ReportError(f"{what} must be a day (YYYY-MM-DD), not a time")
    return value if isinstance(value, date) else parse_day(value, what)


def _moment(second: int) -> str:
    return format_timestamp(datetime.fromtimestamp(second, UTC))


@dataclass(frozen=True)
class _Results:
    """The loaded results of one (endpoint, service type, metric), in time order, to find
    the one that set each piece of its timeline."""

    seconds: list[int]
    rows: list[ResultTimelineRow]

    def setting(
        self, second: int, status: str, day_start: int
    ) -> tuple[ResultTimelineRow | None, bool]:
        """The result that set ``status`` at ``second``, and whether it was carried over
        from the day before (a piece starting at midnight without a result at 00:00:00)."""
        found = bisect_left(self.seconds, second)
        between = found == len(self.seconds) or self.seconds[found] != second
        carried = second == day_start and between
        if between and found > 0:
            # a piece that starts at no result: at midnight, the day before's last one
            # carries over; at the end of excluded time, the last one before it holds again
            found = bisect_left(self.seconds, self.seconds[found - 1])
        if found == len(self.seconds):
            return None, carried
        last = bisect_right(self.seconds, self.seconds[found])
        # results of one second combine with AND (worst wins): one of them has the status
        row = next((row for row in self.rows[found:last] if row.status == status), None)
        return row, carried


def _indexed(rows: Iterable[ResultTimelineRow]) -> dict[tuple[str, str, str], _Results]:
    grouped: dict[tuple[str, str, str], list[ResultTimelineRow]] = {}
    for row in rows:
        grouped.setdefault((row.endpoint, row.service_type, row.metric), []).append(row)
    indexed = {}
    for key, found in grouped.items():
        found.sort(key=lambda row: (row.timestamp, row.gathered_at, row.vm_uuid))
        seconds = [int(row.timestamp.timestamp()) for row in found]
        indexed[key] = _Results(seconds, found)
    return indexed


def _pieces(timeline: Timeline, day_start: int) -> Iterable[tuple[int, int, int]]:
    """(start, end, state) of each piece, in epoch seconds."""
    ends = (*timeline.starts[1:], timeline.length)
    for start, end, state in zip(timeline.starts, ends, timeline.states, strict=True):
        yield day_start + start, day_start + end, state


def _piece(start: int, end: int, state: int) -> Piece:
    return {"start": _moment(start), "end": _moment(end), "status": STATES[state]}


def _result(row: ResultTimelineRow | None) -> dict[str, str] | None:
    if row is None:
        return None
    return {
        "timestamp": format_timestamp(row.timestamp),
        "status": row.status,
        "vm_uuid": row.vm_uuid,
        "machinetype": row.machinetype,
        "gathered_at": row.gathered_at,
        "summary": row.summary,
    }


def _explained(piece: Piece, space: str, activity: Activity | None, start: int, end: int) -> Piece:
    """A MISSING piece with what explains it (docs/availability.md#no-vms-ran)."""
    if piece["status"] == "MISSING":
        piece["activity"] = (
            UNKNOWN
            if activity is None
            else activity.label(
                space, datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC)
            )
        )
    return piece


def _metric_pieces(
    timeline: Timeline,
    day_start: int,
    results: _Results | None,
    space: str,
    activity: Activity | None,
) -> list[Piece]:
    out = []
    for start, end, state in _pieces(timeline, day_start):
        piece = _explained(_piece(start, end, state), space, activity, start, end)
        row, carried = None, False
        if state != _MISSING and results is not None:  # MISSING: no result to go by
            row, carried = results.setting(start, STATES[state], day_start)
        piece["result"], piece["carried"] = _result(row), carried
        out.append(piece)
    return out


def _excluded_cut(
    timeline: Timeline, day_start: int, pieces: list[Piece], spans: Sequence[tuple[int, int, int]]
) -> list[Piece]:
    """A metric's ``pieces`` cut where applied recomputations begin and end, those inside
    one marked with its id (``spans``: epoch start, end, id, each covering the metric):
    the excluded time shows as such, not as an UNKNOWN result."""
    if not spans:
        return pieces
    out: list[Piece] = []
    for (start, end, _), piece in zip(_pieces(timeline, day_start), pieces, strict=True):
        inner = {edge for s, f, _ in spans for edge in (s, f) if start < edge < end}
        for begin, finish in pairwise(sorted({start, end, *inner})):
            covering = next((i for s, f, i in spans if s <= begin and finish <= f), None)
            if covering is not None:
                excluded = _piece(begin, finish, _UNKNOWN)
                out.append(
                    {**excluded, "result": None, "carried": False, "recomputation": covering}
                )
            elif (begin, finish) == (start, end):
                out.append(piece)
            else:  # the part of a measured piece outside the excluded time
                out.append({**piece, "start": _moment(begin), "end": _moment(finish)})
    return out


def _spans(applied: Iterable[Recomputation], metric: str) -> list[tuple[int, int, int]]:
    return [
        (epoch(r.start), epoch(r.end), r.id)
        for r in applied
        if not r.metrics or metric in r.metrics
    ]


@dataclass
class _Lines:
    """An endpoint's pieces and its metrics' over the days of a document."""

    pieces: list[Piece] = field(default_factory=list)
    metrics: dict[str, list[Piece]] = field(default_factory=dict)


def _add_day(
    lines: _Lines,
    key: tuple[str, str],
    day: DayTimelines,
    results: dict[tuple[str, str, str], _Results],
    *,
    applied: Sequence[Recomputation],
    activity: Activity | None,
) -> None:
    """One day of an endpoint: each metric's pieces with their results, and the endpoint's,
    each with the metrics in its status where it starts (what made the AND that status)."""
    metrics = {
        metric: (
            timeline,
            _metric_pieces(timeline, day.start, results.get((*key, metric)), key[0], activity),
        )
        for (endpoint, kind, metric), timeline in day.metrics.items()
        if (endpoint, kind) == key
    }
    for metric, (timeline, pieces) in metrics.items():
        cut = _excluded_cut(timeline, day.start, pieces, _spans(applied, metric))
        lines.metrics.setdefault(metric, []).extend(cut)
    for start, end, state in _pieces(day.endpoints[key], day.start):
        piece = _explained(_piece(start, end, state), key[0], activity, start, end)
        set_by = []
        for metric, (timeline, pieces) in metrics.items():
            index = bisect_right(timeline.starts, start - day.start) - 1
            if timeline.states[index] == state:
                set_by.append({"metric": metric, "result": pieces[index]["result"]})
        piece["set_by"] = set_by
        lines.pieces.append(piece)


def _document(
    days: Sequence[DayTimelines],
    rows: Iterable[ResultTimelineRow],
    *,
    name: str,
    scope: str,
    vo: str,
    first: date,
    last: date,
    pruned: Sequence[date],
    with_metrics: bool,
    applied: Sequence[Recomputation] = (),
    activity: Activity | None = None,
) -> dict[str, object]:
    results = _indexed(rows)
    combined: list[Piece] = []
    endpoints: dict[tuple[str, str], _Lines] = {}
    for day in days:
        combined += (_piece(*piece) for piece in _pieces(day.combined, day.start))
        for key in day.endpoints:
            _add_day(
                endpoints.setdefault(key, _Lines()),
                key,
                day,
                results,
                applied=applied,
                activity=activity,
            )
    listed = [
        {
            key: value
            for key, value in r.as_json().items()
            if key in ("id", "start", "end", "sites", "metrics", "reason")
        }
        for r in applied
    ]
    return {
        "name": name,
        "scope": scope,
        "vo": vo,
        "start": first.isoformat(),
        "end": last.isoformat(),
        "pruned": [day.isoformat() for day in pruned],
        "pieces": combined,
        "endpoints": [
            {
                "endpoint": endpoint,
                "service_type": kind,
                "pieces": lines.pieces,
                "metrics": [
                    {"metric": metric, "pieces": pieces}
                    for metric, pieces in lines.metrics.items()
                    if with_metrics
                ],
            }
            for (endpoint, kind), lines in endpoints.items()
        ],
        **({"recomputations": listed} if listed else {}),
    }


def status_document(
    store: Store,
    *,
    site: str | None = None,
    endpoint: str | None = None,
    service_type: str | None = None,
    start: date | str | None = None,
    end: date | str | None = None,
    day: date | str | None = None,
    vo: str | None = None,
    metrics: bool = True,
    profiles: Profiles | None = None,
    now: datetime | None = None,
) -> dict[str, object]:
    """The status timelines of ``site`` (its own, its endpoints' and their metrics') or of
    ``endpoint`` (exactly one) for ``vo`` over the days asked for (``day_range``), as the
    engine builds them for A/R. Days whose results were pruned have no timeline: they are
    listed in ``pruned`` (their figures were kept: /ar gives them). Without ``metrics``,
    the metrics' own timelines are left out (the endpoints' pieces still name the results
    that set them), which makes the answer a fraction of its size."""
    if (site is None) == (endpoint is None):
        raise ReportError("give exactly one of a site and an endpoint")
    if site is not None and service_type is not None:
        raise ReportError("a service type applies to an endpoint, not to a site")
    moment = datetime.now(UTC) if now is None else now.astimezone(UTC)
    first, last = day_range(start, end, day, now=moment)
    chosen_vo = resolve_vo(store, vo)
    pruned = sorted(store.current_days(PRUNED, chosen_vo, first, last))
    rest = pruned[-1] + timedelta(days=1) if pruned else first
    name = site if site is not None else endpoint
    assert name is not None
    if rest > last or midnight(rest) >= moment:
        _require_known(store, site=site, endpoint=endpoint)
        return _document(
            [],
            [],
            name=name,
            scope=_scope(site),
            vo=chosen_vo,
            first=first,
            last=last,
            pruned=pruned,
            with_metrics=metrics,
        )
    # results after now change nothing: the current day ends at now
    until = min(midnight(last) + timedelta(days=1), moment)
    runs, settled = profile_runs(store, profiles, vo=chosen_vo, first=rest, last=last, now=moment)
    loaded = store.status_input(
        start=midnight(rest),
        end=until,
        vo=chosen_vo,
        site=site,
        endpoint=endpoint,
        service_type=service_type,
        settled=settled,
    )
    sites = {site} if site is not None else {member.site for member in loaded.members}
    applied = [
        r
        for r in store.recomputations(
            vo=chosen_vo, states=("applied",), start=midnight(rest), end=until
        )
        if r.covers_site(sites)
    ]
    try:
        if site is not None:
            if not loaded.members:
                _require_known(store, site=site)
                raise ReportError(
                    f"site {site!r:.80} has no endpoint with results for vo {chosen_vo!r}"
                )
            days = [
                day
                for engine, start_day, end_day in runs
                for day in engine.site_timelines(
                    loaded.results,
                    loaded.downtimes,
                    loaded.members,
                    site=site,
                    vo=chosen_vo,
                    start=start_day,
                    end=end_day,
                    now=moment,
                    exclusions=applied,
                )
            ]
        else:
            assert endpoint is not None
            kind = _service_type(store, loaded, endpoint, service_type, chosen_vo)
            days = [
                day
                for engine, start_day, end_day in runs
                for day in engine.endpoint_timelines(
                    loaded.results,
                    loaded.downtimes,
                    endpoint=endpoint,
                    service_type=kind,
                    vo=chosen_vo,
                    start=start_day,
                    end=end_day,
                    now=moment,
                    exclusions=applied,
                    sites=sites,
                )
            ]
    except AvailabilityError as exc:
        raise ReportError(str(exc)) from None
    # what explains the MISSING pieces; it changes no status and no figure
    activity = load_activity(
        store, {space for day in days for space, _ in day.endpoints}, midnight(rest), until
    )
    return _document(
        days,
        loaded.results,
        name=name,
        scope=_scope(site),
        vo=chosen_vo,
        first=first,
        last=last,
        pruned=pruned,
        with_metrics=metrics,
        applied=applied,
        activity=activity,
    )


def _scope(site: str | None) -> str:
    return "site" if site is not None else "endpoint"


def _require_known(store: Store, *, site: str | None = None, endpoint: str | None = None) -> None:
    unknown = store.unknown_name(site=site, endpoint=endpoint)
    if unknown is not None:
        raise ReportError(unknown)


def _service_type(
    store: Store, loaded: StatusInput, endpoint: str, service_type: str | None, vo: str
) -> str:
    """The one service type of ``endpoint`` for ``vo`` (``service_type`` if given)."""
    kinds = sorted({member.service_type for member in loaded.members})
    if len(kinds) == 1:
        return kinds[0]
    if kinds:
        raise ReportError(
            f"endpoint {endpoint!r:.80} has several service types ({', '.join(kinds)}):"
            " give the service type"
        )
    _require_known(store, endpoint=endpoint)
    if service_type is not None and service_type not in store.seen_service_types(endpoint):
        raise ReportError(f"unknown service type {service_type!r:.80} of endpoint {endpoint!r:.80}")
    raise ReportError(f"endpoint {endpoint!r:.80} has no results for vo {vo!r}")
