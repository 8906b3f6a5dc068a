"""Fixtures of the report tests: every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from tests.support.postgres import fresh_database
from vmsam.server.store import Store


@pytest.fixture(scope="session")
def reports_pg_url() -> Iterator[str]:
    """A PostgreSQL database for these tests only, emptied before each test."""
    with fresh_database("vmsam_reports") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """An empty store on each database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/vmsam.db"
    url: str = request.getfixturevalue("reports_pg_url")
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        tables = [t for t in sa.inspect(connection).get_table_names() if t != "alembic_version"]
        if tables:
            connection.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    opened = Store(db_url)
    yield opened
    opened.close()
