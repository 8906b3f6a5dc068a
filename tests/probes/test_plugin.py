"""The shared probe machinery: bounded calls, Nagios-safe output, and the grammar checker."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time

import pytest

from probes import _plugin, _system
from tests import nagios


def test_call_bounded_returns_value_and_reraises():
    assert _plugin.call_bounded(lambda: 42, _plugin.Deadline(1)) == 42

    def fail() -> None:
        raise ValueError("broken")

    with pytest.raises(ValueError, match="broken"):
        _plugin.call_bounded(fail, _plugin.Deadline(1))


def test_call_bounded_gives_up_on_a_call_that_never_returns():
    never = threading.Event()
    with pytest.raises(_plugin.Hung, match=r"did not answer within 0.2 s"):
        _plugin.call_bounded(never.wait, _plugin.Deadline(0.2))


def test_hung_says_a_shared_out_deadline_as_a_person_would():
    assert str(_plugin.Hung(2.3999981)) == "did not answer within 2.4 s"
    assert str(_plugin.Hung(3.0)) == "did not answer within 3 s"
    assert _plugin.Hung(2.3999981).seconds == 2.3999981


def test_map_bounded_one_hung_item_does_not_hide_the_others():
    never = threading.Event()

    def work(item: str) -> str:
        if item == "hung":
            never.wait()
        if item == "bad":
            raise OSError(5, "Input/output error", "/cvmfs/bad")
        return item.upper()

    answers = _plugin.map_bounded(work, ["a", "hung", "bad", "b"], _plugin.Deadline(0.3))
    assert answers[0] == "A"
    assert isinstance(answers[1], _plugin.Hung)
    assert isinstance(answers[2], OSError)
    assert answers[3] == "B"
    assert _plugin.reason(answers[2]) == "Input/output error: /cvmfs/bad"


def test_one_line_keeps_status_lines_single_and_pipe_free():
    assert _plugin.one_line("a\nb |  c\t") == "a b / c"


def _run_plugin(body: str, *args: str) -> subprocess.CompletedProcess[str]:
    code = textwrap.dedent(
        """
        import nagiosplugin, threading, sys
        from probes import _plugin
        """
    ) + textwrap.dedent(body)
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=30, check=False
    )


CHECK = """
class Value(nagiosplugin.Resource):
    def __init__(self, behaviour):
        self.behaviour = behaviour
    def probe(self):
        if self.behaviour == "raise":
            raise KeyError("no such thing")
        if self.behaviour == "hang":
            threading.Event().wait()
        return [nagiosplugin.Metric("load", 7.25, context="load")]

def main():
    parser = _plugin.ProbeArgumentParser("WN-TEST")
    parser.add_argument("--behaviour", choices=["ok", "raise", "hang"], default="ok")
    args = parser.parse_args()
    _plugin.run("WN-TEST", lambda: nagiosplugin.Check(
        Value(args.behaviour), nagiosplugin.ScalarContext("load", "5", "10")), args.timeout)
main()
"""


def test_run_prints_status_perfdata_and_exit_code():
    done = _run_plugin(CHECK)
    out = nagios.parse(done.returncode, done.stdout)
    assert out.state == "WARNING"
    assert out.perfdata["load"].value == 7.25
    assert out.perfdata["load"].warn == "5"


def test_run_turns_an_exception_into_a_one_line_unknown():
    done = _run_plugin(CHECK, "--behaviour", "raise")
    out = nagios.parse(done.returncode, done.stdout)
    assert out.state == "UNKNOWN"
    assert "KeyError" in out.summary and "no such thing" in out.summary
    assert done.stderr == ""


def test_run_bounds_a_probe_that_hangs():
    started = time.monotonic()
    done = _run_plugin(CHECK, "--behaviour", "hang", "--timeout", "0.5")
    elapsed = time.monotonic() - started
    out = nagios.parse(done.returncode, done.stdout)
    assert out.state == "UNKNOWN"
    assert "did not finish within 0.5 s" in out.summary
    assert elapsed < 20


@pytest.mark.parametrize("args", [["--timeout", "-1"], ["--nonsense"], ["--behaviour", "x"]])
def test_bad_arguments_are_unknown_not_argparse_exit_2(args):
    done = _run_plugin(CHECK, *args)
    out = nagios.parse(done.returncode, done.stdout)
    assert out.exit_code == 3
    assert out.summary.startswith("bad arguments:")


def test_help_exits_zero():
    done = _run_plugin(CHECK, "--help")
    assert done.returncode == 0
    assert "--timeout" in done.stdout


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (0, "SVC OK: fine | a=1;2;3;0;10 'b c'=2.5MB c=3c"),
        (2, "SVC CRITICAL: broken\nlong line one\nlong line two"),
        (1, "SVC WARNING: x | t=0.1s;~:5;@1:2"),
    ],
)
def test_grammar_accepts_valid_output(code, text):
    nagios.parse(code, text + "\n")


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (0, "SVC CRITICAL: exit code and state disagree"),
        (4, "SVC UNKNOWN: exit code 4"),
        (0, "no state word"),
        (0, "SVC OK: x | a=1e-05"),
        (0, "SVC OK: x | a=1furlongs"),
        (0, "SVC OK: x | a=1 a=2"),
        (0, "SVC OK: x | a=1;abc"),
        (0, "SVC OK: x | junk"),
        (0, "SVC OK: x\nlong | output"),
        (3, "SVC UNKNOWN: x\nTraceback (most recent call last):"),
    ],
)
def test_grammar_rejects_invalid_output(code, text):
    with pytest.raises(nagios.GrammarError):
        nagios.parse(code, text + "\n")


def test_mounts_table_unescapes_and_finds_the_topmost_mount(tmp_path):
    table = tmp_path / "mounts"
    table.write_text(
        "cvmfs2 /cvmfs/lhcb.cern.ch fuse ro,nosuid 0 0\n"
        "tmpfs /my\\040dir tmpfs rw 0 0\n"
        "/dev/vdb /scratch ext4 rw 0 0\n"
        "tmpfs /scratch tmpfs rw 0 0\n"
    )
    mounts = _system.read_mounts(table)
    assert _system.mount_at("/my dir", mounts) is not None
    top = _system.mount_at("/scratch/", mounts)
    assert top is not None and top.fstype == "tmpfs"
    assert _system.mount_at("/cvmfs", mounts) is None
    inner = _system.mount_containing("/cvmfs/lhcb.cern.ch/lib/x", mounts)
    assert inner is not None and inner.mountpoint == "/cvmfs/lhcb.cern.ch"
    assert _system.mount_containing("/cvmfs/lhcb.cern.chx", mounts) is None


def test_swaps_table(tmp_path):
    table = tmp_path / "swaps"
    table.write_text(
        "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
        "/scratch/swapfile                       file\t\t2097148\t\t0\t\t-2\n"
    )
    (swap,) = _system.read_swaps(table)
    assert swap.filename == "/scratch/swapfile" and swap.size_kb == 2097148
