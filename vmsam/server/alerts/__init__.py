"""Alerts to site admins: a space turning CRITICAL or MISSING, its reminders until
acknowledged, and its recovery, e-mailed and posted to the contacts of its site; every
space of a site that changes in one evaluation goes into one message per contact.

The state (the spaces in trouble as last announced, the notifications not delivered yet)
is kept in the store's tables ``alert_states`` and ``alert_outbox`` (migration 0006).
"""

from __future__ import annotations

from vmsam.server.alerts._contacts import Contacts, SiteContacts, contacts_toml, load_contacts
from vmsam.server.alerts._evaluate import PROBLEMS, SpaceStatus, current_statuses
from vmsam.server.alerts._run import PassReport, acknowledge, run_forever, run_once
from vmsam.server.alerts._send import Senders

__all__ = [
    "PROBLEMS",
    "Contacts",
    "PassReport",
    "Senders",
    "SiteContacts",
    "SpaceStatus",
    "acknowledge",
    "contacts_toml",
    "current_statuses",
    "load_contacts",
    "run_forever",
    "run_once",
]
