"""Storing results the way the consumer does: real records, encoded and saved."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tests import builders
from vmsam.server.availability import Sample
from vmsam.server.store import Received, Store
from vmsam.shared.messages import MetricResult, encode

VO = "dteam"
VAC = "uk.ac.gridpp.vac"
VCYCLE = "uk.ac.gridpp.vcycle"
TESTS = ("cvmfs", "middleware", "scratch", "mjf")
DAY = date(2024, 3, 5)
# well after every day the tests look at, so that all of them are whole days
LATER = datetime(2024, 6, 1, tzinfo=UTC)


def at(hours: float, day: date = DAY) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(hours=hours)


def record(
    host: str,
    moment: datetime,
    status: str,
    *,
    vo: str = VO,
    vm: str = "vm-1",
    **fields: Any,
) -> MetricResult:
    return builders.result(
        host=host,
        at=moment,
        status=status,
        vo=vo,
        vm=vm,
        gathered_at=f"{vm}.example.org",
        summary=status.lower(),
        **fields,
    )


def save(store: Store, results: Iterable[MetricResult]) -> list[Sample]:
    """Store ``results`` as received messages; the engine's view of the same results."""
    results = list(results)
    report = store.save([Received(encode(r).encode(), {}, r.timestamp, result=r) for r in results])
    assert report.dead_letters == 0
    return [
        Sample(r.host_name, r.service_type, r.metric_name, r.timestamp, r.status) for r in results
    ]


def vm_boot(
    host: str,
    moment: datetime,
    status: str = "OK",
    *,
    tests: Iterable[str] = TESTS,
    vm: str | None = None,
    site: str = "SITE-A",
    service_type: str = VAC,
    vo: str = VO,
) -> list[MetricResult]:
    """The results of one tested VM: every test, in the same second."""
    name = vm or f"vm-{host}-{moment:%Y%m%d%H%M%S}"
    return [
        record(
            host, moment, status, test=test, site=site, service_type=service_type, vo=vo, vm=name
        )
        for test in tests
    ]


def rows(document: dict[str, object]) -> list[dict[str, Any]]:
    """The ``results`` of an A/R document."""
    results = document["results"]
    assert isinstance(results, list)
    return results
