"""The schema by Alembic, run from the package: fresh upgrade, idempotent upgrade, round trip,
the migrations matching the models, concurrent first use, ``vmsam db upgrade``."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from tests.store.conftest import TABLES, result
from vmsam.server.store import Received, Store, StoreError
from vmsam.server.store._engine import MIGRATIONS, current_revision, downgrade, upgrade
from vmsam.server.store._models import (
    DOWNTIME_VERSIONS,
    DOWNTIMES,
    ENDPOINTS,
    RESULTS,
    SERIES,
    SITES,
    STATUS_CHANGES,
    Base,
)

BIN = Path(sys.executable).parent


def head() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    (only,) = ScriptDirectory.from_config(config).get_heads()
    return only


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/fresh.db"
    url: str = request.getfixturevalue("fresh_pg_url")
    return url


def tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_a_fresh_database_is_upgraded_on_first_use(empty_url):
    store = Store(empty_url)
    assert tables(store.engine) == set()
    assert store.results() == (0, [])
    assert tables(store.engine) == {*TABLES, "alembic_version"}
    assert current_revision(store.engine) == head()
    store.close()


def test_a_second_upgrade_changes_nothing(empty_url):
    store = Store(empty_url)
    store.upgrade()
    store.add_downtime("vac01", "uk.ac.gridpp.vac", *_period())
    again = Store(empty_url)
    again.upgrade()
    assert current_revision(again.engine) == head()
    assert len(again.downtimes()) == 1
    store.close()
    again.close()


def test_downgrade_and_upgrade_round_trip(empty_url):
    store = Store(empty_url)
    store.upgrade()
    downgrade(store.engine, "base")
    assert tables(store.engine) == {"alembic_version"}
    assert current_revision(store.engine) is None
    upgrade(store.engine)
    assert tables(store.engine) == {*TABLES, "alembic_version"}
    store.close()


def test_the_migrations_build_exactly_the_models(empty_url):
    store = Store(empty_url)
    store.upgrade()
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []
    store.close()


def test_many_processes_may_open_a_fresh_database_at_once(empty_url):
    stores = [Store(empty_url) for _ in range(4)]
    errors: list[BaseException] = []

    def first_use(store: Store) -> None:
        try:
            store.vos()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first_use, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert current_revision(stores[0].engine) == head()
    for store in stores:
        store.close()


def test_an_unknown_revision_is_a_store_error(tmp_path):
    store = Store(f"sqlite:///{tmp_path}/x.db")
    with pytest.raises(StoreError, match="cannot upgrade the schema"):
        upgrade(store.engine, "no-such-revision")


def test_vmsam_db_upgrade(empty_url):
    done = subprocess.run(
        [str(BIN / "vmsam"), "db", "upgrade", "--db", empty_url],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "up to date" in done.stdout
    engine = sa.create_engine(empty_url.replace("postgresql://", "postgresql+psycopg://"))
    assert current_revision(engine) == head()
    engine.dispose()


def test_vmsam_db_upgrade_of_an_unreachable_database_says_why_in_one_line():
    done = subprocess.run(
        [str(BIN / "vmsam"), "db", "upgrade", "--db", "postgresql://u:pw@127.0.0.1:1/x"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 75
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("vmsam db upgrade: cannot upgrade the schema")
    assert "Traceback" not in done.stderr


def _period():
    from datetime import UTC, datetime, timedelta

    start = datetime(2026, 3, 1, tzinfo=UTC)
    return start, start + timedelta(hours=1)


def test_downtimes_stored_before_versions_become_their_first_versions(empty_url):
    engine = sa.create_engine(empty_url)
    upgrade(engine, "0008")
    declared = datetime(2024, 3, 1, 9, tzinfo=UTC)
    start, end = datetime(2024, 3, 5, tzinfo=UTC), datetime(2024, 3, 6, tzinfo=UTC)
    with engine.begin() as connection:
        connection.execute(sa.insert(ENDPOINTS), {"id": 1, "hostname": "h", "service_type": "t"})
        connection.execute(
            sa.insert(DOWNTIMES),
            {
                "id": 7,
                "endpoint_id": 1,
                "start": start,
                "end": end,
                "scheduled": True,
                "description": "before 0009",
                "created_at": declared,
            },
        )
    upgrade(engine)
    with engine.connect() as connection:
        versions = connection.execute(
            sa.select(
                DOWNTIME_VERSIONS.c.downtime_id,
                DOWNTIME_VERSIONS.c.start,
                DOWNTIME_VERSIONS.c.end,
                DOWNTIME_VERSIONS.c.recorded_at,
                DOWNTIME_VERSIONS.c.retired_at,
            )
        ).all()
    engine.dispose()
    assert [tuple(row) for row in versions] == [(7, start, end, declared, None)]


def test_results_stored_before_0010_are_judged_into_status_changes(empty_url):
    engine = sa.create_engine(empty_url)
    upgrade(engine, "0009")
    day = datetime(2024, 3, 5, tzinfo=UTC)
    # OK, OK (a repeat), CRITICAL, then OK the next day: all but the repeat are changes
    history = [(0, "OK"), (1, "OK"), (2, "CRITICAL"), (25, "OK")]
    with engine.begin() as connection:
        connection.execute(sa.insert(SITES), {"id": 1, "name": "SITE-A"})
        connection.execute(
            sa.insert(ENDPOINTS),
            {"id": 1, "hostname": "vac01.example.org", "service_type": "uk.ac.gridpp.vac"},
        )
        connection.execute(sa.insert(SERIES).values(endpoint_id=1, metric="org.lhcb.WN-cvmfs"))
        connection.execute(
            sa.insert(RESULTS),
            [
                {
                    "endpoint_id": 1,
                    "site_id": 1,
                    "metric": "org.lhcb.WN-cvmfs",
                    "vo": "lhcb",
                    "status": status,
                    "timestamp": day + timedelta(hours=hour),
                    "gathered_at": f"vm{hour}",
                    "vm_uuid": f"vm{hour}",
                    "machinetype": "pilot",
                    "summary": "",
                    "details": "",
                    "received_at": day,
                }
                for hour, status in history
            ],
        )
    upgrade(engine)
    with engine.connect() as connection:
        changes = connection.execute(
            sa.select(STATUS_CHANGES.c.timestamp, STATUS_CHANGES.c.status).order_by(
                STATUS_CHANGES.c.timestamp
            )
        ).all()
        head = connection.execute(
            sa.select(SERIES.c.head_timestamp, SERIES.c.head_status, SERIES.c.head_paired)
        ).one()
    engine.dispose()
    assert [(row.timestamp - day, row.status) for row in changes] == [
        (timedelta(hours=hour), status) for hour, status in history if hour != 1
    ]
    assert tuple(head) == (day + timedelta(hours=25), "OK", False)
    # the next result is judged against the newest one the migration kept
    with Store(empty_url) as store:
        later = result(
            host="vac01.example.org", site="SITE-A", status="CRITICAL", at=day + timedelta(hours=26)
        )
        store.save([Received(b"{}", {}, later.timestamp, result=later)])
        loaded = store.timeline_input(start=day, end=day + timedelta(days=2), vo="lhcb")
    assert [(r.timestamp - day, r.status) for r in sorted(loaded.results)][-2:] == [
        (timedelta(hours=25), "OK"),
        (timedelta(hours=26), "CRITICAL"),
    ]
