"""Fixtures of the API tests: a populated store on SQLite and on PostgreSQL, and a real
``vmsam serve`` over it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from tests.api import Server, populate, running_server


@pytest.fixture(scope="session")
def pg_admin(pg_url: str) -> Iterator[sa.Engine]:
    admin = sa.create_engine(
        sa.make_url(pg_url).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    yield admin
    admin.dispose()


def new_pg_database(pg_admin: sa.Engine, pg_url: str) -> tuple[str, str]:
    name = f"vmsam_api_{uuid.uuid4().hex[:12]}"
    with pg_admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    return name, url


def drop_pg_database(pg_admin: sa.Engine, name: str) -> None:
    with pg_admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def empty_pg(pg_admin: sa.Engine, pg_url: str) -> Iterator[tuple[str, str]]:
    """(name, URL) of an empty PostgreSQL database of this test's own."""
    name, url = new_pg_database(pg_admin, pg_url)
    yield name, url
    drop_pg_database(pg_admin, name)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A store holding tests.api.data_set(), on each database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db')}/vmsam.db"
        populate(url)
        yield url
        return
    admin: sa.Engine = request.getfixturevalue("pg_admin")
    name, url = new_pg_database(admin, request.getfixturevalue("pg_url"))
    try:
        populate(url)
        yield url
    finally:
        drop_pg_database(admin, name)


@pytest.fixture(scope="module")
def server(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``vmsam serve`` over the data set, with TOKEN configured for writes."""
    with running_server(db_url, tmp_path_factory.mktemp("serve")) as running:
        yield running


@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The data set on SQLite, served (for the schema fuzzing and the browser)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('db')}/vmsam.db"
    populate(url)
    with running_server(url, tmp_path_factory.mktemp("serve")) as running:
        yield running
