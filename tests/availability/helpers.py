"""Small builders for the availability tests."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from vmsam.server.availability import Engine, Membership, Sample

VO = "dteam"
VAC = "uk.ac.gridpp.vac"
ARC = "ARC-CE"
METRICS = tuple(f"org.{VO}.WN-{test}" for test in ("cvmfs", "middleware", "scratch", "mjf"))
DAY = date(2024, 3, 5)
ENGINE = Engine()


def at(hours: float, day: date = DAY) -> datetime:
    """``hours`` after 00:00 UTC of ``day`` (may be negative or beyond 24)."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(hours=hours)


def day(offset: int) -> date:
    return DAY + timedelta(days=offset)


def results(
    endpoint: str,
    points: Iterable[tuple[datetime, str]],
    *,
    service_type: str = VAC,
    metrics: Iterable[str] = METRICS,
) -> list[Sample]:
    """The same statuses at the same times for every one of ``metrics``."""
    points = list(points)
    return [
        Sample(endpoint, service_type, metric, moment, status)
        for metric in metrics
        for moment, status in points
    ]


def member(
    endpoint: str, first_seen: datetime, *, service_type: str = VAC, site: str = "SITE"
) -> Membership:
    return Membership(endpoint, service_type, site, VO, first_seen)
