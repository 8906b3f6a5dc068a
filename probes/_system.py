"""Reading the kernel's tables (mounts, swaps) as files, so tests can hand in their own.

Decisions about mounts compare path strings only: ``stat``, ``realpath`` and
``os.path.ismount`` block forever on a hung FUSE mount, a table read does not.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MOUNTS_FILE = "/proc/mounts"
DEFAULT_SWAPS_FILE = "/proc/swaps"

_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


def _unescape(field: str) -> str:
    """The kernel writes space, tab, newline and backslash in paths as ``\\ooo``."""
    return _OCTAL_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


def normalise(path: str | os.PathLike[str]) -> str:
    """A path in the form the mounts table uses, without touching the filesystem."""
    return os.path.normpath(os.path.abspath(os.fspath(path)))


@dataclass(frozen=True)
class Mount:
    device: str
    mountpoint: str
    fstype: str
    options: tuple[str, ...]


def read_mounts(mounts_file: str | os.PathLike[str] = DEFAULT_MOUNTS_FILE) -> list[Mount]:
    """The mounts table, in mount order (a later mount on the same point hides earlier ones)."""
    mounts = []
    for line in Path(mounts_file).read_text(encoding="utf-8", errors="replace").splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        mounts.append(
            Mount(
                device=_unescape(fields[0]),
                mountpoint=normalise(_unescape(fields[1])),
                fstype=fields[2],
                options=tuple(fields[3].split(",")),
            )
        )
    return mounts


def mount_at(path: str | os.PathLike[str], mounts: list[Mount]) -> Mount | None:
    """The mount whose mount point is exactly ``path`` (the topmost one), if any."""
    wanted = normalise(path)
    found = None
    for mount in mounts:
        if mount.mountpoint == wanted:
            found = mount
    return found


def mount_containing(path: str | os.PathLike[str], mounts: list[Mount]) -> Mount | None:
    """The mount that holds ``path``: the longest mount point that is a prefix of it."""
    wanted = normalise(path)
    best: Mount | None = None
    for mount in mounts:
        point = mount.mountpoint
        inside = wanted == point or wanted.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= len(best.mountpoint)):
            best = mount
    return best


@dataclass(frozen=True)
class Swap:
    filename: str
    kind: str
    size_kb: int
    used_kb: int


def read_swaps(swaps_file: str | os.PathLike[str] = DEFAULT_SWAPS_FILE) -> list[Swap]:
    """Active swap areas from a ``/proc/swaps`` style table (the header line is skipped)."""
    swaps = []
    lines = Path(swaps_file).read_text(encoding="utf-8", errors="replace").splitlines()
    for line in lines[1:]:
        fields = line.split()
        if len(fields) < 4:
            continue
        swaps.append(
            Swap(
                filename=normalise(_unescape(fields[0])),
                kind=fields[1],
                size_kb=int(fields[2]),
                used_kb=int(fields[3]),
            )
        )
    return swaps
