"""Opening the database: the engine with SQLite's and PostgreSQL's settings, the schema
upgrade (Alembic), and the translation of driver errors into one-line ``StoreError``s."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine

from vmsam.shared.errors import DatabaseURLError, StoreError

DEFAULT_DB = "sqlite:///vmsam.db"
MIGRATIONS = Path(__file__).parent / "migrations"

# how long a SQLite writer waits for another one before giving up
_SQLITE_BUSY_MS = 30_000
# a PostgreSQL server that accepts TCP but never answers must not hang the caller
_PG_CONNECT_TIMEOUT_S = 10
# the key of the advisory lock that serialises schema upgrades of several processes
_UPGRADE_LOCK = 0x766D73616D  # "vmsam"
# execution option: BEGIN IMMEDIATE on SQLite, so that a writer takes the write lock before
# it reads (a deferred transaction that reads first cannot wait for the lock: it fails)
WRITE = {"vmsam_write": True}


def resolve_url(url: str | None) -> str:
    return url or os.environ.get("VMSAM_DB") or DEFAULT_DB


def _shown(url: str) -> str:
    """A URL that could not be parsed, for a message: without what may be a password."""
    scheme, separator, rest = url.partition("://")
    if separator and "@" in rest:
        rest = "***@" + rest.rpartition("@")[2]
    return repr(f"{scheme}{separator}{rest}"[:200])


def _driver_url(url: str) -> URL:
    try:
        parsed = sa.make_url(url)
    # ValueError: a port that is not a number (postgresql://h:port/db)
    except (sa.exc.ArgumentError, ValueError):
        raise DatabaseURLError(
            f"not a database URL: {_shown(url)} (sqlite:///PATH or postgresql://USER@HOST/DB)"
        ) from None
    # only psycopg 3 is installed: a bare postgresql:// would ask for psycopg2
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise DatabaseURLError(
            f"unsupported database {parsed.drivername!r}: use sqlite or postgresql"
        )
    return parsed


def create_engine(url: str) -> Engine:
    parsed = _driver_url(url)
    try:
        if parsed.get_backend_name() == "sqlite":
            return _sqlite_engine(parsed)
        return sa.create_engine(
            parsed,
            pool_pre_ping=True,
            use_insertmanyvalues=False,
            connect_args={
                "connect_timeout": _PG_CONNECT_TIMEOUT_S,
                "options": "-c timezone=UTC",
            },
        )
    # NoSuchModuleError: a driver SQLAlchemy does not know (postgresql+nosuch://)
    except (ImportError, sa.exc.NoSuchModuleError) as exc:
        raise DatabaseURLError(f"no driver for {parsed.drivername}: {reason(exc)}") from None


def _sqlite_engine(url: URL) -> Engine:
    engine = sa.create_engine(url)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # the driver's own transaction handling emits no BEGIN before DDL or reads; let
        # SQLAlchemy's begin event below do it (the documented pysqlite recipe)
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {_SQLITE_BUSY_MS}")
        _use_wal(cursor)
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        write = connection.get_execution_options().get("vmsam_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _use_wal(cursor: Any) -> None:
    """WAL mode, which stays with the file once set. Setting it needs the database to
    itself, and SQLite then answers "locked" at once instead of waiting: so wait here."""
    import sqlite3

    deadline = time.monotonic() + _SQLITE_BUSY_MS / 1000
    while cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return  # an in-memory database stays in its "memory" mode
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def reason(exc: BaseException) -> str:
    """The first line of the driver's message."""
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip() or type(original).__name__
    return text.splitlines()[0]


def describe(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


@contextlib.contextmanager
def translated(engine: Engine, action: str) -> Iterator[None]:
    """Driver and connection errors become ``StoreError("cannot <action> ...: <reason>")``."""
    # the driver's own errors too: the PostgreSQL writer uses psycopg's COPY directly
    errors = (sa.exc.SQLAlchemyError, OSError, engine.dialect.loaded_dbapi.Error)
    try:
        yield
    except errors as exc:
        raise StoreError(f"cannot {action} in {describe(engine)}: {reason(exc)}") from None


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``; a no-op when it is there already. Several processes
    may call it at once: they take turns."""
    with (
        translated(engine, "upgrade the schema"),
        engine.connect().execution_options(**WRITE) as connection,
        connection.begin(),
    ):
        if engine.dialect.name == "postgresql":
            connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_UPGRADE_LOCK)))
        _run_alembic(connection, "upgrade", revision)


def downgrade(engine: Engine, revision: str) -> None:
    with (
        translated(engine, "downgrade the schema"),
        engine.connect().execution_options(**WRITE) as connection,
        connection.begin(),
    ):
        _run_alembic(connection, "downgrade", revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.migration import MigrationContext

    with translated(engine, "read the schema version"), engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _run_alembic(connection: Connection, verb: str, revision: str) -> None:
    from alembic import command
    from alembic.config import Config
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from alembic.util.exc import CommandError

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    if verb == "upgrade" and revision == "head":
        heads = set(ScriptDirectory.from_config(config).get_heads())
        if set(MigrationContext.configure(connection).get_current_heads()) == heads:
            return
    try:
        getattr(command, verb)(config, revision)
    except CommandError as exc:
        raise StoreError(f"cannot {verb} the schema to {revision}: {reason(exc)}") from None
