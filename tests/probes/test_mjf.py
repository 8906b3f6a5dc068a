"""check_wn_mjf run as Nagios runs it, against simulated VMs and Vac-style servers on loopback.

No test lets the probe discover on its own: each passes --no-discovery or loopback URLs, and
an --etc-dir of its own, so nothing is sent to 169.254.169.253/254.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import run_probe
from tests.nagios import PluginOutput
from vmsam.demo.simulate import VMLayout
from vmsam.demo.simulate.mjf import MJFServer, job_features, machine_features, simulate

SCRIPT = "check_wn_mjf"
UUID = VMLayout(Path("/")).uuid
# the probe must not pick up the test runner's own MJF
CLEAN_ENV = {"MACHINEFEATURES": "", "JOBFEATURES": ""}


def mjf(args: list[str], env: dict[str, str] | None = None) -> PluginOutput:
    out = run_probe(SCRIPT, args, env={**CLEAN_ENV, **(env or {})})
    assert out.service == "WN-MJF"
    return out


@pytest.fixture
def layout(tmp_path: Path) -> VMLayout:
    return VMLayout(tmp_path / "vm")


@pytest.fixture
def healthy_args(layout: VMLayout) -> list[str]:
    return simulate(layout, None, healthy=True)  # type: ignore[arg-type]


def refused_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def edit(directory: Path, key: str, value: str | None) -> None:
    if value is None:
        (directory / key).unlink()
    else:
        (directory / key).write_text(value + "\n")


# --- healthy -----------------------------------------------------------------------------


def test_healthy_directories_are_ok(healthy_args: list[str]) -> None:
    out = mjf(healthy_args)
    assert (out.state, out.exit_code) == ("OK", 0), out.text
    assert out.perfdata["allocated_cpu"].value == 8
    assert out.perfdata["hs06"].value == 84
    left = out.perfdata["seconds_left"]
    assert left.uom == "s"
    # the simulated job ends first, at shutdowntime_job, 5 h after now
    assert 5 * 3600 - 60 < left.value <= 5 * 3600
    # every check is listed, OK ones included
    for line in ("OK: total_cpu=8", "OK: job_id is the VM UUID", "(found by option)"):
        assert any(line in text for text in out.long_output), line


def test_healthy_http_server_is_ok(layout: VMLayout, healthy_args: list[str]) -> None:
    with MJFServer(layout.machinefeatures, layout.jobfeatures) as server:
        out = mjf(
            [
                "--machinefeatures",
                server.machinefeatures_url,
                "--jobfeatures",
                server.jobfeatures_url,
                "--no-discovery",
                "--uuid",
                layout.uuid,
                "--etc-dir",
                str(layout.root),
            ]
        )
    assert out.state == "OK", out.text
    assert f"{server.machinefeatures_url} (found by option)" in out.text
    assert "lists 8 keys: allocated_cpu" in out.text
    # keys are fetched by name, the index only listed
    assert "/jobfeatures/cpu_limit_secs" in server.requests


def test_locations_come_from_the_environment(layout: VMLayout, healthy_args: list[str]) -> None:
    out = mjf(
        ["--no-discovery", "--uuid", UUID, "--etc-dir", str(layout.root / "none")],
        env={
            "MACHINEFEATURES": str(layout.machinefeatures),
            "JOBFEATURES": str(layout.jobfeatures),
        },
    )
    assert out.state == "OK", out.text
    assert "(found by environment)" in out.text


def test_locations_come_from_etc(layout: VMLayout, healthy_args: list[str]) -> None:
    etc = str(layout.root / "etc")
    out = mjf(["--no-discovery", "--etc-dir", etc])
    assert out.state == "OK", out.text
    assert f"(found by {etc})" in out.text
    assert "not compared with the VM UUID (no --uuid given)" in out.text


def test_vac_server_is_discovered(layout: VMLayout, healthy_args: list[str]) -> None:
    with MJFServer(layout.machinefeatures, layout.jobfeatures) as vac:
        out = mjf(
            [
                "--vac-url",
                vac.url,
                "--openstack-url",
                refused_url(),
                "--etc-dir",
                str(layout.root / "none"),
            ]
        )
    assert out.state == "OK", out.text
    assert f"{vac.jobfeatures_url} (found by vac)" in out.text


def test_openstack_metadata_is_discovered(layout: VMLayout, healthy_args: list[str]) -> None:
    meta = {"machinefeatures": str(layout.machinefeatures), "jobfeatures": str(layout.jobfeatures)}
    with MJFServer(meta=meta) as openstack:
        out = mjf(
            [
                "--vac-url",
                refused_url(),
                "--openstack-url",
                openstack.url,
                "--etc-dir",
                str(layout.root / "none"),
            ]
        )
    assert out.state == "OK", out.text
    assert "(found by openstack)" in out.text


# --- the unhealthy VM --------------------------------------------------------------------


def test_unhealthy_vm_shows_every_fault(layout: VMLayout) -> None:
    out = mjf(simulate(layout, None, healthy=False))  # type: ignore[arg-type]
    assert (out.state, out.exit_code) == ("CRITICAL", 2)
    assert "cpu_limit_secs missing from jobfeatures (required)" in out.summary
    assert "Vcycle" in out.summary
    assert "shutdowntime_job=" in out.summary and "is after shutdowntime=" in out.summary
    # critical first: an admin reads the worst problem first
    assert out.summary.index("cpu_limit_secs") < out.summary.index("Vcycle")


# --- each rule ---------------------------------------------------------------------------

Mutation = Callable[[VMLayout], None]


def _set(which: str, key: str, value: str | None) -> Mutation:
    def mutate(layout: VMLayout) -> None:
        directory = layout.machinefeatures if which == "machine" else layout.jobfeatures
        edit(directory, key, value)

    return mutate


RULES: list[tuple[str, Mutation, str, str]] = [
    (
        "no total_cpu",
        _set("machine", "total_cpu", None),
        "CRITICAL",
        "total_cpu missing from machinefeatures (required)",
    ),
    (
        "no allocated_cpu",
        _set("job", "allocated_cpu", None),
        "CRITICAL",
        "allocated_cpu missing from jobfeatures (required)",
    ),
    (
        "no wall_limit_secs",
        _set("job", "wall_limit_secs", None),
        "CRITICAL",
        "wall_limit_secs missing",
    ),
    (
        "no cpu_limit_secs",
        _set("job", "cpu_limit_secs", None),
        "CRITICAL",
        "cpu_limit_secs missing",
    ),
    ("no jobstart_secs", _set("job", "jobstart_secs", None), "CRITICAL", "jobstart_secs missing"),
    (
        "total_cpu not an int",
        _set("machine", "total_cpu", "eight"),
        "CRITICAL",
        "total_cpu='eight' is not an integer",
    ),
    (
        "wall limit a float",
        _set("job", "wall_limit_secs", "3600.5"),
        "CRITICAL",
        "wall_limit_secs='3600.5' is not an integer",
    ),
    (
        "no hs06",
        _set("machine", "hs06", None),
        "WARNING",
        "hs06 missing from machinefeatures (recommended)",
    ),
    ("no hs06_job", _set("job", "hs06_job", None), "WARNING", "hs06_job missing"),
    ("no job_id", _set("job", "job_id", None), "WARNING", "job_id missing"),
    (
        "hs06 not a number",
        _set("machine", "hs06", "fast"),
        "CRITICAL",
        "hs06='fast' is not a number",
    ),
    ("hs06 not finite", _set("machine", "hs06", "nan"), "CRITICAL", "hs06='nan' is not a number"),
    (
        "job_id with blanks",
        _set("job", "job_id", "a job"),
        "CRITICAL",
        "job_id='a job' is not printable ASCII without whitespace",
    ),
    ("job_id not ASCII", _set("job", "job_id", "jöb"), "CRITICAL", "is not printable ASCII"),
    (
        "optional int bad",
        _set("job", "max_rss_bytes", "lots"),
        "CRITICAL",
        "max_rss_bytes='lots' is not an integer",
    ),
    (
        "shutdowntime bad",
        _set("machine", "shutdowntime", "1e9"),
        "CRITICAL",
        "shutdowntime='1e9' is not an integer",
    ),
    (
        "wall limit zero",
        _set("job", "wall_limit_secs", "0"),
        "CRITICAL",
        "wall_limit_secs=0 is not > 0",
    ),
    (
        "cpu limit negative",
        _set("job", "cpu_limit_secs", "-1"),
        "CRITICAL",
        "cpu_limit_secs=-1 is not > 0",
    ),
    (
        "scratch limit zero",
        _set("job", "scratch_limit_bytes", "0"),
        "CRITICAL",
        "scratch_limit_bytes=0 is not > 0",
    ),
    (
        "job ends after machine",
        _set("job", "shutdowntime_job", str(int(time.time()) + 7 * 3600)),
        "WARNING",
        "is after shutdowntime=",
    ),
    (
        "job starts in an hour",
        _set("job", "jobstart_secs", str(int(time.time()) + 3600)),
        "WARNING",
        "s in the future (above 300 s)",
    ),
    (
        "job_id not the VM",
        _set("job", "job_id", "00000000-0000-0000-0000-000000000000"),
        "WARNING",
        "is not the VM UUID",
    ),
    (
        "Vcycle bug",
        _set("job", "jobstart_secs", UUID.upper()),
        "WARNING",
        "the Vcycle 03.x bug that writes the VM UUID into jobstart_secs",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "state", "text"),
    [pytest.param(m, s, t, id=name) for name, m, s, t in RULES],
)
def test_each_rule(
    layout: VMLayout, healthy_args: list[str], mutate: Mutation, state: str, text: str
) -> None:
    mutate(layout)
    out = mjf(healthy_args)
    assert out.state == state, out.text
    assert text in out.summary, out.summary
    # one fault, one problem: the others stay quiet
    assert out.summary.count(" - ") == 0, out.summary


def test_job_starting_just_ahead_is_tolerated(layout: VMLayout, healthy_args: list[str]) -> None:
    edit(layout.jobfeatures, "jobstart_secs", str(int(time.time()) + 100))
    assert mjf(healthy_args).state == "OK"


def test_job_id_compares_without_case(layout: VMLayout, healthy_args: list[str]) -> None:
    edit(layout.jobfeatures, "job_id", UUID.upper())
    assert mjf(healthy_args).state == "OK"


def test_seconds_left_takes_the_earliest_end(layout: VMLayout, healthy_args: list[str]) -> None:
    now = int(time.time())
    edit(layout.jobfeatures, "jobstart_secs", str(now - 1000))
    edit(layout.jobfeatures, "wall_limit_secs", "1600")
    out = mjf(healthy_args)
    assert out.state == "OK", out.text
    assert 540 < out.perfdata["seconds_left"].value <= 600


def test_seconds_left_may_be_negative(layout: VMLayout, healthy_args: list[str]) -> None:
    edit(layout.machinefeatures, "shutdowntime", str(int(time.time()) - 50))
    edit(layout.jobfeatures, "shutdowntime_job", str(int(time.time()) - 100))
    out = mjf(healthy_args)
    assert -110 < out.perfdata["seconds_left"].value <= -100


def test_vcycle_layout_without_shutdowntime_job(layout: VMLayout, healthy_args: list[str]) -> None:
    # Vcycle often leaves shutdowntime_job out: normal, not a fault
    edit(layout.jobfeatures, "shutdowntime_job", None)
    out = mjf(healthy_args)
    assert out.state == "OK", out.text
    assert "shutdowntime_job" in next(x for x in out.long_output if "optional keys not set" in x)


def test_legacy_keys_are_type_checked(layout: VMLayout, healthy_args: list[str]) -> None:
    edit(layout.jobfeatures, "cpufactor_lrms", "1.25")
    edit(layout.jobfeatures, "mem_limit_MB", "2000MB")
    out = mjf(healthy_args)
    assert out.state == "CRITICAL"
    assert out.summary == "mem_limit_MB='2000MB' is not an integer"
    assert "OK: cpufactor_lrms=1.25" in out.long_output


# --- not found, only one found, dead server, bad arguments --------------------------------


def test_nothing_found_is_critical(tmp_path: Path) -> None:
    out = mjf(["--no-discovery", "--etc-dir", str(tmp_path)])
    assert (out.state, out.exit_code) == ("CRITICAL", 2)
    assert "machinefeatures not found" in out.summary
    assert "jobfeatures not found" in out.summary
    assert str(tmp_path / "jobfeatures") in out.summary


def test_only_one_found_is_critical(layout: VMLayout, healthy_args: list[str]) -> None:
    out = mjf(
        [
            "--machinefeatures",
            str(layout.machinefeatures),
            "--no-discovery",
            "--etc-dir",
            str(layout.root / "none"),
        ]
    )
    assert out.state == "CRITICAL"
    assert out.summary.startswith("jobfeatures not found")
    assert "machinefeatures not found" not in out.text


def test_a_given_directory_that_does_not_exist_is_critical(
    layout: VMLayout, healthy_args: list[str]
) -> None:
    gone = str(layout.root / "gone")
    out = mjf(
        ["--machinefeatures", str(layout.machinefeatures), "--jobfeatures", gone, "--no-discovery"]
    )
    assert out.state == "CRITICAL"
    assert out.summary == f"jobfeatures at {gone}: unreadable: {gone}: no such directory"


@pytest.fixture
def hung() -> Iterator[MJFServer]:
    with MJFServer(hang=True) as server:
        yield server


def test_server_that_never_answers_is_critical_within_the_timeout(
    layout: VMLayout, healthy_args: list[str], hung: MJFServer
) -> None:
    started = time.monotonic()
    out = mjf(
        [
            "--machinefeatures",
            str(layout.machinefeatures),
            "--jobfeatures",
            hung.jobfeatures_url,
            "--no-discovery",
            "--timeout",
            "3",
        ]
    )
    assert time.monotonic() - started < 8
    assert (out.state, out.exit_code) == ("CRITICAL", 2), out.text
    assert f"jobfeatures at {hung.jobfeatures_url}: did not answer within" in out.summary
    # the machine side is still judged
    assert "OK: total_cpu=8" in out.long_output


def test_discovery_that_never_answers_does_not_hang(tmp_path: Path, hung: MJFServer) -> None:
    started = time.monotonic()
    out = mjf(
        [
            "--vac-url",
            hung.url,
            "--openstack-url",
            hung.url,
            "--etc-dir",
            str(tmp_path),
            "--timeout",
            "3",
        ]
    )
    assert time.monotonic() - started < 8
    assert out.state == "CRITICAL", out.text
    assert "not found" in out.summary


@pytest.mark.parametrize(
    "args",
    [
        ["--machinefeatures", "etc/machinefeatures"],
        ["--jobfeatures", "ftp://host/jf"],
        ["--timeout", "-1"],
        ["--no-such-option"],
    ],
)
def test_bad_arguments_are_unknown(args: list[str]) -> None:
    out = mjf([*args, "--no-discovery"])
    assert (out.state, out.exit_code) == ("UNKNOWN", 3)
    assert out.summary.startswith("bad arguments:")


def test_simulated_values_are_what_vac_writes() -> None:
    machine, job = machine_features(1000), job_features(1000, UUID)
    assert int(machine["shutdowntime"]) > int(job["shutdowntime_job"]) > 1000
    # check_wn_scratch would take it as its minimum size: the demo scratch is small
    assert "scratch_limit_bytes" not in job


# --- thresholds as Nagios ranges -----------------------------------------------------------


def test_future_ranges_decide_how_far_ahead_a_job_may_start(
    layout: VMLayout, healthy_args: list[str]
) -> None:
    edit(layout.jobfeatures, "jobstart_secs", str(int(time.time()) + 100))
    assert mjf(healthy_args).state == "OK"
    out = mjf([*healthy_args, "--future-warning", "~:10"])
    assert out.state == "WARNING", out.text
    assert out.summary.startswith("jobstart_secs is ")
    assert out.summary.endswith(" s in the future (above 10 s)")
    out = mjf([*healthy_args, "--future-warning", "~:10", "--future-critical", "~:50"])
    assert out.state == "CRITICAL", out.text
    assert out.summary.endswith(" s in the future (above 50 s)")


def test_seconds_left_ranges_judge_and_go_to_perfdata(healthy_args: list[str]) -> None:
    # the simulated job has 5 h left
    out = mjf([*healthy_args, "--seconds-left-warning", "36000:"])
    assert out.state == "WARNING", out.text
    assert "s left before the job or machine ends (below 36000 s)" in out.summary
    assert out.perfdata["seconds_left"].warn == "36000:"
    assert out.perfdata["seconds_left"].crit == ""
    assert mjf([*healthy_args, "--seconds-left-critical", "@0:60"]).state == "OK"


@pytest.mark.parametrize(
    "args",
    [
        ["--future-warning", "300:~"],
        ["--future-critical", "~:100"],  # alerts before the default warning range ~:300
        ["--jobfeatures", "etc/jobfeatures"],
    ],
)
def test_bad_ranges_and_relative_locations_are_unknown(args: list[str]) -> None:
    out = mjf([*args, "--no-discovery"])
    assert (out.state, out.exit_code) == ("UNKNOWN", 3)
    assert out.summary.startswith("bad arguments:")
    assert out.long_output == []


def test_no_semicolon_in_the_status_line(layout: VMLayout) -> None:
    out = mjf(simulate(layout, None, healthy=False))  # type: ignore[arg-type]
    assert out.state == "CRITICAL", out.text
    assert out.summary.count(" - ") == 3, out.summary
    assert ";" not in out.summary
    states = [line.split(": ", 1)[0] for line in out.long_output]
    # one STATE: text line per result, worst first
    order = ["CRITICAL", "WARNING", "OK"]
    assert states == sorted(states, key=order.index)
