"""Fixtures of the report tests: every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from vmsam.server.store import Store


@pytest.fixture(scope="session")
def reports_pg_url(pg_url: str) -> Iterator[str]:
    """A PostgreSQL database for these tests only, emptied before each test."""
    admin = sa.create_engine(
        sa.make_url(pg_url).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    name = f"vmsam_reports_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield sa.make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


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
