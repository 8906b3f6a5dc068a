"""The probe runner: parallel subprocesses, per-probe timeouts, process-group kills."""

from __future__ import annotations

import stat
import sys
import textwrap
import time
from pathlib import Path

from vmsam.vm import runner
from vmsam.vm.runner import ProbeSpec


def alive(pid: int) -> bool:
    """Running, not merely a zombie waiting for a parent that may never reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def plugin(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_parse_output_with_multiline_perfdata():
    summary, details, perfdata = runner.parse_output(
        "DISK OK - free space: / 3326 MB | /=2643MB;5948;5958;0;5968\n"
        "/ 15272 MB (77%);\n"
        "/boot 68 MB (69%); | /boot=68MB;88;93;0;98\n"
        "/home=69357MB;253404;253409;0;253414\n"
    )
    assert summary == "DISK OK - free space: / 3326 MB"
    assert details == "/ 15272 MB (77%);\n/boot 68 MB (69%);"
    assert perfdata == (
        "/=2643MB;5948;5958;0;5968 /boot=68MB;88;93;0;98 /home=69357MB;253404;253409;0;253414"
    )


def test_runs_in_parallel_and_reads_status_summary_and_perfdata(tmp_path):
    ok = plugin(
        tmp_path,
        "check_fine",
        """
        import time, sys
        time.sleep(1)
        print("FINE OK: all good | x=1;2;3")
        print("line two")
        sys.exit(0)
    """,
    )
    bad = plugin(
        tmp_path,
        "check_bad",
        """
        import time, sys
        time.sleep(1)
        print("BAD CRITICAL: broken")
        sys.exit(2)
    """,
    )
    started = time.monotonic()
    outcomes = runner.run_probes(
        [ProbeSpec("fine", (ok,), 10), ProbeSpec("bad", (bad,), 10)], time.monotonic() + 30
    )
    elapsed = time.monotonic() - started
    fine, broken = outcomes
    assert (fine.test, fine.status, fine.summary) == ("fine", "OK", "FINE OK: all good")
    assert fine.details == "line two"
    assert fine.perfdata == "x=1;2;3"
    assert (broken.status, broken.exit_code) == ("CRITICAL", 2)
    assert elapsed < 1.9, "two 1 s probes must run side by side"


def test_overrunning_probe_has_its_process_group_killed(tmp_path):
    marker = tmp_path / "child.pid"
    hung = plugin(
        tmp_path,
        "check_hung",
        f"""
        import subprocess, time
        child = subprocess.Popen(["sleep", "300"])
        open({str(marker)!r}, "w").write(str(child.pid))
        time.sleep(300)
    """,
    )
    (outcome,) = runner.run_probes([ProbeSpec("hung", (hung,), 0.5)], time.monotonic() + 30)
    assert outcome.status == "UNKNOWN"
    assert outcome.summary == "timed out after 2 s"
    child = int(marker.read_text())
    time.sleep(0.2)
    assert not alive(child), "the probe's child must die with its process group"


def test_budget_cuts_a_probe_short_of_its_own_timeout(tmp_path):
    hung = plugin(tmp_path, "check_slow", "import time; time.sleep(300)\n")
    started = time.monotonic()
    (outcome,) = runner.run_probes([ProbeSpec("slow", (hung,), 100)], time.monotonic() + 1)
    assert outcome.status == "UNKNOWN"
    assert "timed out after 1 s" in outcome.summary
    assert time.monotonic() - started < 10


def test_missing_plugin_crash_and_odd_exit_codes_are_unknown(tmp_path):
    crash = plugin(tmp_path, "check_crash", "import sys; sys.stderr.write('boom'); sys.exit(7)\n")
    outcomes = runner.run_probes(
        [ProbeSpec("gone", (str(tmp_path / "nope"),), 5), ProbeSpec("crash", (crash,), 5)],
        time.monotonic() + 20,
    )
    gone, crashed = outcomes
    assert gone.status == "UNKNOWN"
    assert "cannot run" in gone.summary
    assert crashed.status == "UNKNOWN"
    assert "no output (exit code 7)" in crashed.summary
    assert "stderr: boom" in crashed.details


def test_metric_name():
    assert runner.metric_name("lhcb", "cvmfs") == "org.lhcb.WN-cvmfs"
    assert runner.metric_name("cms", "my probe") == "org.cms.WN-my_probe"
