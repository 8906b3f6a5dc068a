"""Databases of the tests' own on the test PostgreSQL server.

``VMSAM_TEST_PG`` is the URL of a database on that server that the tests may connect to as a
user allowed to create databases (``make test`` starts a server when none runs).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

ADMIN_URL = os.environ.get(
    "VMSAM_TEST_PG", "postgresql+psycopg://postgres:postgres@127.0.0.1:5432/postgres"
)


def _admin() -> sa.Engine:
    return sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")


@contextlib.contextmanager
def fresh_database(prefix: str = "vmsam_test") -> Iterator[str]:
    """The URL of a new, empty database named ``<prefix>_<random>``, dropped afterwards
    (also when the test dropped it already)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = _admin()
    try:
        try:
            with admin.connect() as connection:
                connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        except sa.exc.OperationalError as exc:
            pytest.fail(f"PostgreSQL is not reachable at {ADMIN_URL} (run 'make test'): {exc}")
        try:
            yield sa.make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        finally:
            _drop(admin, name)
    finally:
        admin.dispose()


def drop_database(url: str) -> None:
    """Drop the database of ``url`` now, whoever is connected to it."""
    name = sa.make_url(url).database
    assert name, f"no database in {url}"
    admin = _admin()
    try:
        _drop(admin, name)
    finally:
        admin.dispose()


def _drop(admin: sa.Engine, name: str) -> None:
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
