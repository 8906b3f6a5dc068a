"""The durable spool: dirq layout, locking between processes, purge, full and read-only disks."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from dirq.QueueSimple import QueueSimple

from tests.conftest import requires_root
from vmsam.vm.spool import Spool, SpoolError

BODIES = [
    "serviceURI: a.example\nmetricStatus: OK\nEOT\n",
    "détails: ünïcödé — ✓\nEOT\n",
    "x" * 70_000,
    "",
]


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_add_claim_remove_round_trip(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "outgoing")
    names = [spool.add(body) for body in BODIES]
    assert len(set(names)) == len(BODIES)
    assert spool.count() == len(BODIES)

    claimed = list(spool.claim())
    assert [m.name for m in claimed] == names  # oldest first
    assert [m.body for m in claimed] == BODIES
    assert [m.data for m in claimed] == [b.encode() for b in BODIES]
    for message in claimed:
        spool.remove(message.name)
    assert spool.count() == 0
    assert _files(tmp_path) == []


def test_elements_are_plain_dirq_queue_simple(tmp_path: Path) -> None:
    """Other tools (the reference publishers, vmsam ingest) read the spool with dirq."""
    spool = Spool(tmp_path)
    spool.add(BODIES[1])
    queue = QueueSimple(str(tmp_path))
    names = list(queue)
    assert len(names) == 1
    assert queue.lock(names[0])
    assert queue.get(names[0]).decode() == BODIES[1]
    queue.remove(names[0])
    assert spool.count() == 0


def test_dirq_written_elements_are_claimed(tmp_path: Path) -> None:
    QueueSimple(str(tmp_path)).add(b"from another writer")
    assert [m.body for m in Spool(tmp_path).claim()] == ["from another writer"]


def test_add_leaves_no_temporary_file(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    for body in BODIES:
        spool.add(body)
    assert not [f for f in _files(tmp_path) if f.endswith(".tmp")]


def test_claimed_elements_are_skipped_by_another_claimer(tmp_path: Path) -> None:
    first, second = Spool(tmp_path), Spool(tmp_path)
    for i in range(3):
        first.add(f"m{i}")
    held = list(first.claim())
    assert len(held) == 3
    assert list(second.claim()) == []
    assert second.count() == 3  # locked elements still count as waiting

    first.release(held[0].name)
    first.remove(held[1].name)
    again = list(second.claim())
    assert [m.body for m in again] == ["m0"]
    assert second.count() == 2


def test_stopping_a_claim_leaves_the_rest_unlocked(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    for i in range(5):
        spool.add(f"m{i}")
    claim = spool.claim()
    first = next(claim)
    claim.close()
    assert [m.body for m in Spool(tmp_path).claim()] == ["m1", "m2", "m3", "m4"]
    spool.remove(first.name)


CLAIMER = """
import os, sys, time
from pathlib import Path
from vmsam.vm.spool import Spool
spool = Spool(sys.argv[1])
# all claimers start together: ready, then wait for the test's go
barrier = Path(sys.argv[2])
(barrier / f"ready-{os.getpid()}").touch()
while not (barrier / "go").exists():
    time.sleep(0.005)
got = []
while True:
    claimed = 0
    # one element at a time, so that the claimers interleave
    for message in spool.claim():
        got.append(message.body)
        spool.remove(message.name)
        claimed += 1
    if not claimed:
        break
