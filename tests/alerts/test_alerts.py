"""Alerts to site admins through a real SMTP server and a real webhook server, with the
state kept in the store (SQLite and PostgreSQL); time is injected, never slept."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.reports.helpers import VAC, VO, at, save, vm_boot
from tests.support.net import free_port
from vmsam.cli import main
from vmsam.server.alerts import (
    Contacts,
    PassReport,
    Senders,
    SiteContacts,
    acknowledge,
    current_statuses,
    load_contacts,
    run_once,
)
from vmsam.server.store import Actor, Store
from vmsam.shared.errors import ReportError

SITE = "SITE-A"
SPACES = ("vac01.site-a.example", "vac02.site-a.example", "vac03.site-a.example")
NOON = at(12)
REMINDER = timedelta(hours=4)
ADMIN = "admin@site-a.example"
DEPUTY = "deputy@site-a.example"


def contacts(url: str, *emails: str) -> Contacts:
    return Contacts(
        sender="vmsam@monitor.example",
        reminder=REMINDER,
        sites={SITE: SiteContacts(emails or (ADMIN,), (f"{url}/hook",))},
    )


def senders(port: int) -> Senders:
    return Senders("127.0.0.1", port, "vmsam@monitor.example")


def boot(store: Store, status: str, moment: datetime, *spaces: str) -> None:
    for host in spaces:
        save(store, vm_boot(host, moment, status, site=SITE))


def spaces_of(document: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(s["endpoint"], s["event"], s["status"]) for s in document["spaces"]]


def test_a_space_turning_critical_sends_one_mail_and_one_webhook(db_url, store, smtp, webhook):
    port, mailbox = smtp
    url, hooks = webhook
    boot(store, "OK", at(9), *SPACES)
    assert (
        run_once(
            store,
            contacts(url),
            senders(port),
            now=at(
                9,
            ),
        ).events
        == 0
    )
    boot(store, "CRITICAL", at(11), SPACES[0])

    report = run_once(store, contacts(url), senders(port), now=NOON)

    assert report == PassReport(events=1, messages=2, delivered=2, failed=0, dropped=0)
    (mail,) = mailbox.messages
    assert mail["To"] == ADMIN and mail["From"] == "vmsam@monitor.example"
    assert mail["Subject"] == f"[vmsam] {SITE}: 1 space CRITICAL or MISSING"
    assert SPACES[0] in mail.get_payload() and SPACES[1] not in mail.get_payload()
    ((path, document),) = hooks.received
    assert path == "/hook"
    assert document["site"] == SITE and document["at"] == "2024-03-05T12:00:00Z"
    assert document["spaces"] == [
        {
            "endpoint": SPACES[0],
            "service_type": VAC,
            "vo": VO,
            "event": "problem",
            "status": "CRITICAL",
            "since": "2024-03-05T12:00:00Z",
        }
    ]
    # announced once: the next evaluation, and one of a restarted process, send nothing
    assert (
        run_once(store, contacts(url), senders(port), now=NOON + timedelta(minutes=1)).events == 0
    )
    with Store(db_url) as again:
        assert (
            run_once(again, contacts(url), senders(port), now=NOON + timedelta(minutes=2)).events
            == 0
        )
    assert len(mailbox.messages) == 1 and len(hooks.received) == 1


def test_a_site_wide_fault_sends_one_message_per_contact_listing_every_space(store, smtp, webhook):
    port, mailbox = smtp
    url, hooks = webhook
    boot(store, "CRITICAL", at(11), *SPACES)

    report = run_once(store, contacts(url, ADMIN, DEPUTY), senders(port), now=NOON)

    assert (report.events, report.messages, report.delivered) == (3, 3, 3)
    assert sorted(m["X-Envelope-To"] for m in mailbox.messages) == [ADMIN, DEPUTY]
    for mail in mailbox.messages:
        assert mail["Subject"] == f"[vmsam] {SITE}: 3 spaces CRITICAL or MISSING"
        assert all(space in mail.get_payload() for space in SPACES)
    ((_, document),) = hooks.received
    assert spaces_of(document) == [(space, "problem", "CRITICAL") for space in SPACES]


def test_a_reminder_after_the_interval_and_none_before(store, smtp, webhook):
    port, mailbox = smtp
    url, hooks = webhook
    boot(store, "CRITICAL", at(11), SPACES[0])
    run_once(store, contacts(url), senders(port), now=NOON)

    early = run_once(
        store, contacts(url), senders(port), now=NOON + REMINDER - timedelta(seconds=1)
    )
    due = run_once(store, contacts(url), senders(port), now=NOON + REMINDER)

    assert early.events == 0 and due.events == 1
    assert mailbox.messages[-1]["Subject"] == f"[vmsam] {SITE}: 1 space still CRITICAL or MISSING"
    _, document = hooks.received[-1]
    assert spaces_of(document) == [(SPACES[0], "reminder", "CRITICAL")]
    assert document["spaces"][0]["since"] == "2024-03-05T12:00:00Z"  # the problem's start
    # the next one counts from this reminder
    assert (
        run_once(
            store, contacts(url), senders(port), now=NOON + 2 * REMINDER - timedelta(seconds=1)
        ).events
        == 0
    )
    assert run_once(store, contacts(url), senders(port), now=NOON + 2 * REMINDER).events == 1


def test_an_acknowledgement_stops_the_reminders_and_is_audited(store, smtp, webhook):
    port, mailbox = smtp
    url, _ = webhook
    boot(store, "CRITICAL", at(11), *SPACES)
    run_once(store, contacts(url), senders(port), now=NOON)

    done = acknowledge(store, SITE, None, Actor("alice", "laptop"), now=NOON + timedelta(hours=1))

    assert [key[1] for key in done] == list(SPACES)
    assert run_once(store, contacts(url), senders(port), now=NOON + 3 * REMINDER).events == 0
    assert len(mailbox.messages) == 1
    total, entries = store.audit_log()
    assert total == 3
    assert {(e.actor, e.client, e.kind, e.action) for e in entries} == {
        ("alice", "laptop", "alert", "update")
    }
    assert {e.after["endpoint"] for e in entries if e.after} == set(SPACES)
    with pytest.raises(ReportError, match="no unacknowledged alert of site 'SITE-A'"):
        acknowledge(store, SITE, None, Actor("alice", "laptop"), now=NOON)


def test_acknowledging_one_space_leaves_the_reminders_of_the_others(store, smtp, webhook):
    port, _ = smtp
    url, hooks = webhook
    boot(store, "CRITICAL", at(11), *SPACES[:2])
    run_once(store, contacts(url), senders(port), now=NOON)

    acknowledge(store, SITE, SPACES[0], Actor("alice", "laptop"), now=NOON)
    run_once(store, contacts(url), senders(port), now=NOON + REMINDER)

    _, document = hooks.received[-1]
    assert spaces_of(document) == [(SPACES[1], "reminder", "CRITICAL")]


def test_recovery_sends_recovered_once(store, smtp, webhook):
    port, mailbox = smtp
    url, hooks = webhook
    boot(store, "CRITICAL", at(10), *SPACES[:2])
    run_once(
        store,
        contacts(url),
        senders(port),
        now=at(
            10,
        ),
    )
    boot(store, "OK", at(11), SPACES[0])

    report = run_once(store, contacts(url), senders(port), now=NOON)

    assert report.events == 1
    assert mailbox.messages[-1]["Subject"] == f"[vmsam] {SITE}: 1 space recovered"
    _, document = hooks.received[-1]
    assert spaces_of(document) == [(SPACES[0], "recovered", "OK")]
    assert document["spaces"][0]["since"] == "2024-03-05T10:00:00Z"
    assert (
        run_once(store, contacts(url), senders(port), now=NOON + timedelta(minutes=1)).events == 0
    )
    # a new fault of the recovered space is a new problem
    boot(store, "CRITICAL", at(13), SPACES[0])
    run_once(store, contacts(url), senders(port), now=at(13))
    assert spaces_of(hooks.received[-1][1]) == [(SPACES[0], "problem", "CRITICAL")]


def test_warning_and_unknown_are_no_problem(store, smtp, webhook):
    port, mailbox = smtp
    url, hooks = webhook
    boot(store, "WARNING", at(11), SPACES[0])
    boot(store, "UNKNOWN", at(11), SPACES[1])

    assert run_once(store, contacts(url), senders(port), now=NOON).events == 0
    assert mailbox.messages == [] and hooks.received == []


def test_a_space_without_results_for_longer_than_the_freshness_rule_alerts_missing(
    store, smtp, webhook
):
    port, _ = smtp
    url, hooks = webhook
    boot(store, "OK", at(11), *SPACES[:2])
    boot(store, "OK", at(11) + timedelta(days=2), SPACES[1])
    later = NOON + timedelta(days=2)

    statuses = current_statuses(store, now=later)
    report = run_once(store, contacts(url), senders(port), now=later)

    assert {key[1]: s.status for key, s in statuses.items()} == {
        SPACES[0]: "MISSING",
        SPACES[1]: "OK",
    }
    assert report.events == 1
    assert spaces_of(hooks.received[-1][1]) == [(SPACES[0], "problem", "MISSING")]
    # the day after its last result it is only at risk: no alert yet
    assert (
        current_statuses(store, now=NOON + timedelta(days=1))[(SITE, SPACES[0], VAC, VO)].status
        == "OK"
    )


def test_an_unreachable_smtp_server_does_not_block_the_webhook_and_is_retried(
    store, smtp, webhook, caplog
):
    port, mailbox = smtp
    url, hooks = webhook
    boot(store, "CRITICAL", at(11), SPACES[0])

    broken = run_once(store, contacts(url), senders(free_port()), now=NOON)

    assert (broken.delivered, broken.failed) == (1, 1)
    assert len(hooks.received) == 1
    (line,) = [r.getMessage() for r in caplog.records if "not delivered" in r.getMessage()]
    assert line.startswith(f"alerts: email to {ADMIN} not delivered") and "\n" not in line
    # the next evaluation retries the mail alone (the webhook got it already)
    retried = run_once(store, contacts(url), senders(port), now=NOON + timedelta(minutes=1))
    assert (retried.events, retried.delivered, retried.failed) == (0, 1, 0)
    assert [m["To"] for m in mailbox.messages] == [ADMIN] and len(hooks.received) == 1


def test_a_failing_webhook_does_not_block_the_mail_and_is_given_up_after_a_day(
    store, smtp, webhook
):
    port, mailbox = smtp
    url, hooks = webhook
    hooks.status = 500
    boot(store, "CRITICAL", at(11), SPACES[0])
    quiet = dataclasses.replace(contacts(url), reminder=None)  # no reminders in this day

    first = run_once(store, quiet, senders(port), now=NOON)
    again = run_once(store, quiet, senders(port), now=NOON + timedelta(hours=1))
    last = run_once(store, quiet, senders(port), now=NOON + timedelta(days=1))

    assert len(mailbox.messages) == 1
    assert (first.delivered, first.failed) == (1, 1)
    assert (again.delivered, again.failed) == (0, 1)
    assert (last.failed, last.dropped) == (0, 1)
    assert len(hooks.received) == 3
    after = run_once(store, quiet, senders(port), now=NOON + timedelta(days=1, minutes=1))
    assert (after.delivered, after.failed, after.dropped) == (0, 0, 0)


def test_the_cli_runs_once_and_acknowledges(db_url, store, smtp, webhook, *, tmp_path, capsys):
    port, mailbox = smtp
    url, hooks = webhook
    now = datetime.now(NOON.tzinfo)
    boot(store, "CRITICAL", now - timedelta(minutes=5), SPACES[0])
    file = tmp_path / "contacts.toml"
    file.write_text(
        f'sender = "vmsam@monitor.example"\nreminder_minutes = 30\n'
        f'[sites."{SITE}"]\nemails = ["{ADMIN}"]\nwebhooks = ["{url}/hook"]\n'
    )

    status = main(
        [
            "alerts",
            "run",
            "--db",
            db_url,
            "--contacts",
            str(file),
            "--smtp",
            f"127.0.0.1:{port}",
            "--once",
        ]
    )

    assert status == 0
    assert "1 change(s), 2 message(s) queued, 2 delivered" in capsys.readouterr().out
    assert len(mailbox.messages) == 1 and len(hooks.received) == 1
    assert main(["alerts", "ack", "--db", db_url, "--site", SITE, "--by", "bob"]) == 0
    assert f"acknowledged {SITE} {SPACES[0]}" in capsys.readouterr().out
    assert main(["alerts", "ack", "--db", db_url, "--site", SITE]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line == f"vmsam alerts ack: no unacknowledged alert of site '{SITE}'"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[sites\n", "not TOML"),
        ("reminder_minutes = -5\n", "reminder_minutes must be an integer >= 0"),
        ('sender = "nobody"\n', "sender must be an e-mail address"),
        ('[sites.A]\nemails = "a@b"\n', "site 'A': emails must be a list of strings"),
        ('[sites.A]\nemails = ["not an address"]\n', "site 'A': not an e-mail address"),
        ('[sites.A]\nwebhooks = ["ftp://x"]\n', "site 'A': a webhook must be an http(s) URL"),
        ('[sites.A]\nphone = ["123"]\n', "site 'A': unknown key 'phone'"),
        ("remind = 5\n", "the file: unknown key 'remind'"),
    ],
)
def test_a_bad_contacts_file_exits_78_with_one_line(tmp_path, capsys, text, reason):
    file = tmp_path / "contacts.toml"
    file.write_text(text)

    status = main(
        ["alerts", "run", "--db", f"sqlite:///{tmp_path}/x.db", "--contacts", str(file), "--once"]
    )

    assert status == 78
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"vmsam alerts run: {file}: {reason}")


def test_a_missing_contacts_file_exits_78(tmp_path, capsys):
    missing = Path(tmp_path) / "nope.toml"
    assert main(["alerts", "run", "--contacts", str(missing), "--once"]) == 78
    assert capsys.readouterr().err == f"vmsam alerts run: {missing}: No such file or directory\n"


GET_SITE = b"""<?xml version="1.0" encoding="UTF-8"?>
<results>
  <SITE ID="1" PRIMARY_KEY="1G0" NAME="UKI-LT2-QMUL">
    <SHORT_NAME>UKI-LT2-QMUL</SHORT_NAME>
    <CONTACT_EMAIL>grid@qmul.example, ops@qmul.example</CONTACT_EMAIL>
  </SITE>
  <SITE ID="2" PRIMARY_KEY="2G0" NAME="SITE-Q">
    <SHORT_NAME>SITE-"Q"</SHORT_NAME>
    <CONTACT_EMAIL>admin@q.example</CONTACT_EMAIL>
  </SITE>
  <SITE ID="3" PRIMARY_KEY="3G0" NAME="NO-CONTACT"><SHORT_NAME>NO-CONTACT</SHORT_NAME></SITE>
</results>
"""


def test_a_contacts_file_from_gocdbs_sites_reads_back(tmp_path, capsys):
    document = tmp_path / "get_site.xml"
    document.write_bytes(GET_SITE)

    assert main(["alerts", "from-gocdb", str(document)]) == 0
    written = tmp_path / "contacts.toml"
    written.write_text(capsys.readouterr().out)

    read = load_contacts(written)
    assert read.sites == {
        "UKI-LT2-QMUL": SiteContacts(("grid@qmul.example", "ops@qmul.example"), ()),
        'SITE-"Q"': SiteContacts(("admin@q.example",), ()),
    }
    assert read.reminder == timedelta(hours=4)


def test_a_gocdb_file_that_is_no_xml_is_one_line(tmp_path, capsys):
    document = tmp_path / "get_site.xml"
    document.write_bytes(b"<results><SITE>")
    assert main(["alerts", "from-gocdb", str(document)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("vmsam alerts from-gocdb: not well-formed XML")
