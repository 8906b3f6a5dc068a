"""One evaluation: the current status of every space against what its site's contacts were
last told; the notifications that follows, grouped by site; then the outbox delivered."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from vmsam.server.alerts._contacts import Contacts
from vmsam.server.alerts._evaluate import PROBLEMS, SpaceStatus, current_statuses
from vmsam.server.alerts._send import EMAIL, WEBHOOK, DeliveryFailed, Senders
from vmsam.server.availability import Profiles
from vmsam.server.store import Actor, AlertChanges, AnnouncedAlert, SpaceKey, Store
from vmsam.shared.errors import ReportError, StoreError

log = logging.getLogger("vmsam.alerts")

PROBLEM = "problem"
REMINDER = "reminder"
RECOVERED = "recovered"
GIVE_UP_AFTER = timedelta(days=1)
"""A notification still not delivered this long after it was due is dropped (logged)."""


@dataclass(frozen=True)
class Event:
    space: SpaceStatus
    event: str
    since: datetime

    def as_json(self) -> dict[str, str]:
        return {
            "endpoint": self.space.endpoint,
            "service_type": self.space.service_type,
            "vo": self.space.vo,
            "event": self.event,
            "status": self.space.status,
            "since": _iso(self.since),
        }


@dataclass(frozen=True)
class PassReport:
    events: int
    messages: int
    delivered: int
    failed: int
    dropped: int


def run_once(
    store: Store,
    contacts: Contacts,
    senders: Senders,
    *,
    now: datetime,
    profiles: Profiles | None = None,
) -> PassReport:
    """Evaluate, store the changes with the notifications they cause, deliver the outbox."""
    current = current_statuses(store, now=now, profiles=profiles)
    events, announced = _evaluate(store.announced_alerts(), current, now, contacts)
    deliveries = [
        delivery
        for site, site_events in _by_site(events).items()
        for delivery in _deliveries(contacts, site, site_events, now)
    ]
    recovered = [e.space.key for e in events if e.event == RECOVERED]
    store.record_alerts(AlertChanges(announced, recovered, deliveries), now=now)
    delivered, failed, dropped = _deliver(store, senders, now)
    return PassReport(len(events), len(deliveries), delivered, failed, dropped)


def run_forever(
    store: Store,
    contacts: Contacts,
    senders: Senders,
    *,
    interval: float,
    profiles: Profiles | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """An evaluation every ``interval`` seconds; a database that fails is logged and tried
    again at the next one."""
    while True:
        try:
            report = run_once(store, contacts, senders, now=clock(), profiles=profiles)
        except StoreError as exc:
            log.warning("alerts: evaluation skipped: %s", exc)
        else:
            if report.events or report.failed:
                log.info("alerts: %s", report)
        sleep(interval)


def acknowledge(
    store: Store, site: str, endpoint: str | None, by: Actor, *, now: datetime
) -> list[SpaceKey]:
    """Stop the reminders of the open alerts of ``site`` (of ``endpoint`` alone if given);
    ReportError when there is none to acknowledge."""
    done = store.acknowledge_alerts(site, endpoint, by=by, now=now)
    if not done:
        which = f"space {endpoint!r:.80} of site" if endpoint else "site"
        raise ReportError(f"no unacknowledged alert of {which} {site!r:.80}")
    return done


def _evaluate(
    announced: Mapping[SpaceKey, AnnouncedAlert],
    current: Mapping[SpaceKey, SpaceStatus],
    now: datetime,
    contacts: Contacts,
) -> tuple[list[Event], dict[SpaceKey, AnnouncedAlert]]:
    """The events of this evaluation and the spaces whose announced state changes."""
    events: list[Event] = []
    changed: dict[SpaceKey, AnnouncedAlert] = {}
    for key, space in sorted(current.items()):
        before = announced.get(key)
        if space.status not in PROBLEMS:
            if before is not None:
                events.append(Event(space, RECOVERED, before.since))
            continue
        if before is None or before.status != space.status:
            events.append(Event(space, PROBLEM, now))
            changed[key] = AnnouncedAlert(space.status, now, now, None)
        elif _reminder_due(before, now, contacts.reminder):
            events.append(Event(space, REMINDER, before.since))
            changed[key] = AnnouncedAlert(space.status, before.since, now, None)
    return events, changed


def _reminder_due(before: AnnouncedAlert, now: datetime, every: timedelta | None) -> bool:
    return before.acked_by is None and every is not None and now - before.notified_at >= every


def _by_site(events: list[Event]) -> dict[str, list[Event]]:
    grouped: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        grouped[event.space.site].append(event)
    return grouped


def _deliveries(
    contacts: Contacts, site: str, events: list[Event], now: datetime
) -> list[tuple[str, str, dict[str, Any]]]:
    """One message per contact of the site listing every space of this evaluation."""
    document = _document(site, events, now)
    reach = contacts.of(site)
    return [(EMAIL, address, document) for address in reach.emails] + [
        (WEBHOOK, url, document) for url in reach.webhooks
    ]


def _document(site: str, events: list[Event], now: datetime) -> dict[str, Any]:
    counts: dict[str, int] = defaultdict(int)
    for event in events:
        counts[event.event] += 1
    parts = [
        f"{counts[kind]} space{'s' if counts[kind] > 1 else ''} {label}"
        for kind, label in (
            (PROBLEM, "CRITICAL or MISSING"),
            (REMINDER, "still CRITICAL or MISSING"),
            (RECOVERED, "recovered"),
        )
        if counts[kind]
    ]
    return {
        "site": site,
        "at": _iso(now),
        "summary": f"{site}: {', '.join(parts)}",
        "spaces": [event.as_json() for event in events],
    }


def _deliver(store: Store, senders: Senders, now: datetime) -> tuple[int, int, int]:
    """Try every notification of the outbox once; one that fails waits for the next
    evaluation and delays no other."""
    delivered: list[int] = []
    dropped: list[int] = []
    failed: dict[int, str] = {}
    for delivery in store.pending_alerts():
        try:
            senders.deliver(delivery.channel, delivery.address, delivery.document)
        except DeliveryFailed as exc:
            if now - delivery.created >= GIVE_UP_AFTER:
                log.warning(
                    "alerts: %s to %s dropped after %d attempts: %s",
                    delivery.channel,
                    delivery.address,
                    delivery.attempts + 1,
                    exc,
                )
                dropped.append(delivery.id)
            else:
                log.warning(
                    "alerts: %s to %s not delivered, retried at the next evaluation: %s",
                    delivery.channel,
                    delivery.address,
                    exc,
                )
                failed[delivery.id] = str(exc)
        else:
            delivered.append(delivery.id)
    store.settle_alerts([*delivered, *dropped], failed)
    return len(delivered), len(failed), len(dropped)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
