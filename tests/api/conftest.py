"""Fixtures of the API tests: a populated store on SQLite and on PostgreSQL, and a real
``vmsam serve`` over it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.api import TOKEN, Server, populate, running_server
from tests.support.postgres import fresh_database


@pytest.fixture
def empty_pg() -> Iterator[str]:
    """The URL of an empty PostgreSQL database of this test's own."""
    with fresh_database("vmsam_api") as url:
        yield url


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A store holding tests.support.api.data_set(), on each database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db')}/vmsam.db"
        populate(url)
        yield url
        return
    with fresh_database("vmsam_api") as url:
        populate(url)
        yield url


# the groups of sites of /api/v1/ar/groups: the data set's sites, and one it does not hold
GROUPS = """
[[groups]]
name = "ALL"
kind = "federation"
sites = ["SITE-A", "SITE-B", "SITE-AR", "SITE-DT", "SITE-ELSEWHERE"]
weights = { SITE-A = 10 }
"""


@pytest.fixture(scope="module")
def server(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``vmsam serve`` over the data set, with TOKEN configured for writes and GROUPS."""
    directory = tmp_path_factory.mktemp("serve")
    groups = directory / "groups.toml"
    groups.write_text(GROUPS)
    config = f'[api]\ntoken = "{TOKEN}"\ngroups = "{groups}"\n'
    with running_server(db_url, directory, config_text=config) as running:
        yield running


@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The data set on SQLite, served (for the schema fuzzing and the browser)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('db')}/vmsam.db"
    populate(url)
    with running_server(url, tmp_path_factory.mktemp("serve")) as running:
        yield running
