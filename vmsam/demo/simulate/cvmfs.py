"""The CernVM-FS part of a simulated VM: repositories, their client attributes, the config.

Each repository is a small tmpfs (a plain directory listed in the private mounts table when
not root) whose root carries the ``user.*`` attributes a real cvmfs client answers with.
grid.cern.ch stays mounted and writable in every case: the grid trust store is put into it
afterwards. The cache is configured on scratch, which is mounted later; check_wn_cvmfs
measures a cache directory that does not exist yet at the partition of its nearest parent.
"""

from __future__ import annotations

import os
from pathlib import Path

from probes.cvmfs import GRID_REPOSITORY, VO_REPOSITORIES, repositories_for
from vmsam.demo.simulate import VMLayout
from vmsam.demo.simulate._mounts import Mounter

REPOSITORY_BYTES = 64 * 1024 * 1024
QUOTA_LIMIT_MB = 11000
MAXFD = 130560
CLIENT_VERSION = "2.11.2.0"

HEALTHY = {
    "version": CLIENT_VERSION,
    "nioerr": "0",
    "timestamp_last_ioerr": "0",
    "usedfd": "48",
    "maxfd": str(MAXFD),
    "nclg": "12",
    "expires": "3",
    "ncleanup24": "0",
    "proxy": "http://squid.tier2.hep.manchester.ac.uk:3128",
    "speed": "1450",
    "hitrate": "97.3",
    "inode_max": "4718592",
}
# a client that lost its proxies for a while and leaks file descriptors
FAULTY = {"nioerr": "7", "timestamp_last_ioerr": "1764064800", "usedfd": "126000"}


def simulate(layout: VMLayout, mounter: Mounter, *, healthy: bool) -> list[str]:
    """Build ``layout.cvmfs_root`` and the client config; the check_wn_cvmfs arguments."""
    names = [repository.name for repository in repositories_for(layout.vo)]
    missing, faulty = _broken(names) if not healthy else (None, None)
    for number, name in enumerate(names):
        if name == missing:
            continue
        path = layout.cvmfs_root / name
        mounter.tmpfs(path, REPOSITORY_BYTES)
        _fill(path, name)
        attributes = {
            **HEALTHY,
            "fqrn": name,
            "revision": str(4711 + 1000 * number),
            "host": f"http://cvmfs-stratum-one.cern.ch:8000/cvmfs/{name}",
            "pid": str(900 + number),
            **(FAULTY if name == faulty else {}),
        }
        _set_attributes(path, attributes)
    _write_config(layout)
    args = [
        "--cvmfs-root",
        str(layout.cvmfs_root),
        "--vo",
        layout.vo,
        "--mounts-file",
        str(mounter.mounts_file),
        "--cvmfs-config-dir",
        str(layout.cvmfs_config_dir),
        "--scratch",
        str(layout.scratch),
    ]
    if layout.vo not in VO_REPOSITORIES:
        # the probe treats an unknown VO's own repository as optional; here it is required
        for name in names:
            args += ["--repo", name]
    return args


def _broken(names: list[str]) -> tuple[str, str]:
    """The repository left unmounted (the conditions DB when the VO has one) and the faulty one."""
    candidates = [name for name in names if name != GRID_REPOSITORY]
    missing = next((name for name in candidates if "condb" in name), candidates[0])
    others = [name for name in names if name != missing]
    faulty = next((name for name in others if name != GRID_REPOSITORY), GRID_REPOSITORY)
    return missing, faulty


def _fill(path: Path, name: str) -> None:
    """A few entries, as a repository root has (grid.cern.ch gets its trust store later)."""
    (path / ".cvmfsdirtab").write_text("/*\n")
    if name != GRID_REPOSITORY:
        (path / "lib").mkdir(exist_ok=True)
        (path / "README").write_text(f"simulated CernVM-FS repository {name}\n")


def _set_attributes(path: Path, attributes: dict[str, str]) -> None:
    for key, value in attributes.items():
        os.setxattr(path, f"user.{key}", value.encode())


def _write_config(layout: VMLayout) -> None:
    config = layout.cvmfs_config_dir
    (config / "config.d").mkdir(parents=True, exist_ok=True)
    # the packaged defaults, overridden by the site's default.local as on a real client
    (config / "default.conf").write_text(
        "CVMFS_CACHE_BASE=/var/lib/cvmfs\nCVMFS_QUOTA_LIMIT=4000\nCVMFS_NFILES=131072\n"
    )
    (config / "default.local").write_text(
        "# written by the VM's contextualisation: the cache lives on scratch\n"
        f"CVMFS_CACHE_BASE={layout.scratch / 'cvmfs-cache'}\n"
        f"CVMFS_QUOTA_LIMIT={QUOTA_LIMIT_MB}\n"
        'CVMFS_HTTP_PROXY="http://squid.tier2.hep.manchester.ac.uk:3128;DIRECT"\n'
    )
