"""The schema: typed SQLAlchemy 2 models. Alembic's migrations create exactly these tables
(tests/store/test_migrations.py compares them)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar, cast

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

# the longest value of a column that is part of a unique key: a PostgreSQL btree entry must
# stay under about 2.7 kB, and three such columns share the results key
MAX_KEY_BYTES = 512
# the longest actor or client name the audit log keeps (longer ones are cut)
AUDIT_NAME_MAX = 200
# a recomputation's requester e-mail (RFC 5321's limit) and candidate source name
RECOMPUTATION_EMAIL_MAX = 254
RECOMPUTATION_SOURCE_MAX = 40

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime. PostgreSQL: ``timestamptz``. SQLite has no date type, so
    microseconds since the epoch: exact, compact, compared as integers. A naive value is
    taken as UTC."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.BigInteger())
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if dialect.name == "sqlite":
            return (moment - _EPOCH) // _MICROSECOND
        return moment

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return _EPOCH + timedelta(microseconds=value)
        moment: datetime = value
        return moment if moment.tzinfo is UTC else moment.astimezone(UTC)


# SQLite makes only an INTEGER PRIMARY KEY the rowid; BIGINT would need a value on insert
_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_Key = sa.String(MAX_KEY_BYTES)


class Base(DeclarativeBase):
    metadata = sa.MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


class Site(Base):
    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(_Key, unique=True)


class Endpoint(Base):
    """hostName + service type: for vmsam a space."""

    __tablename__ = "endpoints"
    __table_args__ = (sa.UniqueConstraint("hostname", "service_type"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    hostname: Mapped[str] = mapped_column(_Key)
    service_type: Mapped[str] = mapped_column(_Key)


class Membership(Base):
    """An endpoint belongs to a site for a VO from its first stored result naming both
    (vmsam has no GOCDB topology; docs/availability.md)."""

    __tablename__ = "memberships"

    endpoint_id: Mapped[int] = mapped_column(sa.ForeignKey("endpoints.id"), primary_key=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id"), primary_key=True)
    vo: Mapped[str] = mapped_column(_Key, primary_key=True)
    first_seen: Mapped[datetime]


class Result(Base):
    __tablename__ = "results"
    # the identity of a result (docs/messages.md); the endpoint stands for hostName + service type,
    # and vm_uuid is '' rather than NULL because NULLs never conflict in a unique key
    __table_args__ = (
        sa.UniqueConstraint("endpoint_id", "metric", "timestamp", "gathered_at", "vm_uuid"),
        sa.Index(None, "timestamp"),
        sa.Index(None, "site_id", "timestamp"),
        sa.Index(None, "endpoint_id", "timestamp"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    # an endpoint's and a site's id, with no foreign key: the writer takes both from their
    # rows in its own transaction, and PostgreSQL's check of each row cost a fifth of the
    # ingest (migration 0011)
    endpoint_id: Mapped[int]
    site_id: Mapped[int]
    metric: Mapped[str] = mapped_column(_Key)
    vo: Mapped[str] = mapped_column(_Key)
    status: Mapped[str] = mapped_column(sa.String(16))
    timestamp: Mapped[datetime]
    gathered_at: Mapped[str] = mapped_column(_Key)
    vm_uuid: Mapped[str] = mapped_column(_Key)
    machinetype: Mapped[str] = mapped_column(sa.Text)
    summary: Mapped[str] = mapped_column(sa.Text)
    details: Mapped[str] = mapped_column(sa.Text)
    perf_data: Mapped[str | None] = mapped_column(sa.Text)
    probe_duration: Mapped[str | None] = mapped_column(sa.Text)
    received_at: Mapped[datetime]
    # "verified", "unsigned" (flagged by the consumer's policy) or NULL (not checked)
    signature: Mapped[str | None] = mapped_column(sa.String(16))
    signer: Mapped[str | None] = mapped_column(sa.Text)


class Series(Base):
    """Each (endpoint, metric) that has results: the dashboard finds the newest result of
    each with one index seek instead of a scan of the results."""

    __tablename__ = "series"

    endpoint_id: Mapped[int] = mapped_column(sa.ForeignKey("endpoints.id"), primary_key=True)
    metric: Mapped[str] = mapped_column(_Key, primary_key=True)
    # its newest result, against which the writer judges the next one (_changes); NULL
    # until the series' first result is judged
    head_timestamp: Mapped[datetime | None]
    head_gathered_at: Mapped[str | None] = mapped_column(_Key)
    head_vm_uuid: Mapped[str | None] = mapped_column(_Key)
    head_status: Mapped[str | None] = mapped_column(sa.String(16))
    head_site_id: Mapped[int | None]
    head_vo: Mapped[str | None] = mapped_column(_Key)
    # whether it shares its second with the result before it
    head_paired: Mapped[bool | None]


class StatusChange(Base):
    """A result the A/R engine cannot do without (_changes), its key and what the engine
    reads of it: a month's report reads these instead of every result. Keyed by time first,
    so that a period is one range of the key."""

    __tablename__ = "status_changes"
    __table_args__ = (
        sa.PrimaryKeyConstraint("timestamp", "endpoint_id", "metric", "gathered_at", "vm_uuid"),
        sa.Index(None, "site_id", "timestamp"),
        sa.Index(None, "endpoint_id", "timestamp"),
        {"sqlite_with_rowid": False},
    )

    timestamp: Mapped[datetime]
    endpoint_id: Mapped[int]
    metric: Mapped[str] = mapped_column(_Key)
    gathered_at: Mapped[str] = mapped_column(_Key)
    vm_uuid: Mapped[str] = mapped_column(_Key)
    vo: Mapped[str] = mapped_column(_Key)
    site_id: Mapped[int]
    status: Mapped[str] = mapped_column(sa.String(16))


class DeadLetter(Base):
    __tablename__ = "dead_letters"
    # a body delivered again (the broker redelivers what was not acked when a consumer
    # died) is kept once; letters stored before schema 0005 have none and stay as they are
    __table_args__ = (sa.Index(None, "digest", unique=True),)

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    received_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(sa.Text)
    body: Mapped[bytes] = mapped_column(sa.LargeBinary)
    headers: Mapped[dict[str, str]] = mapped_column(sa.JSON)
    digest: Mapped[str | None] = mapped_column(sa.String(64))  # SHA-256 of the body, hex


# the largest downtime id the column holds (INTEGER: 32 bits on PostgreSQL)
DOWNTIME_ID_MAX = 2**31 - 1


class Downtime(Base):
    __tablename__ = "downtimes"
    __table_args__ = (sa.Index(None, "endpoint_id", "start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(sa.ForeignKey("endpoints.id"))
    start: Mapped[datetime]
    end: Mapped[datetime]
    scheduled: Mapped[bool]
    description: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime]


class DowntimeVersion(Base):
    """One version of a downtime as it stood from ``recorded_at`` until ``retired_at`` (a
    correction or removal; NULL while it is current). A settled day's A/R reads the versions
    in force at its settlement, so a downtime declared or changed later leaves it alone."""

    __tablename__ = "downtime_versions"
    __table_args__ = (sa.Index(None, "endpoint_id", "start"), sa.Index(None, "downtime_id"))

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    downtime_id: Mapped[int]
    endpoint_id: Mapped[int] = mapped_column(sa.ForeignKey("endpoints.id"))
    start: Mapped[datetime]
    end: Mapped[datetime]
    scheduled: Mapped[bool]
    description: Mapped[str] = mapped_column(sa.Text)
    recorded_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]


class SettledDay(Base):
    """A closed day of a VO (past ARGO's age window: no result can arrive for it any more)
    and the moment its A/R was first computed as such: the rules in force then are the ones
    it is computed with for good, until an applied recomputation settles it again."""

    __tablename__ = "settled_days"

    vo: Mapped[str] = mapped_column(_Key, primary_key=True)
    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    settled_at: Mapped[datetime]


class RuleVersion(Base):
    """One version of a rule document other than a downtime (the groups of sites and their
    weights), from ``recorded_at``, when it was first used, until the next version of its
    ``kind`` and ``name``: what settled days read."""

    __tablename__ = "rule_versions"
    __table_args__ = (sa.Index(None, "kind", "name", "recorded_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(40))
    name: Mapped[str] = mapped_column(_Key)
    fingerprint: Mapped[str] = mapped_column(sa.String(64))  # SHA-256 of the document, hex
    document: Mapped[Any] = mapped_column(sa.JSON)
    recorded_at: Mapped[datetime]


class DailyFigures(Base):
    """The A/R figures of one closed day of a site (``service_type`` '') or of an endpoint
    within its site, for a VO: kept by ``vmsam db prune`` before it removed the results they
    came from (``source`` 'pruned'), or computed once for every site by a report of all of
    them (``source`` 'cache:' and the fingerprint of the profiles used)."""

    __tablename__ = "daily_figures"

    source: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    vo: Mapped[str] = mapped_column(_Key, primary_key=True)
    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    scope: Mapped[str] = mapped_column(sa.String(8), primary_key=True)  # site or endpoint
    site: Mapped[str] = mapped_column(_Key, primary_key=True)  # an endpoint's: where it counted
    name: Mapped[str] = mapped_column(_Key, primary_key=True)
    service_type: Mapped[str] = mapped_column(_Key, primary_key=True)
    availability: Mapped[float] = mapped_column(sa.Float(precision=53))
    reliability: Mapped[float] = mapped_column(sa.Float(precision=53))
    up: Mapped[float] = mapped_column(sa.Float(precision=53))
    unknown: Mapped[float] = mapped_column(sa.Float(precision=53))
    down: Mapped[float] = mapped_column(sa.Float(precision=53))
    up_seconds: Mapped[int]
    unknown_seconds: Mapped[int]
    down_seconds: Mapped[int]
    critical_seconds: Mapped[int]
    total_seconds: Mapped[int]


class FiguredDay(Base):
    """A day whose figures ``daily_figures`` holds for every site and endpoint of a VO, and
    the store as it was when they were computed: the highest result id and the revision.
    A result stored since with a timestamp before the end of the day (or a new revision)
    makes them out of date."""

    __tablename__ = "figured_days"

    source: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    vo: Mapped[str] = mapped_column(_Key, primary_key=True)
    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    newest_result: Mapped[int] = mapped_column(sa.BigInteger)
    revision: Mapped[int] = mapped_column(sa.BigInteger)


class Prune(Base):
    """One ``vmsam db prune``: results before ``before`` were removed (the day before it
    stays, for its carry-over)."""

    __tablename__ = "prunes"

    id: Mapped[int] = mapped_column(primary_key=True)
    before: Mapped[date] = mapped_column(sa.Date)
    pruned_at: Mapped[datetime]
    results_removed: Mapped[int] = mapped_column(sa.BigInteger)


class Revision(Base):
    """A counter that every change other than new results or dead letters moves on (a
    downtime declared, a prune): with the highest result and dead-letter ids it tells the
    API's caches, in any process, that what they hold is out of date."""

    __tablename__ = "revision"

    id: Mapped[int] = mapped_column(primary_key=True)
    value: Mapped[int] = mapped_column(sa.BigInteger)


class AuditRecord(Base):
    """One change made through the API or the CLI (a downtime declared, corrected,
    removed): who, from where, when, and the object before and after, as JSON. Written in
    the transaction of the change itself, so neither is ever kept without the other."""

    __tablename__ = "audit_log"
    __table_args__ = (sa.Index(None, "kind", "object_id"),)

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(sa.String(AUDIT_NAME_MAX))
    client: Mapped[str] = mapped_column(sa.String(AUDIT_NAME_MAX))
    action: Mapped[str] = mapped_column(sa.String(16))
    kind: Mapped[str] = mapped_column(sa.String(40))
    object_id: Mapped[int] = mapped_column(sa.BigInteger)
    before: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)


