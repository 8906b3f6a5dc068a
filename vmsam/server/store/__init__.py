"""The result store: SQLite (WAL, the embedded default) or PostgreSQL, schema by Alembic.

A result is stored once (its identity: docs/messages.md); anything invalid goes to the
dead letters with its reason and raw bytes. Every database failure is a one-line
``StoreError``: a ``save`` that raised wrote nothing, and the caller may retry the batch.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection, Engine

from vmsam.server.store import (
    _activity,
    _alerts,
    _daily,
    _downtimes,
    _read,
    _recomputations,
    _write,
)
from vmsam.server.store._activity import ActivityWrite, IdleSeen, Rejected, VmSeen
from vmsam.server.store._alerts import AlertChanges, AnnouncedAlert, PendingAlert, SpaceKey
from vmsam.server.store._daily import PRUNED
from vmsam.server.store._engine import (
    DEFAULT_DB,
    WRITE,
    create_engine,
    describe,
    resolve_url,
    translated,
    upgrade,
)
from vmsam.server.store._models import DOWNTIME_ID_MAX, MAX_KEY_BYTES
from vmsam.server.store._read import Restatus
from vmsam.server.store._recomputations import MAX_NAMES as RECOMPUTATION_NAMES_MAX
from vmsam.server.store._records import (
    RECOMPUTATION_STATES,
    WINDOW_PAST,
    Actor,
    AuditEntry,
    BootCount,
    DeadLetter,
    Downtime,
    EndpointStatus,
    Member,
    MetricSeries,
    MetricStatus,
    PerfRow,
    Received,
    Recomputation,
    ResultTimelineRow,
    RuleVersion,
    SaveReport,
    SiteStatus,
    StatusInput,
    StoredFigures,
    StoredResult,
    TimelineInput,
    TimelineRow,
    TimelineSeries,
    TrendCount,
    rule_fingerprint,
)
from vmsam.server.store._write import Writer, bump_revision
from vmsam.shared.errors import (
    DuplicateDowntime,
    DuplicateRecomputation,
    RecomputationConflict,
    StoreError,
    UnknownDowntime,
    UnknownRecomputation,
)

__all__ = [
    "DEFAULT_DB",
    "DOWNTIME_ID_MAX",
    "MAX_KEY_BYTES",
    "PRUNED",
    "RECOMPUTATION_NAMES_MAX",
    "RECOMPUTATION_STATES",
    "WINDOW_PAST",
    "ActivityWrite",
    "Actor",
    "AlertChanges",
    "AnnouncedAlert",
    "AuditEntry",
    "BootCount",
    "DeadLetter",
    "Downtime",
    "DuplicateDowntime",
    "DuplicateRecomputation",
    "EndpointStatus",
    "IdleSeen",
    "Member",
    "MetricSeries",
    "MetricStatus",
    "PendingAlert",
    "PerfRow",
    "Received",
    "Recomputation",
    "RecomputationConflict",
    "Rejected",
    "Restatus",
    "ResultTimelineRow",
    "RuleVersion",
    "SaveReport",
    "SiteStatus",
    "SpaceKey",
    "StatusInput",
    "Store",
    "StoreError",
    "StoredFigures",
    "StoredResult",
    "TimelineInput",
    "TimelineRow",
    "TimelineSeries",
    "TrendCount",
    "UnknownDowntime",
    "UnknownRecomputation",
    "VmSeen",
]


class Store:
    """One database. Thread-safe; the schema is created or upgraded on first use."""

    def __init__(self, url: str | None = None) -> None:
        self.engine: Engine = create_engine(resolve_url(url))
        self._writer = Writer(self.engine)
        self._ready = False
        self._ready_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Store({describe(self.engine)!r})"

    def upgrade(self) -> None:
        """Create or upgrade the schema now (it happens on first use anyway)."""
        with self._ready_lock:
            upgrade(self.engine)
            self._ready = True

    def _use(self) -> None:
        if not self._ready:
            self.upgrade()

    def save(self, batch: Sequence[Received]) -> SaveReport:
        """Store a batch in one transaction: valid results once each (a result already stored
        counts as a duplicate), invalid ones as dead letters."""
        self._use()
        return self._writer.save(batch)

    def add_downtime(  # noqa: PLR0917 - the signature the API and the CLI were written to
        self,
        endpoint: str,
        service_type: str,
        start: datetime,
        end: datetime,
        scheduled: bool = True,
        description: str = "",
        *,
        by: Actor | None = None,
    ) -> Downtime:
        """Declare a downtime of [start, end), in the audit log as ``by``'s when given;
        ``ValueError`` for an empty or reversed one, ``DuplicateDowntime`` (one too) when
        the same one is stored already."""
        declared = _downtimes.checked(
            Downtime(0, endpoint, service_type, start, end, scheduled, description)
        )
        with self._changing("add a downtime") as connection:
            return _downtimes.add(connection, declared, by)

    def correct_downtime(self, corrected: Downtime, *, by: Actor | None = None) -> Downtime:
        """Make the stored downtime of ``corrected.id`` what ``corrected`` says; ValueError
        as ``add_downtime``, ``UnknownDowntime`` (a ValueError) for an id not stored."""
        checked = _downtimes.checked(corrected)
        with self._changing("correct a downtime") as connection:
            return _downtimes.correct(connection, checked, by)

    def remove_downtime(self, downtime_id: int, *, by: Actor | None = None) -> Downtime:
        """Remove a downtime and give what it was; ``UnknownDowntime`` for an id not stored."""
        with self._changing("remove a downtime") as connection:
            return _downtimes.remove(connection, downtime_id, by)

    def request_recomputation(
        self, recomputation: Recomputation, *, by: Actor | None = None
    ) -> Recomputation:
        """Store a recomputation as pending (its id, state and times of the store's own),
        audited as ``by``'s; ``ValueError`` for one that cannot be stored,
        ``DuplicateRecomputation`` (one too) when the same one is pending or applied."""
        declared = _recomputations.checked(recomputation)
        with self._changing("request a recomputation") as connection:
            return _recomputations.add(connection, declared, by)

    def decide_recomputation(
        self, recomputation_id: int, state: str, *, by: Actor
    ) -> Recomputation:
        """Move a recomputation to ``state`` (applied, rejected or revoked) as ``by``
        decided; ``UnknownRecomputation``, ``RecomputationConflict`` when its state does
        not allow it (both ValueErrors)."""
        with self._changing("decide a recomputation") as connection:
            return _recomputations.decide(connection, recomputation_id, state, by)

    def recomputation(self, recomputation_id: int) -> Recomputation | None:
        self._use()
        with translated(self.engine, "read a recomputation"), self.engine.connect() as connection:
            return _recomputations.one(connection, recomputation_id)

    def recomputations(
        self,
        *,
        vo: str | None = None,
        states: Collection[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[Recomputation]:
        """Recomputations overlapping [start, end) (either bound may be open), of ``vo``
        and in ``states`` when given, oldest start first; each with when and by whom it
        was last decided."""
        self._use()
        with translated(self.engine, "read recomputations"), self.engine.connect() as connection:
            return _recomputations.listed(connection, vo=vo, states=states, start=start, end=end)

    def silences(
        self, *, start: datetime, end: datetime, at_least: timedelta
    ) -> list[tuple[datetime, datetime]]:
        """The periods of at least ``at_least`` within [start, end) in which no result at
        all was received (any VO, any site), in time order."""
        self._use()
        with translated(self.engine, "read arrivals"), self.engine.connect() as connection:
            return _recomputations.silences(connection, start=start, end=end, at_least=at_least)

    @contextlib.contextmanager
    def _changing(self, action: str) -> Iterator[Connection]:
        """One write transaction, its driver errors translated."""
        self._use()
        with (
            translated(self.engine, action),
            self.engine.connect().execution_options(**WRITE) as connection,
            connection.begin(),
        ):
            yield connection

    def downtime(self, downtime_id: int) -> Downtime | None:
        self._use()
        with translated(self.engine, "read a downtime"), self.engine.connect() as connection:
            return _read.downtime(connection, downtime_id)

    def downtimes(
        self,
        endpoint: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        service_type: str | None = None,
        site: str | None = None,
        vo: str | None = None,
    ) -> list[Downtime]:
        """Downtimes overlapping [start, end) (either bound may be open), oldest first."""
        self._use()
        with translated(self.engine, "read downtimes"), self.engine.connect() as connection:
            return _read.downtimes(
                connection,
                endpoint=endpoint,
                start=start,
                end=end,
                service_type=service_type,
                site=site,
                vo=vo,
            )

    def announced_alerts(self) -> dict[SpaceKey, AnnouncedAlert]:
        """The spaces in trouble as ``vmsam alerts`` last told their sites' contacts."""
        self._use()
        with translated(self.engine, "read the alert states"), self.engine.connect() as connection:
            return _alerts.announced(connection)

    def record_alerts(self, changes: AlertChanges, *, now: datetime) -> None:
        """An evaluation's state changes with the notifications they cause, in one transaction."""
        with self._changing("store the alert states") as connection:
            _alerts.record(connection, changes, now)

    def pending_alerts(self) -> list[PendingAlert]:
        """The notifications not delivered yet, oldest first."""
        self._use()
        with translated(self.engine, "read the alert outbox"), self.engine.connect() as connection:
            return _alerts.pending(connection)

    def settle_alerts(self, done: Iterable[int], failed: dict[int, str]) -> None:
        """Remove the notifications ``done``; count a failed attempt of the ``failed`` ones."""
        with self._changing("update the alert outbox") as connection:
            _alerts.settle(connection, done, failed)

    def acknowledge_alerts(
        self, site: str, endpoint: str | None, *, by: Actor, now: datetime
    ) -> list[SpaceKey]:
        """Stop the reminders of the unacknowledged alerts of ``site`` (of its space
        ``endpoint`` alone if given), audited as ``by``'s; the spaces acknowledged."""
        with self._changing("acknowledge the alerts") as connection:
            return _alerts.acknowledge(connection, site, endpoint, by, now)

    def record_activity(
        self, vms: Sequence[VmSeen], idle: Sequence[IdleSeen], rejected: Sequence[Rejected]
    ) -> ActivityWrite:
        """Store what one batch of VacMon datagrams said, in one transaction."""
        self._use()
        with (
            translated(self.engine, "save VM activity"),
            self.engine.connect().execution_options(**WRITE) as connection,
            connection.begin(),
        ):
            return _activity.save(connection, vms, idle, rejected)

    def vm_activity(
        self, spaces: Collection[str], start: datetime, end: datetime
    ) -> tuple[list[VmSeen], list[IdleSeen]]:
        """The VMs of ``spaces`` alive, and the idle stretches reported, in [start, end)."""
        self._use()
        with translated(self.engine, "read VM activity"), self.engine.connect() as connection:
            return (
                _activity.vms_between(connection, spaces, start, end),
                _activity.idle_between(connection, spaces, start, end),
            )

    def audit_log(self, *, limit: int = 100, offset: int = 0) -> tuple[int, list[AuditEntry]]:
        """The total and one page of the changes made, newest first."""
        self._use()
        with translated(self.engine, "read the audit log"), self.engine.connect() as connection:
            return _read.audit_log(connection, limit=limit, offset=offset)

    def unknown_name(
        self, *, site: str | None = None, endpoint: str | None = None, vo: str | None = None
    ) -> str | None:
        """ "unknown site 'X'" (or endpoint, vo) for the first of these the store does not
        know; None when it knows them all. An endpoint is known by its results or downtimes."""
        self._use()
        with translated(self.engine, "read names"), self.engine.connect() as connection:
            return _read.unknown_name(connection, site=site, endpoint=endpoint, vo=vo)

    def seen_service_types(self, endpoint: str) -> list[str]:
        """The service types ``endpoint`` has stored results of: none for a name never seen."""
        self._use()
        with translated(self.engine, "read endpoints"), self.engine.connect() as connection:
            return _read.seen_service_types(connection, endpoint)

    def sites(self) -> list[SiteStatus]:
        """Every site with its endpoints per VO, their status and the age of each metric."""
        self._use()
        with translated(self.engine, "read sites"), self.engine.connect() as connection:
            return _read.sites(connection)

    def results(
        self,
        *,
        site: str | None = None,
        endpoint: str | None = None,
        metric: str | None = None,
        vo: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
        signature: str | None = None,
    ) -> tuple[int, list[StoredResult]]:
        """The total matching and one page of results with since <= timestamp < until,
        newest first; ``signature`` "verified", "unsigned" or "none" (not checked) keeps
        only those."""
        self._use()
        with translated(self.engine, "read results"), self.engine.connect() as connection:
            return _read.results(
                connection,
                site=site,
                endpoint=endpoint,
                metric=metric,
                vo=vo,
                since=since,
                until=until,
                limit=limit,
                offset=offset,
                signature=signature,
            )

    def dead_letters(self, *, limit: int = 100, offset: int = 0) -> tuple[int, list[DeadLetter]]:
        """The total and one page of dead letters, newest first."""
        self._use()
        with translated(self.engine, "read dead letters"), self.engine.connect() as connection:
            return _read.dead_letters(connection, limit=limit, offset=offset)

    def timeline_input(
        self,
        *,
        start: datetime,
        end: datetime,
        vo: str | None = None,
        site: str | None = None,
        endpoint: str | None = None,
        service_type: str | None = None,
        restatus: Restatus | None = None,
        settled: Mapping[date, datetime] | None = None,
    ) -> TimelineInput:
        """The A/R engine's input for [start, end): results from start - 1 day (carry-over),
        downtimes overlapping (on the ``settled`` days those in force at their settlement),
        site membership; with ``restatus`` (a threshold profile), the results' statuses as
        it derives them."""
        self._use()
        with translated(self.engine, "read results"), self.engine.connect() as connection:
            return _read.timeline_input(
                connection,
                start=start,
                end=end,
                vo=vo,
                site=site,
                endpoint=endpoint,
                service_type=service_type,
                restatus=restatus,
                settled=settled,
            )

    def perf_data(self, *, since: datetime, until: datetime, vo: str, label: str) -> list[PerfRow]:
        """The perfdata of every result of ``vo`` in [since, until) naming ``label``."""
        self._use()
        with translated(self.engine, "read perfdata"), self.engine.connect() as connection:
            return _read.perf_data(connection, since=since, until=until, vo=vo, label=label)

    def status_input(
        self,
        *,
        start: datetime,
        end: datetime,
        vo: str,
        site: str | None = None,
        endpoint: str | None = None,
        service_type: str | None = None,
        settled: Mapping[date, datetime] | None = None,
    ) -> StatusInput:
        """``timeline_input`` of one site or endpoint, each result with the VM that gave it
        (the status timelines)."""
        self._use()
        with translated(self.engine, "read results"), self.engine.connect() as connection:
            return _read.status_input(
                connection,
                start=start,
                end=end,
                vo=vo,
                site=site,
                endpoint=endpoint,
                service_type=service_type,
                settled=settled,
            )

    def trend_counts(
        self, *, since: datetime, until: datetime, vo: str, site: str | None = None
    ) -> list[TrendCount]:
        """Results of ``vo`` in [since, until) and the status changes among them, per site,
        endpoint, metric, machinetype and status (the trends)."""
        self._use()
        with translated(self.engine, "count results"), self.engine.connect() as connection:
            return _read.trend_counts(connection, since=since, until=until, vo=vo, site=site)

    def tested_boots(
        self, *, since: datetime, until: datetime, vo: str | None = None
    ) -> list[BootCount]:
        """Per endpoint, service type and VO (``vo`` alone if given), the number of distinct
        tested VMs with a result in [since, until); endpoints without one are left out."""
        self._use()
        with translated(self.engine, "read tested boots"), self.engine.connect() as connection:
            return _read.tested_boots(connection, since=since, until=until, vo=vo)

    def current_days(
        self, source: str, vo: str, start: date, end: date
    ) -> dict[date, list[StoredFigures]]:
        """The days from ``start`` to ``end`` whose figures ``source`` holds for every site
        and that no later result has changed, with those figures."""
        self._use()
        with translated(self.engine, "read daily figures"), self.engine.connect() as connection:
            return _daily.current_days(connection, source, vo, start, end)

    def settle(self, vo: str, days: Collection[date], at: datetime) -> dict[date, datetime]:
        """Settle the closed ``days`` of ``vo`` not settled yet at ``at``, and give every
        one's settlement: the moment whose rules compute it from then on."""
        self._use()
        if not days:
            return {}
        first, last = min(days), max(days)
        with translated(self.engine, "read settled days"), self.engine.connect() as connection:
            held = _read.settled_days(connection, vo, first, last)
        if any(day not in held for day in days):  # once per day: reports mostly only read
            with (
                translated(self.engine, "settle days"),
                self.engine.connect().execution_options(**WRITE) as connection,
                connection.begin(),
            ):
                _write.settle(connection, vo, (day for day in days if day not in held), at)
                held = _read.settled_days(connection, vo, first, last)
        return {day: moment for day, moment in held.items() if day in days}

    def rule_versions(self, kind: str, name: str, document: Any, at: datetime) -> list[RuleVersion]:
        """Every version of the rule document ``kind``/``name``, oldest first, after
        keeping ``document`` as the one in force from ``at`` when it differs from the last
        (two processes at once may keep it twice: the first one counts)."""
        self._use()
        with translated(self.engine, "read rule versions"), self.engine.connect() as connection:
            versions = _read.rule_versions(connection, kind, name)
        if versions and versions[-1].fingerprint == rule_fingerprint(document):
            return versions  # the usual case: reports only read
        with (
            translated(self.engine, "keep rule versions"),
            self.engine.connect().execution_options(**WRITE) as connection,
            connection.begin(),
        ):
            _write.record_rules(connection, kind, name, document, at)
            return _read.rule_versions(connection, kind, name)

    def replace_days(
        self,
        source: str,
        vo: str,
        days: Collection[date],
        figures: Iterable[StoredFigures],
        *,
        version: tuple[int, ...],
    ) -> None:
        """Keep ``figures`` as every site's figures of ``days``, computed from the store as
        it stood at ``version`` (read before the results were)."""
        self._use()
        with (
            translated(self.engine, "store daily figures"),
            self.engine.connect().execution_options(**WRITE) as connection,
            connection.begin(),
        ):
            _daily.replace_days(
                connection,
                source,
                vo,
                days,
                figures,
                newest_result=version[0],
                revision=version[2],
            )

    def earliest_result(self, vo: str) -> datetime | None:
        """When the oldest stored result of ``vo`` was taken."""
        self._use()
        with translated(self.engine, "read results"), self.engine.connect() as connection:
            return _daily.earliest_result(connection, vo)

    def remove_results(self, before: date) -> int:
        """Remove every result dated before the day ahead of ``before`` (that day's last
        results carry over into ``before``) and log it; the number removed. The daily
        figures of those days must have been kept first (vmsam.server.reports.prune)."""
        self._use()
        kept_from = datetime(before.year, before.month, before.day, tzinfo=UTC) - timedelta(days=1)
        with (
            translated(self.engine, "prune results"),
            self.engine.connect().execution_options(**WRITE, preserve_rowcount=True) as connection,
            connection.begin(),
        ):
            removed = _daily.remove_results(connection, before, kept_from)
            bump_revision(connection)
        return removed

    def members(self, vo: str) -> list[Member]:
        """Which endpoint belongs to which site for ``vo``, and since when."""
        self._use()
        with translated(self.engine, "read memberships"), self.engine.connect() as connection:
            return _read.members(connection, vo)

    def version(self) -> tuple[int, ...]:
        """A value that differs whenever anything stored has changed, in this process or any
        other (new results, dead letters, downtimes, a prune); cheap enough to ask for on
        every request. Caches of answers key on it."""
        self._use()
        with translated(self.engine, "read the version"), self.engine.connect() as connection:
            return _read.version(connection)

    def vos(self) -> list[str]:
        """The VOs the store holds results of."""
        self._use()
        with translated(self.engine, "read VOs"), self.engine.connect() as connection:
            return _read.vos(connection)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
