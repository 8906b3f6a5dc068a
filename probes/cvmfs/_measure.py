"""What runs in the child processes (probes._isolated): plain facts, no judgement."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator

from probes._isolated import Record

NUMERIC_ATTRIBUTES = ("revision", "nioerr", "usedfd", "maxfd", "nclg", "expires", "ncleanup24")
TEXT_ATTRIBUTES = ("version", "host", "proxy")
ATTRIBUTES = NUMERIC_ATTRIBUTES + TEXT_ATTRIBUTES


def inspect_repository(path: str) -> Iterator[Record]:
    """The listing first, so that a hang after it says where it hung."""
    yield {"entries": len(os.listdir(path))}
    attributes: dict[str, str] = {}
    missing: dict[str, str] = {}
    for name in ATTRIBUTES:
        try:
            raw = os.getxattr(path, f"user.{name}")
        except OSError as exc:
            # the path is the repository's, already named in the report
            missing[name] = "missing" if exc.errno == errno.ENODATA else exc.strerror or str(exc)
        else:
            attributes[name] = raw.decode("utf-8", errors="replace").strip("\x00 \n")
    yield {"attributes": attributes, "missing": missing}


def measure_partition(base: str) -> Iterator[Record]:
    # the cache directory may not exist yet (cvmfs creates it on first use); the partition
    # it will be on is that of its nearest existing parent
    path = base
    while True:
        try:
            fs = os.statvfs(path)
            break
        except FileNotFoundError:
            parent = os.path.dirname(path)
            if parent == path:
                raise
            path = parent
    used = fs.f_blocks - fs.f_bfree
    usable = used + fs.f_bavail
    used_pct = 100.0 * used / usable if usable else 0.0
    size_bytes = fs.f_blocks * fs.f_frsize
    yield {"measured": path, "used_pct": round(used_pct, 1), "size_bytes": size_bytes}
