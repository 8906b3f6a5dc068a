"""UTC instants: naive datetimes from the store are taken as UTC."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta


def as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def epoch(moment: datetime) -> int:
    """Whole seconds since the epoch (a fraction of a second counts for its second)."""
    # timestamp() honours any offset; only a naive datetime needs UTC attached
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return math.floor(moment.timestamp())


def dates(start: date, end: date) -> Iterator[date]:
    """Every day from ``start`` to ``end``, inclusive."""
    day = start
    while day <= end:
        yield day
        day += timedelta(days=1)
