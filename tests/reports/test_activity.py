"""'No VMs ran' apart from 'VMs ran and failed', on SQLite and PostgreSQL: VacMon messages
parsed and stored as ``vmsam vacmon`` does, the idle and VM periods of a scripted day, the
labels of the MISSING timeline pieces, and A/R figures unchanged by any of it."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.reports.helpers import DAY, LATER, at, save, vm_boot
from vmsam.cli import main
from vmsam.server.activity import idle_periods, vm_periods
from vmsam.server.reports import ar_document
from vmsam.server.store import Store
from vmsam.server.timelines import status_document
from vmsam.server.vacmon import Parsed, Parser
from vmsam.shared.config import VacmonSettings
from vmsam.shared.errors import ReportError

SPACE = "space1.example.org"  # tested in the morning, idle at midday, VMs untested later
QUIET = "space2.example.org"  # no VacMon message at all: unknown


def seconds(moment: datetime) -> float:
    return moment.timestamp()


def machine(uuid: str, started: datetime, heartbeat: datetime, **fields: Any) -> dict[str, Any]:
    return {
        "message_type": "machine_status",
        "space": SPACE,
        "site": "SITE-A",
        "factory": "f1.example.org",
        "machinetype": "dteam",
        "uuid": uuid,
        "state": "running",
        "created_time": seconds(started) - 30,
        "started_time": seconds(started),
        "heartbeat_time": seconds(heartbeat),
        "time_sent": seconds(heartbeat),
        "num_processors": 8,
        "a_field_of_a_later_vac": [1, 2],
        **fields,
    }


def idle(moment: datetime, kind: str = "factory_status", **fields: Any) -> dict[str, Any]:
    return {
        "message_type": kind,
        "space": SPACE,
        "site": "SITE-A",
        "factory": "f1.example.org",
        "time_sent": seconds(moment),
        "running_machines": 0,
        **fields,
    }


def record(store: Store, messages: list[dict[str, Any]], received: datetime = LATER) -> Parsed:
    """Parse and store ``messages`` as the listener does with one batch."""
    parsed = Parsed()
    Parser(VacmonSettings()).parse(
        [(json.dumps(m).encode(), "127.0.0.1:9", seconds(received)) for m in messages], parsed
    )
    store.record_activity(parsed.vms, parsed.idle, parsed.rejected)
    return parsed


def scripted_day(store: Store) -> None:
    """SPACE: a VM tested OK 0-1 h; factory reports of nothing running every 5 minutes
    10:00-12:00 (each holds 10 min: idle 10:00-12:10); a VM alive 14-20 h with no result
    (sampled out); QUIET: results in the morning, no VacMon message."""
    save(store, vm_boot(SPACE, at(0.5), "OK", vm="tested"))
    save(store, vm_boot(QUIET, at(0.5), "OK", vm="quiet"))
    reports = [idle(at(10 + minute / 60)) for minute in range(0, 121, 5)]
    record(store, [machine("tested", at(0.4), at(1)), *reports])
    record(store, [machine("untested", at(14), at(17))])
    record(store, [machine("untested", at(14), at(20), state="shutdown")])


def test_idle_periods_of_a_scripted_day(store: Store) -> None:
    scripted_day(store)
    start, end = at(0), at(24)
    (period,) = idle_periods(store, vo="dteam", start=start, end=end, site="SITE-A")
    assert (period.site, period.space, period.service_type) == (
        "SITE-A",
        SPACE,
        "uk.ac.gridpp.vac",
    )
    assert (period.start, period.end) == (at(10), at(12) + timedelta(minutes=10))
    assert "f1.example.org" in period.evidence
    ran = [
        (p.space, p.start, p.end, p.vms)
        for p in vm_periods(store, vo="dteam", start=start, end=end)
    ]
    assert ran == [
        (SPACE, at(0.4) - timedelta(seconds=30), at(1), 1),
        (SPACE, at(14) - timedelta(seconds=30), at(20), 1),
    ]


def test_a_factory_idle_while_a_vm_of_another_ran_is_not_idle(store: Store) -> None:
    save(store, vm_boot(SPACE, at(0.5), "OK"))
    record(store, [idle(at(10)), idle(at(10.1)), machine("other", at(10.05), at(10.1))])
    periods = idle_periods(store, vo="dteam", start=at(0), end=at(24))
    assert [(p.start, p.end) for p in periods] == [
        (at(10), at(10.05) - timedelta(seconds=30)),  # up to the other VM's creation
        (at(10.1), at(10.1) + timedelta(minutes=10)),
    ]


def test_a_repeated_datagram_changes_nothing(store: Store) -> None:
    scripted_day(store)
    before = store.vm_activity({SPACE}, at(0), at(24))
    version = store.version()
    record(store, [machine("untested", at(14), at(17)), idle(at(10.5))])
    assert store.vm_activity({SPACE}, at(0), at(24)) == before
    assert store.version() == version  # nothing moved the revision: cached answers stay


def test_missing_pieces_say_whether_vms_ran(store: Store) -> None:
    scripted_day(store)
    document = status_document(store, site="SITE-A", day=DAY, now=LATER)
    labels = {
        (space["endpoint"], piece["start"], piece["end"]): piece.get("activity")
        for space in document["endpoints"]
        for piece in space["pieces"]
    }
    # the VM's results hold for the freshness window; then MISSING, cut by what VacMon said
    missing = {key: value for key, value in labels.items() if value is not None}
    assert set(missing.values()) <= {"no-vms", "vms-ran", "unknown"}
    assert all(value == "unknown" for (space, *_), value in missing.items() if space == QUIET)
    (space_missing,) = [value for (space, *_), value in missing.items() if space == SPACE]
    assert space_missing == "vms-ran"  # the piece spans the idle stretch and both VMs
    for space in document["endpoints"]:
        for piece in space["pieces"] + [p for m in space["metrics"] for p in m["pieces"]]:
            assert ("activity" in piece) == (piece["status"] == "MISSING")


def test_a_missing_piece_inside_the_idle_stretch_is_no_vms(store: Store) -> None:
    """A status holds for a day after its result (ARGO): two days on, the space is MISSING;
    factories said nothing ran that day, and no VM was seen: no-vms."""
    save(store, vm_boot(SPACE, at(0.5), "OK"))
    record(store, [idle(at(hour)) for hour in range(24, 72)])
    record(store, [machine("morning", at(0.4), at(0.6))])
    quiet_day = DAY + timedelta(days=2)
    document = status_document(store, endpoint=SPACE, day=quiet_day, now=LATER)
    (space,) = document["endpoints"]
    assert [(p["status"], p.get("activity")) for p in space["pieces"]] == [("MISSING", "no-vms")]
    metric_missing = [p for m in space["metrics"] for p in m["pieces"]]
    assert metric_missing and {(p["status"], p["activity"]) for p in metric_missing} == {
        ("MISSING", "no-vms")
    }
    # the morning of the first day: MISSING before the first result, the VM alive: vms-ran
    first = status_document(store, endpoint=SPACE, day=DAY, now=LATER)
    (opening, *_) = first["endpoints"][0]["pieces"]
    assert (opening["status"], opening["activity"]) == ("MISSING", "vms-ran")


def test_ar_is_the_same_with_and_without_activity(store: Store) -> None:
    save(store, vm_boot(SPACE, at(0.5), "OK"))
    save(store, vm_boot(SPACE, at(15), "CRITICAL", vm="failed"))
    without = ar_document(store, site="SITE-A", start=DAY, end=DAY + timedelta(days=1), now=LATER)
    timeline = status_document(store, site="SITE-A", day=DAY, now=LATER)
    record(store, [idle(at(hour)) for hour in range(0, 48)])
    record(store, [machine("failed", at(14.9), at(15.2))])
    with_activity = ar_document(
        store, site="SITE-A", start=DAY, end=DAY + timedelta(days=1), now=LATER
    )
    assert with_activity == without
    after = status_document(store, site="SITE-A", day=DAY, now=LATER)

    def statuses(document: dict[str, Any]) -> list[tuple[str, str, str]]:
        return [(p["start"], p["end"], p["status"]) for p in document["pieces"]] + [
            (p["start"], p["end"], p["status"]) for e in document["endpoints"] for p in e["pieces"]
        ]

    assert statuses(after) == statuses(timeline)


def test_an_unknown_site_is_a_report_error(store: Store) -> None:
    scripted_day(store)
    with pytest.raises(ReportError, match="unknown site"):
        idle_periods(store, vo="dteam", start=at(0), end=at(24), site="NO-SUCH-SITE")


def test_vmsam_status_shows_what_explains_a_missing_piece(
    store: Store, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    save(store, vm_boot(SPACE, at(0.5), "OK"))
    record(store, [idle(at(hour)) for hour in range(24, 72)])
    quiet_day = (DAY + timedelta(days=2)).isoformat()
    assert main(["status", "--db", db_url, "--endpoint", SPACE, "--day", quiet_day]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert (
        f"  {quiet_day}T00:00:00Z  {DAY + timedelta(days=3)}T00:00:00Z  MISSING   [no-vms]" in lines
    )
    assert main(["status", "--db", db_url, "--endpoint", SPACE, "--day", quiet_day, "--json"]) == 0
    (space,) = json.loads(capsys.readouterr().out)["endpoints"]
    assert space["pieces"][0]["activity"] == "no-vms"


def test_missing_optional_fields_are_accepted(store: Store) -> None:
    """The least a machine_status may be: its type, space and uuid; the receipt time
    stands in for the times it does not give."""
    parsed = record(
        store,
        [{"message_type": "machine_status", "space": SPACE, "uuid": "bare"}],
        received=at(7),
    )
    assert parsed.rejected == []
    (vm,) = store.vm_activity({SPACE}, at(0), at(24))[0]
    assert (vm.first_seen, vm.last_seen, vm.state, vm.site) == (at(7), at(7), "unknown", "")


def test_a_site_whose_every_space_was_idle_is_a_recomputation_candidate(store: Store) -> None:
    from vmsam.server.recomputations import candidates

    scripted_day(store)
    start, end = at(0), at(24)

    def no_vms(vo: str | None = "dteam") -> list[tuple[str, datetime, datetime, tuple[str, ...]]]:
        found = candidates(store, start=start, end=end, vo=vo, now=LATER)
        return [(c.source, c.start, c.end, c.sites) for c in found if c.source == "no-vms"]

    # QUIET (the site's other space) was never reported idle: the site ran VMs, or may have
    assert no_vms() == []
    record(store, [idle(at(11 + minute / 60), space=QUIET) for minute in range(0, 31, 5)])
    # both idle from 11:00 to 11:40 (QUIET's last report at 11:30 holds 10 minutes)
    assert no_vms() == [("no-vms", at(11), at(11 + 40 / 60), ("SITE-A",))]
    (candidate,) = [
        c for c in candidates(store, start=start, end=end, now=LATER) if c.source == "no-vms"
    ]
    assert candidate.vo == "dteam"
    assert "no VM of any of the 2 spaces of SITE-A ran" in candidate.reason
