"""probes._isolated: measurements in child processes that a probe can abandon.

The measurements below are run by the children, which import this module by name.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from probes._isolated import Child, Record, target
from probes._plugin import Deadline
from tests.conftest import requires_root
from tests.probes.hangfs import HangingMount

REPOSITORY = Path(__file__).resolve().parents[2]
CHILD_MODULE = "probes._isolated"


# --- measurements, run in the children ------------------------------------------------------


def counting(count: str) -> Iterator[Record]:
    for index in range(int(count)):
        yield {"index": index, "text": f"record {index}"}


def failing(path: str) -> Iterator[Record]:
    yield {"before": True}
    os.stat(path)
    yield {"after": True}


def broken() -> Iterator[Record]:
    yield {"before": True}
    raise ValueError("a bug, not an OSError")


def started_then_waiting(flag: str) -> Iterator[Record]:
    yield {"started": True}
    while os.path.exists(flag):
        time.sleep(0.05)


def waiting(flag: str) -> Iterator[Record]:
    # nothing written before the wait: the parent may be gone by then
    while os.path.exists(flag):
        time.sleep(0.05)
    yield {"waited": True}


def meeting(directory: str, count: str, name: str) -> Iterator[Record]:
    """Ends only when ``count`` children have arrived: they must run at the same time."""
    Path(directory, name).touch()
    while len(os.listdir(directory)) < int(count):
        time.sleep(0.02)
    yield {"met": name}


def listing(path: str) -> Iterator[Record]:
    yield {"entries": sorted(os.listdir(path))}


# --- helpers ----------------------------------------------------------------------------------


def children_with(marker: str) -> list[int]:
    """Live isolated children whose command line holds ``marker`` (zombies have none)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if CHILD_MODULE.encode() in command and marker.encode() in command:
            found.append(int(entry.name))
    return found


def gone(marker: str, within: float = 10.0) -> bool:
    end = time.monotonic() + within
    while children_with(marker):
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


def run_parent(body: str, *args: str) -> subprocess.CompletedProcess[str]:
    """A probe-like parent process; returns when it has exited and its output has ended."""
    code = (
        "import os, sys\nfrom probes._isolated import Child\nfrom probes._plugin import Deadline\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code + textwrap.dedent(body), *args],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPOSITORY,
        env={**os.environ, "PYTHONPATH": str(REPOSITORY)},
        check=False,
    )


# --- records and errors -------------------------------------------------------------------------


def test_records_arrive_in_order_and_complete() -> None:
    outcome = Child(counting, "3").outcome(Deadline(20))
    assert outcome.complete
    assert outcome.records == [{"index": i, "text": f"record {i}"} for i in range(3)]
    assert (outcome.hung, outcome.error, outcome.exit_status) == (None, None, 0)


def test_an_oserror_ends_the_records_as_an_error(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing")
    outcome = Child(failing, missing).outcome(Deadline(20))
    assert not outcome.complete
    assert outcome.records == [{"before": True}]
    # the error comes back as the OSError subclass it was, with its file
    assert isinstance(outcome.error, FileNotFoundError)
    assert outcome.error.filename == missing
    assert outcome.problem() == "No such file or directory"
    assert outcome.exit_status == 0


def test_any_other_exception_is_a_failed_child() -> None:
    outcome = Child(broken).outcome(Deadline(20))
    assert not outcome.complete
    assert outcome.records == [{"before": True}]
    assert outcome.error is None
    assert outcome.exit_status == 1
    assert outcome.problem() == "the measuring process failed (exit status 1)"


def test_only_module_level_functions_can_be_run() -> None:
    def nested(path: str) -> Iterator[Record]:
        yield {}

    with pytest.raises(ValueError, match="cannot be run in a child process"):
        Child(nested)
    assert target(listing) == "tests.probes.test_isolated:listing"


# --- hanging, in parallel, abandoned ------------------------------------------------------------


def test_a_child_that_does_not_end_is_hung_and_killed(tmp_path: Path) -> None:
    flag = tmp_path / "wait"
    flag.touch()
    started = time.monotonic()
    outcome = Child(started_then_waiting, str(flag)).outcome(Deadline(2))
    elapsed = time.monotonic() - started
    assert outcome.hung is not None
    assert outcome.problem() == "did not answer within 2 s"
    # what it said before it hung is kept
    assert outcome.records == [{"started": True}]
    assert not outcome.complete
    assert elapsed < 8
    # killed, though the flag still tells it to wait
    assert gone(str(flag))


def test_children_run_in_parallel(tmp_path: Path) -> None:
    children = [Child(meeting, str(tmp_path), "4", f"child{i}") for i in range(4)]
    deadline = Deadline(20)
    outcomes = [child.outcome(deadline) for child in children]
    assert [o.records for o in outcomes] == [[{"met": f"child{i}"}] for i in range(4)]


def test_a_child_never_holds_the_parents_output(tmp_path: Path) -> None:
    flag = tmp_path / "wait"
    flag.touch()
    # the parent leaves its child running, as a probe leaves one stuck on a hung mount
    parent = run_parent(
        """
        from tests.probes.test_isolated import waiting
        Child(waiting, sys.argv[1])
        print("parent done", flush=True)
        os._exit(0)
        """,
        str(flag),
    )
    assert (parent.returncode, parent.stdout, parent.stderr) == (0, "parent done\n", "")
    # the parent's output ended while its child still ran
    assert children_with(str(flag))
    flag.unlink()
    assert gone(str(flag))


def test_relative_paths_are_the_callers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "here").mkdir()
    (tmp_path / "here" / "file").touch()
    monkeypatch.chdir(tmp_path)
    outcome = Child(listing, "here").outcome(Deadline(20))
    assert outcome.records == [{"entries": ["file"]}]


@requires_root
def test_a_child_stuck_on_a_hung_fuse_mount_is_abandoned(tmp_path: Path) -> None:
    with HangingMount(tmp_path / "hung", tmp_path / "hang-now") as mount:
        mount.hang()
        marker = str(mount.mountpoint)
        started = time.monotonic()
        parent = run_parent(
            """
            from tests.probes.test_isolated import listing
            outcome = Child(listing, sys.argv[1]).outcome(Deadline(2))
            print(outcome.problem(), flush=True)
            os._exit(0)
            """,
            marker,
        )
        elapsed = time.monotonic() - started
        # the parent answered and its output ended, though its child is beyond SIGKILL
        assert (parent.returncode, parent.stdout) == (0, "did not answer within 2 s\n")
        assert elapsed < 10
        assert children_with(marker), "the child should still be stuck in the kernel"
    # once the filesystem is gone the kill lands: nothing is left behind
    assert gone(marker)
    assert marker not in Path("/proc/mounts").read_text()
