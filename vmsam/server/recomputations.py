"""Recomputations (docs/availability.md#recomputations): requests checked against what the
store holds, their decisions, and the candidates vmsam proposes from its own records. One
place for the API and ``vmsam recompute``, so both answer the same and fail alike.

Every bad request raises ``ReportError`` with one line (a name the store does not know:
"unknown ..."); an id not stored ``UnknownRecomputation``, a change its state does not allow
``RecomputationConflict``, the same one again ``DuplicateRecomputation``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from vmsam.server.activity import idle_periods
from vmsam.server.reports import MAX_DAYS, resolve_vo
from vmsam.server.store import PRUNED, Actor, Recomputation, Store, UnknownRecomputation
from vmsam.shared.config import RecomputationSettings
from vmsam.shared.errors import ReportError
from vmsam.shared.messages import format_timestamp

__all__ = [
    "CANDIDATE_SOURCES",
    "PERSON",
    "Candidate",
    "broker_outages",
    "candidates",
    "decide",
    "idle_sites",
    "request",
]

PERSON = "person"  # the source of a recomputation a person asked for from scratch
# [recomputations] outage, an hour by default: a deployment of a few hundred sites receives
# results every few seconds, so an hour's silence of the whole store is the broker or the
# consumer, not VMs that happened not to boot (docs/configuration.md)
_DEFAULTS = RecomputationSettings()
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class Candidate:
    """A period vmsam proposes as a failure of monitoring, for a person to accept (as a
    recomputation of their own) or leave."""

    source: str
    start: datetime
    end: datetime
    sites: tuple[str, ...]
    metrics: tuple[str, ...]
    reason: str
    vo: str | None = None  # the VO it is of; None: every VO (the broker served them all)

    def as_json(self) -> dict[str, object]:
        return {
            "vo": self.vo,
            "source": self.source,
            "start": format_timestamp(self.start),
            "end": format_timestamp(self.end),
            "sites": list(self.sites),
            "metrics": list(self.metrics),
            "reason": self.reason,
        }


def broker_outages(
    store: Store, start: datetime, end: datetime, settings: RecomputationSettings
) -> list[Candidate]:
    """The periods of at least ``[recomputations] outage`` in which the store received no
    result at all, from any VO or site: the consumer heard nothing from anyone, so the
    broker (or the consumer itself) was down, not the sites. Every site and metric is
    covered."""
    outage = timedelta(seconds=settings.outage)
    return [
        Candidate(
            "broker-outage",
            begin,
            finish,
            (),
            (),
            f"no result received from any site for {_duration(finish - begin)}"
            f" (at least {_duration(outage)} counts as a broker outage)",
        )
        for begin, finish in store.silences(start=start, end=end, at_least=outage)
    ]


def idle_sites(
    store: Store, start: datetime, end: datetime, settings: RecomputationSettings
) -> list[Candidate]:
    """The periods when no VM of any space of a site ran, its factories said so (VacMon,
    ``vmsam vacmon``) and none was seen alive: the site went MISSING for want of VMs, not
    of health. A period in which one space is idle and another ran is none: a
    recomputation covers a whole site, and the running space's figures must count."""
    found = []
    for vo in store.vos():
        spaces: dict[str, set[str]] = {}
        for member in store.members(vo):
            spaces.setdefault(member.site, set()).add(member.endpoint)
        idle: dict[str, dict[str, list[tuple[datetime, datetime]]]] = {}
        evidence: dict[str, set[str]] = {}
        for period in idle_periods(store, vo=vo, start=start, end=end):
            idle.setdefault(period.site, {}).setdefault(period.space, []).append(
                (period.start, period.end)
            )
            evidence.setdefault(period.site, set()).add(period.evidence)
        for site, by_space in sorted(idle.items()):
            if set(by_space) != spaces.get(site, set()):
                continue  # some space of the site was never reported idle
            for begin, finish in _common(list(by_space.values())):
                found.append(
                    Candidate(
                        "no-vms",
                        begin,
                        finish,
                        (site,),
                        (),
                        f"no VM of any of the {len(by_space)} spaces of {site} ran for"
                        f" {_duration(finish - begin)} ({'; '.join(sorted(evidence[site]))[:200]})",
                        vo,
                    )
                )
    return found


