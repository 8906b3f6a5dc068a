"""What runs in the child processes (probes._isolated): plain facts, no judgement."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass

from probes._isolated import Record

MB = 10**6


@dataclass(frozen=True)
class Inspection:
    """What stat and statvfs say about the scratch directory."""

    realpath: str
    device: int
    root_device: int
    mode: int
    tmp_mode: int | None
    tmp_kind: str | None  # why tmp does not count as a directory: "missing", "a symlink", ...
    total_bytes: int
    avail_bytes: int
    total_inodes: int
    avail_inodes: int

    @property
    def own_device(self) -> bool:
        return self.device != self.root_device


def inspect_scratch(path: str, root_path: str) -> Iterator[Record]:
    info = os.stat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise NotADirectoryError(errno.ENOTDIR, "not a directory", path)
    vfs = os.statvfs(path)
    tmp_mode: int | None = None
    tmp_kind: str | None = None
    try:
        tmp = os.lstat(os.path.join(path, "tmp"))
    except FileNotFoundError:
        tmp_kind = "missing"
    else:
        if stat.S_ISLNK(tmp.st_mode):
            tmp_kind = "a symlink, not a directory"
        elif not stat.S_ISDIR(tmp.st_mode):
            tmp_kind = "not a directory"
        else:
            tmp_mode = stat.S_IMODE(tmp.st_mode)
    yield asdict(
        Inspection(
            realpath=os.path.realpath(path),
            device=info.st_dev,
            root_device=os.stat(root_path).st_dev,
            mode=stat.S_IMODE(info.st_mode),
            tmp_mode=tmp_mode,
            tmp_kind=tmp_kind,
            total_bytes=vfs.f_blocks * vfs.f_frsize,
            # f_bavail, not f_bfree: jobs do not run as root and cannot use the reserved blocks
            avail_bytes=vfs.f_bavail * vfs.f_frsize,
            total_inodes=vfs.f_files,
            avail_inodes=vfs.f_favail,
        )
    )


def write_test(directory: str, megabytes: str) -> Iterator[Record]:
    """Write ``megabytes`` MB with fsync, read them back and compare: the write speed in MB/s,
    or what was read back wrong.

    The test file is removed whatever happens (unless the filesystem hangs under it).
    """
    count = int(megabytes)
    block = os.urandom(MB)

    def numbered(index: int) -> bytes:
        # a block misplaced by the filesystem must not compare equal to the right one
        return index.to_bytes(8, "big") + block[8:]

    handle, name = tempfile.mkstemp(prefix=".check_wn_scratch-", dir=directory)
    try:
        started = time.monotonic()
        with os.fdopen(handle, "wb") as out:
            for index in range(count):
                out.write(numbered(index))
            out.flush()
            os.fsync(out.fileno())
            elapsed = time.monotonic() - started
            # drop the cached pages so that the read-back comes from the device
            os.posix_fadvise(out.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        with open(name, "rb") as back:
            wrong = next((i for i in range(count) if back.read(MB) != numbered(i)), None)
            longer = wrong is None and back.read(1) != b""
    finally:
        os.unlink(name)
    if wrong is not None:
        yield {"problem": f"MB {wrong + 1} read back differs from what was written"}
    elif longer:
        yield {"problem": "file read back is longer than what was written"}
    else:
        yield {"speed": count / max(elapsed, 1e-6)}


def device(path: str) -> Iterator[Record]:
    yield {"device": os.stat(path).st_dev}
