"""The soak (bench/soak) in short: a minute of simulated VMs publishing signed results
through the real ActiveMQ to two real consumers on a PostgreSQL server of its own, with the
broker, a consumer and the database each killed and restarted once and hostile messages
injected; and the comparison it ends with, shown to fail when the store and the record
disagree."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bench.soak.__main__ import parse
from bench.soak.compare import compare
from bench.soak.faults import FAULT_KINDS
from bench.soak.hostile import KINDS
from bench.soak.ledger import Ledger
from bench.soak.run import Outcome, Plan, run
from tests.support.consumer import database
from vmsam.server.store import Received, Store
from vmsam.shared.messages import MetricResult, encode

SITE, SPACE = "UKI-SOAK-A", "vac01.a.soak.example.org"


def test_a_short_soak_with_every_fault_keeps_every_message_once() -> None:
    plan = Plan(
        minutes=1,
        boots_per_second=1.5,
        hostile=0.01,
        seed=13,
        faults=FAULT_KINDS,
        faults_per_kind=1,
    )
    outcome = run(plan, say=lambda line: None)
    c = outcome.comparison
    failed = [name for name, passed in outcome.checks() if not passed]
    assert failed == [], (failed, outcome.errors, c.wrong_reason)
    assert sorted(done.fault.kind for done in outcome.faults) == sorted(FAULT_KINDS)
    assert c.valid == outcome.valid_published == 4 * plan.boots
    assert (c.stored_once, c.lost, c.duplicated, c.unexpected) == (c.valid, 0, 0, 0)
    assert c.hostile == outcome.hostile_published == plan.hostile_count
    assert (c.dead_lettered, c.hostile_missing, c.not_hostile) == (c.hostile, 0, 0)
    assert set(c.reasons) == set(KINDS)
    assert c.ar_equal
    # the day's figures are made of the results (not the trivial ones of an empty store),
    # and the first site's downtime counts in its reliability
    day = c.ar[0].from_store[0]
    availability, reliability = float(str(day["availability"])), float(str(day["reliability"]))
    assert 0 < availability < reliability <= 100


def _result(i: int, day: datetime) -> MetricResult:
    return MetricResult(
        service_uri=SPACE,
        host_name=SPACE,
        service_flavour="uk.ac.gridpp.vac",
        site_name=SITE,
        status="CRITICAL" if i % 3 == 0 else "OK",
        metric_name="org.dteam.WN-cvmfs",
        summary=f"result {i}",
        gathered_at=f"vm{i}.{SPACE}",
        timestamp=day + timedelta(hours=2 * i),
        service_type="uk.ac.gridpp.vac",
        vo_name="dteam",
        vm_uuid=f"00000000-0000-4000-8000-{i:012d}",
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[Store]:
    with database(request.param, tmp_path) as url:
        opened = Store(url)
        try:
            yield opened
        finally:
            opened.close()


def test_the_comparison_finds_what_is_lost_got_in_or_was_not_dead_lettered(store) -> None:
    """A store that lacks one valid result, holds one nobody published and misses one
    hostile body fails the checks those figures feed, A/R included."""
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(1)
    ledger = Ledger()
    results = [_result(i, day) for i in range(6)]
    for result in results:
        ledger.add_valid(result)
    hostile = [b"\xff\xfe not a record", b"MIME-Version: 1.0\r\ncut"]
    for body in hostile:
        ledger.add_hostile(body, "random bytes")
    intruder = _result(9, day)
    saved = [Received.parse(encode(r)) for r in [*results[1:], intruder]]
    saved.append(Received(hostile[0], error="unsigned message refused (policy reject)"))
    store.save(saved)
    now = datetime.now(UTC)
    c = compare(ledger, store, [SITE], "dteam", start=day.date(), end=now.date(), now=now)
    assert (c.valid, c.stored_once, c.lost, c.unexpected, c.duplicated) == (6, 5, 1, 1, 0)
    assert (c.dead_lettered, c.hostile_missing, c.not_hostile) == (1, 1, 0)
    assert not c.ar_equal
    outcome = Outcome(Plan(1, 1, 0.01, 1, (), 0), comparison=c, drained=True)
    failed = {name for name, passed in outcome.checks() if not passed}
    assert failed == {
        "every valid message stored exactly once",
        "lost 0",
        "no hostile message stored",
        "every hostile message dead-lettered",
        "A/R from the store == A/R from the record",
    }


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--faults", "broker,cpu"], "unknown fault cpu"),
        (["--hostile", "1.5"], "not a fraction"),
        (["--sites", "1"], "--sites must be 2 to 26"),
    ],
)
def test_bad_arguments_are_one_line_errors(argv, words, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        parse(argv)
    assert exited.value.code == 2
    assert words in capsys.readouterr().err