def _common(
    spans: list[list[tuple[datetime, datetime]]],
) -> list[tuple[datetime, datetime]]:
    """The time every list of ``spans`` covers."""
    common = sorted(spans[0])
    for other in spans[1:]:
        common = [
            (max(a, c), min(b, d))
            for a, b in common
            for c, d in sorted(other)
            if max(a, c) < min(b, d)
        ]
    return common


CandidateSource = Callable[[Store, datetime, datetime, RecomputationSettings], list[Candidate]]
"""A source of candidates: the store, [start, end) (never beyond now), and the
``[recomputations]`` settings, where each source finds its own keys."""
# every source of candidates, asked in turn
CANDIDATE_SOURCES: tuple[CandidateSource, ...] = (broker_outages, idle_sites)


def candidates(
    store: Store,
    *,
    start: datetime,
    end: datetime,
    vo: str | None = None,
    settings: RecomputationSettings = _DEFAULTS,
    now: datetime | None = None,
    sources: Sequence[CandidateSource] = CANDIDATE_SOURCES,
) -> list[Candidate]:
    """The candidates within [start, end) (the future left out), by start; those already
    requested (pending, applied or rejected: a person has seen them) for ``vo`` (every VO
    when None) are left out."""
    moment = datetime.now(UTC) if now is None else now.astimezone(UTC)
    until = min(end, moment)
    _check_period(start, end)
    if vo is not None:
        resolve_vo(store, vo)
    if until <= start:
        return []
    found = [candidate for source in sources for candidate in source(store, start, until, settings)]
    seen = {
        (r.source, r.start, r.end)
        for r in store.recomputations(vo=vo, states=("pending", "applied", "rejected"))
        if r.end > start and r.start < until
    }
    found = [
        c
        for c in found
        if (c.source, c.start, c.end) not in seen and (vo is None or c.vo in (None, vo))
    ]
    return sorted(found, key=lambda candidate: (candidate.start, candidate.source))


def request(
    store: Store,
    *,
    vo: str,
    reason: str,
    requester: str,
    start: datetime,
    end: datetime,
    sites: Collection[str] = (),
    metrics: Collection[str] = (),
    requester_email: str | None = None,
    source: str = PERSON,
    by: Actor,
) -> Recomputation:
    """Store a pending recomputation after checking what the store can say of it: the VO
    and the sites must be known (ReportError), and its days must not be pruned."""
    _check_period(start, end)
    unknown = store.unknown_name(vo=vo)
    if unknown is not None:
        raise ReportError(unknown)
    held = {member.site for member in store.members(vo)}
    for site in sorted(set(sites)):
        if site not in held:
            known = store.unknown_name(site=site) is None
            raise ReportError(
                f"site {site[:80]!r} has no endpoint with results for vo {vo!r}"
                if known
                else f"unknown site {site[:80]!r}"
            )
    _refuse_pruned(store, vo, start, end)
    try:
        return store.request_recomputation(
            Recomputation(
                id=0,
                vo=vo,
                reason=reason,
                requester=requester,
                requester_email=requester_email,
                start=start,
                end=end,
                sites=tuple(sites),
                metrics=tuple(metrics),
                state="pending",
                source=source,
                created_at=datetime.now(UTC),
            ),
            by=by,
        )
    except ValueError as exc:
        if isinstance(exc, ReportError):
            raise
        raise ReportError(str(exc)) from None


def decide(store: Store, recomputation_id: int, state: str, *, by: Actor) -> Recomputation:
    """Apply, reject or revoke a recomputation as ``by`` decided. Applying one, or revoking
    an applied one, changes A/R figures: refused for pruned days, whose kept figures cannot
    be computed again."""
    current = store.recomputation(recomputation_id)
    if current is None:
        raise UnknownRecomputation(recomputation_id)
    if state == "applied" or (state == "revoked" and current.state == "applied"):
        _refuse_pruned(store, current.vo, current.start, current.end)
    return store.decide_recomputation(recomputation_id, state, by=by)


def _check_period(start: datetime, end: datetime) -> None:
    if end <= start:
        raise ReportError("the end must come after the start")
    if end - start > timedelta(days=MAX_DAYS):
        raise ReportError(f"the period is longer than {MAX_DAYS} days")


def _refuse_pruned(store: Store, vo: str, start: datetime, end: datetime) -> None:
    pruned = sorted(store.current_days(PRUNED, vo, start.date(), (end - _TICK).date()))
    if pruned:
        raise ReportError(
            f"the days {pruned[0]} to {pruned[-1]} were pruned: their results are gone and"
            " their kept figures cannot be recomputed"
        )


def _duration(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"
