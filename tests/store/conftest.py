"""Fixtures of the store tests: every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.builders import NOW, result

# the store tests take the shared result builder from here
__all__ = ["NOW", "TABLES", "hours", "result"]

TABLES = ("downtimes", "dead_letters", "series", "results", "memberships", "endpoints", "sites")


def _admin(pg_url: str) -> sa.Engine:
    return sa.create_engine(
        sa.make_url(pg_url).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )


@pytest.fixture(scope="session")
def pg_server(pg_url: str) -> Iterator[sa.Engine]:
    admin = _admin(pg_url)
    yield admin
    admin.dispose()


@pytest.fixture
def fresh_pg_url(pg_server: sa.Engine, pg_url: str) -> Iterator[str]:
    """An empty PostgreSQL database of this test's own."""
    name = f"vmsam_store_{uuid.uuid4().hex[:12]}"
    with pg_server.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield sa.make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    with pg_server.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def store_pg_url(pg_server: sa.Engine, pg_url: str) -> Iterator[str]:
    """A PostgreSQL database for the store tests only, emptied before each test."""
    name = f"vmsam_store_{uuid.uuid4().hex[:12]}"
    with pg_server.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield sa.make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    with pg_server.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """An empty store on each database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/vmsam.db"
    url: str = request.getfixturevalue("store_pg_url")
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        if sa.inspect(connection).has_table("results"):
            connection.execute(sa.text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


@pytest.fixture
def store(db_url: str):
    from vmsam.server.store import Store

    opened = Store(db_url)
    yield opened
    opened.close()


def hours(count: float) -> timedelta:
    return timedelta(hours=count)
