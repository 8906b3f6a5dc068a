"""Fixtures of the store tests: every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.builders import NOW, result
from tests.support.postgres import fresh_database

# the store tests take the shared result builder from here
__all__ = ["NOW", "TABLES", "hours", "result"]

TABLES = (
    "downtimes",
    "downtime_versions",
    "settled_days",
    "rule_versions",
    "dead_letters",
    "series",
    "status_changes",
    "results",
    "memberships",
    "endpoints",
    "sites",
    "daily_figures",
    "figured_days",
    "prunes",
    "revision",
    "audit_log",
    "alert_states",
    "alert_outbox",
    "recomputations",
    "vm_activity",
    "idle_reports",
)


@pytest.fixture
def fresh_pg_url() -> Iterator[str]:
    """An empty PostgreSQL database of this test's own."""
    with fresh_database("vmsam_store") as url:
        yield url


@pytest.fixture(scope="session")
def store_pg_url() -> Iterator[str]:
    """A PostgreSQL database for the store tests only, emptied before each test."""
    with fresh_database("vmsam_store") as url:
        yield url


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
