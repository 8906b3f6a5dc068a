"""The filesystems of a simulated VM: real mounts when root, a private mounts table otherwise."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

PROC_MOUNTS = Path("/proc/mounts")


class MountError(RuntimeError):
    pass


class Mounter:
    """Mounts filesystems for a simulated VM and takes them down again in reverse order.

    With ``real=True`` (needs root) the filesystems are real mounts and the probes read
    ``/proc/mounts``; otherwise the directories are plain and listed as mounts in a table
    of the simulated VM's own (``mounts_file``), which every probe accepts as an option.
    """

    def __init__(self, root: Path, *, real: bool) -> None:
        self.root = root
        self.real = real
        self._mounted: list[Path] = []
        self._loop_images: list[Path] = []
        self._fake_table = root / "proc-mounts"
        if not real:
            self._fake_table.write_text("overlay / overlay rw,relatime 0 0\n")

    @property
    def mounts_file(self) -> Path:
        return PROC_MOUNTS if self.real else self._fake_table

    def tmpfs(self, path: Path, size_bytes: int) -> None:
        path.mkdir(parents=True, exist_ok=True)
        if self.real:
            _run("mount", "-t", "tmpfs", "-o", f"size={size_bytes},mode=0755", "tmpfs", str(path))
            self._mounted.append(path)
        else:
            self._list(f"tmpfs {path} tmpfs rw,size={size_bytes // 1024}k 0 0")

    def ext4_image(self, path: Path, size_bytes: int) -> None:
        """An ext4 filesystem in a sparse file, loop-mounted: a partition of its own.

        Inode tables and journal are initialised lazily and never in the background, so a
        VM-sized 42 GB partition costs a few MB of real disk.
        """
        path.mkdir(parents=True, exist_ok=True)
        if not self.real:
            self._list(f"/dev/vdb {path} ext4 rw,relatime 0 0")
            return
        image = self.root / f"{path.name}.ext4"
        with image.open("wb") as handle:
            handle.truncate(size_bytes)
        _run(
            "mkfs.ext4", "-q", "-F", "-m", "0",
            "-E", "lazy_itable_init=1,lazy_journal_init=1", str(image),
        )  # fmt: skip
        _run("mount", "-o", "loop,noinit_itable", str(image), str(path))
        self._mounted.append(path)
        self._loop_images.append(image)

    def _list(self, line: str) -> None:
        with self._fake_table.open("a") as table:
            table.write(line + "\n")

    def close(self) -> None:
        while self._mounted:
            path = self._mounted.pop()
            # lazy: a test may leave a process inside; the tree is deleted afterwards anyway
            subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)
        for image in self._loop_images:
            image.unlink(missing_ok=True)
        self._loop_images.clear()


def can_mount() -> bool:
    return os.geteuid() == 0


def _run(*command: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise MountError(f"{' '.join(command)} failed: {done.stderr.strip()}")