class AlertState(Base):
    """A space of a site in trouble (CRITICAL or MISSING) as ``vmsam alerts`` last told its
    site's contacts: kept across restarts so that a problem is announced once, reminded at
    its interval until acknowledged, and its recovery announced. Removed on recovery."""

    __tablename__ = "alert_states"
    __table_args__ = (sa.UniqueConstraint("site", "endpoint", "service_type", "vo"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site: Mapped[str] = mapped_column(_Key)
    endpoint: Mapped[str] = mapped_column(_Key)
    service_type: Mapped[str] = mapped_column(_Key)
    vo: Mapped[str] = mapped_column(_Key)
    status: Mapped[str] = mapped_column(sa.String(16))
    since: Mapped[datetime]
    notified_at: Mapped[datetime]
    acked_by: Mapped[str | None] = mapped_column(sa.String(AUDIT_NAME_MAX))
    acked_at: Mapped[datetime | None]


class AlertDelivery(Base):
    """One notification to one contact not delivered yet: written with the state change
    that causes it, removed once sent, so that a failing SMTP server or webhook is retried
    at the next evaluation and delays no other contact."""

    __tablename__ = "alert_outbox"

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    created: Mapped[datetime]
    channel: Mapped[str] = mapped_column(sa.String(16))
    address: Mapped[str] = mapped_column(sa.Text)
    document: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    attempts: Mapped[int]
    last_error: Mapped[str | None] = mapped_column(sa.Text)


class RecomputationRecord(Base):
    """A declared failure of monitoring itself over [start, end) for a VO
    (docs/availability.md#recomputations): while ``state`` is applied, the covered metric
    results inside it count as UNKNOWN. Never removed: a revoked one stays listed."""

    __tablename__ = "recomputations"
    __table_args__ = (sa.Index(None, "vo", "start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    vo: Mapped[str] = mapped_column(_Key)
    reason: Mapped[str] = mapped_column(sa.Text)
    requester: Mapped[str] = mapped_column(sa.String(AUDIT_NAME_MAX))
    requester_email: Mapped[str | None] = mapped_column(sa.String(RECOMPUTATION_EMAIL_MAX))
    start: Mapped[datetime]
    end: Mapped[datetime]
    sites: Mapped[list[str]] = mapped_column(sa.JSON)  # empty: every site of the VO
    metrics: Mapped[list[str]] = mapped_column(sa.JSON)  # empty: every metric
    state: Mapped[str] = mapped_column(sa.String(16))
    source: Mapped[str] = mapped_column(sa.String(RECOMPUTATION_SOURCE_MAX))
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(sa.String(AUDIT_NAME_MAX))


class VmActivity(Base):
    """One VM as VacMon's ``machine_status`` messages told of it: the interval it was seen
    alive in (created or started to its last heartbeat or shutdown), updated in place as
    messages come, so that a month of VMs reporting every few minutes is one row each."""

    __tablename__ = "vm_activity"
    __table_args__ = (
        sa.UniqueConstraint("space", "vm_uuid"),
        sa.Index(None, "space", "last_seen"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    space: Mapped[str] = mapped_column(_Key)
    vm_uuid: Mapped[str] = mapped_column(_Key)
    site: Mapped[str] = mapped_column(_Key)
    factory: Mapped[str] = mapped_column(_Key)
    machinetype: Mapped[str] = mapped_column(_Key)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    state: Mapped[str] = mapped_column(sa.String(40))
    shutdown_message: Mapped[str | None] = mapped_column(sa.Text)


class IdleReport(Base):
    """A stretch in which a factory reported no VM of a space running (``factory_status``,
    or ``machinetype_status`` of one machinetype: ''), each report holding for a while:
    overlapping reports extend one row (a repeated report changes nothing)."""

    __tablename__ = "idle_reports"
    __table_args__ = (sa.Index(None, "space", "factory", "machinetype", "end"),)

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    space: Mapped[str] = mapped_column(_Key)
    site: Mapped[str] = mapped_column(_Key)
    factory: Mapped[str] = mapped_column(_Key)
    machinetype: Mapped[str] = mapped_column(_Key)
    start: Mapped[datetime]
    end: Mapped[datetime]


# the tables for Core statements
SITES = cast(sa.Table, Site.__table__)
ENDPOINTS = cast(sa.Table, Endpoint.__table__)
MEMBERSHIPS = cast(sa.Table, Membership.__table__)
RESULTS = cast(sa.Table, Result.__table__)
SERIES = cast(sa.Table, Series.__table__)
STATUS_CHANGES = cast(sa.Table, StatusChange.__table__)
DEAD_LETTERS = cast(sa.Table, DeadLetter.__table__)
DOWNTIMES = cast(sa.Table, Downtime.__table__)
DOWNTIME_VERSIONS = cast(sa.Table, DowntimeVersion.__table__)
SETTLED_DAYS = cast(sa.Table, SettledDay.__table__)
RULE_VERSIONS = cast(sa.Table, RuleVersion.__table__)
DAILY_FIGURES = cast(sa.Table, DailyFigures.__table__)
FIGURED_DAYS = cast(sa.Table, FiguredDay.__table__)
PRUNES = cast(sa.Table, Prune.__table__)
REVISION = cast(sa.Table, Revision.__table__)
AUDIT = cast(sa.Table, AuditRecord.__table__)
ALERT_STATES = cast(sa.Table, AlertState.__table__)
ALERT_OUTBOX = cast(sa.Table, AlertDelivery.__table__)
RECOMPUTATIONS = cast(sa.Table, RecomputationRecord.__table__)
VM_ACTIVITY = cast(sa.Table, VmActivity.__table__)
IDLE_REPORTS = cast(sa.Table, IdleReport.__table__)
