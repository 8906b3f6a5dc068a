"""POST /api/v1/alerts/ack through a real ``vmsam serve`` on SQLite and PostgreSQL: the
token is needed, the acknowledgement stops the reminders and is in the audit log."""

from __future__ import annotations

import re
from datetime import timedelta

from tests.alerts.test_alerts import NOON, REMINDER, SITE, SPACES, boot, contacts, senders
from tests.reports.helpers import VAC, VO, at
from tests.support.api import TOKEN, running_server
from vmsam.server.alerts import run_once

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_the_api_acknowledges_a_sites_alerts(store, db_url, smtp, webhook, tmp_path):
    port, mailbox = smtp
    url, _ = webhook
    boot(store, "CRITICAL", at(11), *SPACES[:2])
    run_once(store, contacts(url), senders(port), now=NOON)

    with running_server(db_url, tmp_path / "serve") as server, server.client() as client:
        refused = client.post("/api/v1/alerts/ack", json={"site": SITE})
        unknown_field = client.post("/api/v1/alerts/ack", json={"site": SITE, "x": 1}, headers=AUTH)
        answer = client.post(
            "/api/v1/alerts/ack", json={"site": SITE, "space": SPACES[0]}, headers=AUTH
        )
        again = client.post(
            "/api/v1/alerts/ack", json={"site": SITE, "space": SPACES[0]}, headers=AUTH
        )
        audit = client.get("/api/v1/audit", headers=AUTH)

    assert refused.status_code == 401
    assert unknown_field.status_code == 422
    assert answer.status_code == 200, answer.text
    acked = answer.json()
    assert acked["spaces"] == [{"endpoint": SPACES[0], "service_type": VAC, "vo": VO}]
    assert acked["site"] == SITE
    assert re.fullmatch("token-[0-9a-f]{12}", acked["acknowledged_by"])  # never the token
    assert again.status_code == 404
    assert again.json() == {
        "detail": f"no unacknowledged alert of space '{SPACES[0]}' of site '{SITE}'"
    }
    assert audit.status_code == 200, audit.text
    (entry,) = audit.json()["entries"]
    assert (entry["kind"], entry["action"], entry["actor"]) == (
        "alert",
        "update",
        acked["acknowledged_by"],
    )
    assert entry["after"]["endpoint"] == SPACES[0] and entry["after"]["acked_by"] == entry["actor"]
    # the other space is still reminded, the acknowledged one no more
    run_once(store, contacts(url), senders(port), now=NOON + REMINDER + timedelta(seconds=1))
    assert SPACES[1] in mailbox.messages[-1].get_payload()
    assert SPACES[0] not in mailbox.messages[-1].get_payload()
