"""Threshold profiles (docs/availability.md): statuses derived from perfdata with Nagios
ranges, on SQLite and PostgreSQL. The A/R under a threshold profile is the A/R of the same
results with their statuses rewritten by hand; the profile is named in every answer, and
figures kept under another profile are never served."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.reports.helpers import DAY, LATER, TESTS, VO, at, record, save
from vmsam.server.availability import ProfileError, load_profiles
from vmsam.server.availability._thresholds import perf_values
from vmsam.server.reports import ar_all_document, ar_document
from vmsam.server.store import Store
from vmsam.shared.messages import MetricResult

SCRATCH = f"org.{VO}.WN-scratch"
STRICT = """
[thresholds]
name = "strict"
[[thresholds.rules]]
metric = "org.*.WN-scratch"
labels = { write_MBps = { warning = "50:", critical = "20:" } }
"""
SHIPPED = "vmsam_wn/vmsam_critical/vmsam_ops"


def one_rule(limits: str, label: str = "a") -> str:
    """A threshold profile of one rule over every metric: ``limits`` for ``label``."""
    return (
        f'[thresholds]\nname = "x"\nrules = [{{ metric = "*", labels = {{ {label} = {limits} }} }}]'
    )


def by_hand(value: float) -> str:
    """What STRICT makes of a write speed, written out without the ranges."""
    if value < 20:
        return "CRITICAL"
    return "WARNING" if value < 50 else "OK"


@pytest.fixture
def strict(tmp_path: Path) -> Path:
    path = tmp_path / "strict.toml"
    path.write_text(STRICT)
    return path


def judged_pair(rng: random.Random, sent: MetricResult) -> tuple[MetricResult, MetricResult]:
    """``sent`` with random scratch perfdata (a write speed mostly, now and then none or
    other labels), and the same result with the status STRICT gives it, set by hand."""
    if not sent.metric_name.endswith("WN-scratch"):
        return sent, sent
    kind = rng.random()
    if kind < 0.8:
        speed = rng.choice([5, 19.9, 20, 35, 49.99, 50, 120])
        sent = replace(sent, perf_data=f"size=40000000000B;;;0 write_MBps={speed};50:;20:;0")
        return sent, replace(sent, status=by_hand(speed))
    if kind < 0.9:
        sent = replace(sent, perf_data="size=40000000000B;;;0")
    return sent, sent


def history(seed: int, spaces: tuple[str, ...]) -> tuple[list[MetricResult], list[MetricResult]]:
    """Random results of every test over four days, and the same results with the scratch
    statuses rewritten as STRICT would; now and then two VMs report in the same second."""
    rng = random.Random(seed)
    as_sent: list[MetricResult] = []
    rewritten: list[MetricResult] = []
    for space in spaces:
        for offset in range(4):
            day = DAY + timedelta(days=offset)
            for hour in sorted(rng.sample(range(24), rng.randint(1, 6))):
                vms = [f"vm-{space}-{day}-{hour}-{n}" for n in range(rng.choice([1, 1, 2]))]
                for vm, test in ((vm, test) for vm in vms for test in TESTS):
                    status = rng.choice(["OK", "OK", "WARNING", "CRITICAL", "UNKNOWN"])
                    sent, fixed = judged_pair(
                        rng, record(space, at(hour, day), status, test=test, vm=vm)
                    )
                    as_sent.append(sent)
                    rewritten.append(fixed)
    return as_sent, rewritten


def without_profile(document: dict[str, object]) -> dict[str, object]:
    return {key: value for key, value in document.items() if key != "profile"}


@pytest.mark.parametrize("seed", [1, 2])
def test_the_ar_under_a_threshold_profile_is_that_of_statuses_rewritten_by_hand(
    db_url: str, tmp_path: Path, strict: Path, seed: int
) -> None:
    spaces = ("space1.example.org", "space2.example.org")
    as_sent, rewritten = history(seed, spaces)
    profiles = load_profiles(strict)
    judged, by_hand_store = Store(db_url), Store(f"sqlite:///{tmp_path}/by-hand.db")
    try:
        save(judged, as_sent)
        save(by_hand_store, rewritten)
        span = {"start": DAY - timedelta(days=1), "end": DAY + timedelta(days=4), "now": LATER}
        for granularity in ("daily", "monthly"):
            for where in ({"site": "SITE-A"}, {"endpoint": spaces[1]}):
                derived = ar_document(
                    judged, granularity=granularity, profiles=profiles, **where, **span
                )
                expected = ar_document(by_hand_store, granularity=granularity, **where, **span)
                assert derived["profile"] == f"{SHIPPED}+strict"
                assert without_profile(derived) == without_profile(expected)
            every = ar_all_document(
                judged, granularity=granularity, endpoints=True, profiles=profiles, **span
            )
            expected_every = ar_all_document(
                by_hand_store, granularity=granularity, endpoints=True, **span
            )
            assert every["profile"] == f"{SHIPPED}+strict"
            assert without_profile(every) == without_profile(expected_every)
        # and the profile matters: the probes' own statuses give other figures
        assert without_profile(ar_document(judged, site="SITE-A", **span)) != without_profile(
            ar_document(judged, site="SITE-A", profiles=profiles, **span)
        )
    finally:
        judged.close()
        by_hand_store.close()


def test_figures_kept_under_one_profile_are_not_served_under_another(
    store: Store, strict: Path
) -> None:
    # the probe said OK all day, but the scratch speed is below the critical limit
    results = [
        replace(record("space1.example.org", at(0), "OK", test=test), perf_data="write_MBps=10")
        for test in TESTS
    ]
    save(store, results)
    shipped = ar_all_document(store, start=DAY, end=DAY, now=LATER)  # kept for the day
    strict_profiles = load_profiles(strict)
    assert strict_profiles.fingerprint != load_profiles().fingerprint
    judged = ar_all_document(store, start=DAY, end=DAY, now=LATER, profiles=strict_profiles)
    assert shipped["sites"][0]["results"][0]["availability"] == 100.0  # type: ignore[index]
    assert judged["sites"][0]["results"][0]["availability"] == 0.0  # type: ignore[index]
    # and the shipped profiles still read their own kept figures
    assert ar_all_document(store, start=DAY, end=DAY, now=LATER) == shipped


def test_perfdata_without_a_number_keeps_the_probe_status_and_is_counted(
    store: Store, strict: Path
) -> None:
    speeds = ["write_MBps=U", "write_MBps=10", "size=1B", None, "write_MBps=fast;50:"]
    for hour, perf in enumerate(speeds):
        save(store, [replace(record("space1.example.org", at(hour), "OK", test="scratch"),
                             perf_data=perf)])  # fmt: skip
    begin = at(0)
    loaded = store.timeline_input(
        start=begin, end=begin + timedelta(days=1), vo=VO, restatus=load_profiles(strict).thresholds
    )
    assert loaded.unjudged == 2
    statuses = [row.status for row in sorted(loaded.results, key=lambda row: row.timestamp)]
    # U: kept OK; 10: CRITICAL; no label: OK; then no perfdata (OK) and fast (kept OK)
    # repeat the derived OK before them, so the changes found on derived statuses omit them
    assert statuses == ["OK", "CRITICAL", "OK"]
    plain = store.timeline_input(start=begin, end=begin + timedelta(days=1), vo=VO)
    assert plain.unjudged == 0
    # without a profile, repeats of OK within the day are left out by the database
    assert [row.status for row in plain.results] == ["OK"]


@pytest.mark.parametrize(
    ("limits", "value", "status"),
    [
        ('{ critical = "10" }', 10, "OK"),
        ('{ critical = "10" }', -1, "CRITICAL"),
        ('{ critical = "10" }', 10.5, "CRITICAL"),
        ('{ warning = "10:" }', 9.99, "WARNING"),
        ('{ warning = "~:10" }', 11, "WARNING"),
        ('{ warning = "~:10" }', -1e9, "OK"),
        ('{ warning = "10:20", critical = "5:30" }', 25, "WARNING"),
        ('{ warning = "10:20", critical = "5:30" }', 31, "CRITICAL"),
        ('{ critical = "@10:20" }', 15, "CRITICAL"),
        ('{ critical = "@10:20" }', 21, "OK"),
    ],
)
def test_ranges_judge_as_the_plugin_guidelines_say(
    tmp_path: Path, limits: str, value: float, status: str
) -> None:
    path = tmp_path / "p.toml"
    path.write_text(one_rule(limits, "v"))
    thresholds = load_profiles(path).thresholds
    assert thresholds is not None
    assert thresholds.derive("org.x.WN-any", "UNKNOWN", f"other=1 v={value}ms;1;2") == status


def test_the_worst_label_wins_and_the_first_matching_rule_covers(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(
        json.dumps(
            {
                "thresholds": {
                    "name": "two",
                    "rules": [
                        {
                            "metric": "org.*.WN-cvmfs",
                            "labels": {"a": {"warning": "10"}, "b b": {"critical": "10"}},
                        },
                        {"metric": "org.*", "labels": {"a": {"critical": "1000"}}},
                    ],
                }
            }
        ).replace('"b b"', '"bb"')
    )
    thresholds = load_profiles(path).thresholds
    assert thresholds is not None
    assert thresholds.derive("org.x.WN-cvmfs", "OK", "a=11 bb=5") == "WARNING"
    assert thresholds.derive("org.x.WN-cvmfs", "OK", "a=11 bb=50") == "CRITICAL"
    assert thresholds.derive("org.x.WN-cvmfs", "CRITICAL", "c=1") == "CRITICAL"  # no label
    assert thresholds.derive("org.x.WN-mjf", "OK", "a=11") == "OK"  # the second rule
    assert thresholds.derive("other", "WARNING", "a=11") == "WARNING"  # not covered


def test_perfdata_labels_may_be_quoted() -> None:
    assert perf_values("'free space'=3GB;1:;0.5: 'it''s'=2 x=1;;") == {
        "free space": "3GB",
        "it's": "2",
        "x": "1",
    }
    assert perf_values("garbage without items") == {}


@pytest.mark.parametrize(
    ("section", "said"),
    [
        ('[thresholds]\nrules = [{ metric = "*", labels = { a = { warning = "1" } } }]', "name"),
        ('[thresholds]\nname = "x"\nrules = []', "rules"),
        ('[thresholds]\nname = "x"\nlevel = 3\nrules = []', "unknown key(s) level"),
        (
            one_rule('{ warning = "10:5" }'),
            "warning is not a Nagios range (start above end): '10:5'",
        ),
        (
            one_rule('{ critical = "1e3" }'),
            "critical is not a Nagios range: '1e3'",
        ),
        (
            one_rule("{ critical = 10 }"),
            "critical must be a Nagios range as a string",
        ),
        (
            '[thresholds]\nname = "x"\nrules = [{ metric = "*", labels = { a = { ok = "1" } } }]',
            "give 'warning', 'critical' or both",
        ),
        ('[thresholds]\nname = "x"\nrules = [{ metric = "*" }]', "exactly 'metric' and 'labels'"),
    ],
)
def test_a_bad_threshold_profile_is_one_clear_error(
    tmp_path: Path, section: str, said: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(section)
    with pytest.raises(ProfileError, match="threshold profile") as raised:
        load_profiles(path)
    assert said in str(raised.value)


def test_the_cli_refuses_a_bad_threshold_profile_with_exit_78(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        '[thresholds]\nname = "x"\nrules = [{ metric = "*", labels = { a = { warning = "~" } } }]'
    )
    for command in (
        ["ar", "--all", "--start", "2024-03-05", "--end", "2024-03-05"],
        ["serve", "--port", "0"],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "vmsam.cli", *command, "--db", f"sqlite:///{tmp_path}/x.db",
             "--profile", str(path)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 78, done.stderr
        assert "Traceback" not in done.stderr
        assert "not a Nagios range: '~'" in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1


def test_the_answers_name_the_shipped_profiles_without_a_threshold_profile(store: Store) -> None:
    save(store, [record("space1.example.org", at(1), "OK", test=test) for test in TESTS])
    assert ar_document(store, site="SITE-A", start=DAY, end=DAY, now=LATER)["profile"] == SHIPPED
    assert ar_all_document(store, start=date(2024, 3, 1), end=DAY, now=LATER)["profile"] == SHIPPED
