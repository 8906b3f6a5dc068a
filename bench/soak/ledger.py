"""The publishers' own record: every valid result a simulated VM spooled (by its identity,
docs/messages.md "Identity of a result") and every hostile body sent (by a digest of the
body as a dead letter gives it back), kept apart from the store so the two can be compared."""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from vmsam.server.availability import DowntimeWindow, Sample
from vmsam.server.store import StoredResult
from vmsam.shared.messages import MetricResult

# endpoint, service type, metric, timestamp, gatheredAt, VM UUID
Identity = tuple[str, str, str, datetime, str, str]


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def identity(result: MetricResult) -> Identity:
    return (
        result.host_name,
        result.service_type,
        result.metric_name,
        _utc(result.timestamp),
        result.gathered_at,
        result.vm_uuid or "",
    )


def stored_identity(result: StoredResult) -> Identity:
    return (
        result.endpoint,
        result.service_type,
        result.metric,
        _utc(result.timestamp),
        result.gathered_at,
        result.vm_uuid or "",
    )


def marker(body: bytes) -> str:
    """The digest of ``body`` as the store returns a dead letter's (undecodable bytes
    escaped with backslashreplace), so that a sent body and its dead letter match."""
    return hashlib.sha256(body.decode("utf-8", "backslashreplace").encode()).hexdigest()


@dataclass(frozen=True)
class ValidResult:
    site: str
    vo: str
    sample: Sample


@dataclass
class Ledger:
    valid: dict[Identity, ValidResult] = field(default_factory=dict)
    # marker -> the kind of hostile message
    hostile: dict[str, str] = field(default_factory=dict)
    # declared by the site's admins (in the store through its API, here as they meant it)
    downtimes: list[DowntimeWindow] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_valid(self, result: MetricResult) -> None:
        sample = Sample(
            result.host_name,
            result.service_type,
            result.metric_name,
            _utc(result.timestamp),
            result.status,
        )
        with self._lock:
            self.valid[identity(result)] = ValidResult(result.site_name, result.vo or "", sample)

    def add_hostile(self, body: bytes, kind: str) -> bool:
        """False when an equal body was recorded already (the caller makes another)."""
        key = marker(body)
        with self._lock:
            if key in self.hostile:
                return False
            self.hostile[key] = kind
            return True

    def hostile_kinds(self) -> Counter[str]:
        with self._lock:
            return Counter(self.hostile.values())
