"""A tiny FUSE filesystem that looks like a cvmfs repository until it is told to hang.

Run as ``python -m tests.probes.hangfs MOUNTPOINT TRIGGER``: it serves a root directory with
one file and cvmfs-like ``user.*`` attributes; while the file TRIGGER exists, every request
blocks, which is how a cvmfs repository whose servers and proxies went away behaves.
``HangingMount`` starts it in a subprocess and takes it down again so that no test leaves a
hung mount behind (a hung mount blocks even pytest's cleanup of the temporary directory).
"""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ATTRIBUTES = {
    "revision": b"42",
    "version": b"2.11.2.0",
    "nioerr": b"0",
    "usedfd": b"10",
    "maxfd": b"130560",
    "nclg": b"3",
    "expires": b"3",
    "ncleanup24": b"0",
    "host": b"http://stratum-one.invalid/cvmfs/hung.cern.ch",
    "proxy": b"DIRECT",
}
FILE_NAME = "README"
FILE_DATA = b"a repository that can hang\n"


def serve(mountpoint: str, trigger: Path) -> None:
    import mfusepy

    def wait_while_told() -> None:
        while trigger.exists():
            time.sleep(0.05)

    class HangFS(mfusepy.Operations):  # type: ignore[misc]
        use_ns = True

        def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
            wait_while_told()
            now = time.time_ns()
            if path == "/":
                mode, size, links = stat.S_IFDIR | 0o755, 0, 2
            elif path == "/" + FILE_NAME:
                mode, size, links = stat.S_IFREG | 0o444, len(FILE_DATA), 1
            else:
                raise mfusepy.FuseOSError(errno.ENOENT)
            return {
                "st_mode": mode,
                "st_nlink": links,
                "st_size": size,
                "st_atime": now,
                "st_mtime": now,
                "st_ctime": now,
            }

        def opendir(self, path: str) -> int:
            wait_while_told()
            return 0

        def statfs(self, path: str) -> dict[str, int]:
            wait_while_told()
            return {
                "f_bsize": 4096,
                "f_frsize": 4096,
                "f_blocks": 1024,
                "f_bfree": 512,
                "f_bavail": 512,
                "f_files": 100,
                "f_ffree": 50,
                "f_namemax": 255,
            }

        def readdir(self, path: str, fh: int) -> list[str]:
            wait_while_told()
            return [".", "..", FILE_NAME]

        def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
            wait_while_told()
            return FILE_DATA[offset : offset + size]

        def getxattr(self, path: str, name: str, position: int = 0) -> bytes:
            wait_while_told()
            key = name.removeprefix("user.")
            if path != "/" or not name.startswith("user.") or key not in ATTRIBUTES:
                raise mfusepy.FuseOSError(errno.ENODATA)
            return ATTRIBUTES[key]

        def listxattr(self, path: str) -> list[str]:
            wait_while_told()
            return [f"user.{key}" for key in ATTRIBUTES] if path == "/" else []

    mfusepy.FUSE(HangFS(), mountpoint, foreground=True, nothreads=False, fsname="hangfs")


def _mounted(mountpoint: Path) -> bool:
    wanted = os.path.normpath(mountpoint)
    return any(
        line.split()[1] == wanted
        for line in Path("/proc/mounts").read_text().splitlines()
        if len(line.split()) > 1
    )


class HangingMount:
    """A hangfs mount at ``mountpoint``; ``hang()`` makes it stop answering."""

    def __init__(self, mountpoint: Path, trigger: Path) -> None:
        self.mountpoint = mountpoint
        self.trigger = trigger
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, wait: float = 10.0) -> None:
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.probes.hangfs", str(self.mountpoint), str(self.trigger)],
            cwd=Path(__file__).resolve().parents[2],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        end = time.monotonic() + wait
        while not _mounted(self.mountpoint):
            if self._process.poll() is not None or time.monotonic() > end:
                errors = self._stop_process()
                raise RuntimeError(f"hangfs did not mount at {self.mountpoint}: {errors}")
            time.sleep(0.05)

    def hang(self) -> None:
        self.trigger.touch()

    def close(self) -> None:
        """Kill the filesystem (blocked callers then get ENOTCONN) and detach the mount."""
        self.trigger.unlink(missing_ok=True)
        self._stop_process()
        # lazy, so that a caller still inside the dead mount cannot keep it attached
        subprocess.run(["umount", "-l", str(self.mountpoint)], capture_output=True, check=False)
        if _mounted(self.mountpoint):
            raise RuntimeError(f"hangfs still mounted at {self.mountpoint}")

    def _stop_process(self) -> str:
        process, self._process = self._process, None
        if process is None:
            return ""
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        _, errors = process.communicate(timeout=10)
        return errors.decode(errors="replace").strip()

    def __enter__(self) -> HangingMount:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    serve(sys.argv[1], Path(sys.argv[2]))