print("\\n".join(got))
"""


def test_two_concurrent_processes_never_claim_the_same_element(tmp_path: Path) -> None:
    queue_dir, barrier = tmp_path / "spool", tmp_path / "barrier"
    barrier.mkdir()
    spool = Spool(queue_dir)
    total = 3000
    for i in range(total):
        spool.add(f"m{i:05d}")
    claimers = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIMER, str(queue_dir), str(barrier)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).parent.parent,
        )
        for _ in range(3)
    ]
    deadline = time.monotonic() + 60
    while len(list(barrier.glob("ready-*"))) < len(claimers) and time.monotonic() < deadline:
        time.sleep(0.01)
    (barrier / "go").touch()
    outputs = [c.communicate(timeout=120)[0].split() for c in claimers]
    assert all(c.returncode == 0 for c in claimers)
    seen = Counter(body for output in outputs for body in output)
    assert seen == Counter(f"m{i:05d}" for i in range(total))  # every one, exactly once
    assert sum(1 for output in outputs if output) >= 2, "the claimers did not overlap"
    assert spool.count() == 0


def test_purge_clears_stale_locks_only(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    for i in range(2):
        spool.add(f"m{i}")
    stale, fresh = list(spool.claim())
    old = time.time() - 3600
    os.utime(tmp_path / stale.name, (old, old))  # the lock is a hard link: same inode
    spool.purge(max_lock_age=600)
    assert [m.body for m in Spool(tmp_path).claim()] == ["m0"]
    assert (tmp_path / (fresh.name + ".lck")).exists()


def test_purge_removes_old_temporaries_and_empty_directories(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    old_dir, new_dir = tmp_path / "00000010", tmp_path / "00000020"
    old_dir.mkdir()
    new_dir.mkdir()
    debris = new_dir / "tmpabcd.tmp"
    debris.write_text("half written")
    old = time.time() - 3600
    os.utime(debris, (old, old))
    recent = new_dir / "tmpefgh.tmp"
    recent.write_text("being written")
    spool.add("kept")
    spool.purge()
    assert not old_dir.exists()
    assert not debris.exists()
    assert recent.exists()
    assert [m.body for m in spool.claim()] == ["kept"]


def test_spool_path_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(SpoolError, match="cannot create the spool"):
        Spool(tmp_path / "file")


def test_unwritable_parent_is_a_spool_error(tmp_path: Path) -> None:
    with pytest.raises(SpoolError, match="cannot create the spool"):
        Spool("/proc/vmsam-spool")


@contextlib.contextmanager
def _tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(spool: Spool, added: list[str]) -> None:
    for i in range(1000):
        added.append(spool.add(f"{i:04d}" + "x" * 4000))


@requires_root
@pytest.mark.root
def test_full_disk_is_a_spool_error_and_leaves_no_debris(tmp_path: Path) -> None:
    with _tmpfs(tmp_path / "small", "64k") as mount:
        spool = Spool(mount / "outgoing")
        added: list[str] = []
        with pytest.raises(SpoolError, match="No space left on device"):
            _fill(spool, added)
        assert added, "nothing fitted at all"
        assert not [f for f in _files(mount) if f.endswith(".tmp")]
        # what was added before is intact and deliverable, and room comes back
        claimed = list(spool.claim())
        assert [m.name for m in claimed] == added
        assert all(m.body.startswith(f"{i:04d}") for i, m in enumerate(claimed))
        for message in claimed:
            spool.remove(message.name)
        spool.add("fits again")
        assert spool.count() == 1


@requires_root
@pytest.mark.root
def test_read_only_disk_is_a_spool_error(tmp_path: Path) -> None:
    with _tmpfs(tmp_path / "ro", "1m") as mount:
        spool = Spool(mount / "outgoing")
        spool.add("before")
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        with pytest.raises(SpoolError, match="Read-only file system"):
            spool.add("after")
        with pytest.raises(SpoolError, match="Read-only file system"):
            list(spool.claim())
        assert spool.count() == 1
        with pytest.raises(SpoolError, match="Read-only file system"):
            Spool(mount / "elsewhere")


@requires_root
@pytest.mark.root
def test_read_only_bind_mount_is_a_spool_error(tmp_path: Path) -> None:
    source, view = tmp_path / "source", tmp_path / "view"
    Spool(source).add("queued")
    view.mkdir()
    subprocess.run(["mount", "--bind", "-o", "ro", str(source), str(view)], check=True)
    try:
        spool = Spool(view)
        assert spool.count() == 1
        with pytest.raises(SpoolError):
            spool.add("more")
    finally:
        subprocess.run(["umount", "-l", str(view)], check=False)
