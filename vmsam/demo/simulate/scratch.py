"""The scratch partition of a simulated VM.

Healthy, it is what a CernVM pilot has: a partition of its own (a loop-mounted ext4 image
here), mode 1777 with ``tmp/`` 1777, the cvmfs cache and a swap file on it. Unhealthy, it
is a plain directory on the root filesystem with the wrong mode, no ``tmp/`` and no swap.
"""

from __future__ import annotations

from pathlib import Path

from vmsam.demo.simulate import VMLayout
from vmsam.demo.simulate._mounts import Mounter

# a real pilot VM's scratch: over the probe's default minimum of 40 GB (a sparse image)
SIZE_BYTES = 42 * 10**9
SWAP_FILE_BYTES = 2**20
WRITE_MB = "4"
STICKY_WORLD = 0o1777


def cache_dir(layout: VMLayout) -> Path:
    """Where the simulated cvmfs client configuration puts CVMFS_CACHE_BASE."""
    return layout.scratch / "cvmfs-cache"


def swaps_table(swap_files: list[Path]) -> str:
    lines = ["Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority"]
    lines += [f"{path}\tfile\t\t{SWAP_FILE_BYTES // 1024}\t\t0\t\t-2" for path in swap_files]
    return "\n".join(lines) + "\n"


def simulate(
    layout: VMLayout, mounter: Mounter, *, healthy: bool, size_bytes: int = SIZE_BYTES
) -> list[str]:
    """Build ``layout.scratch``; the check_wn_scratch arguments. ``size_bytes`` is the size
    of the healthy partition (below the probe's 40 GB minimum it is a disk too small)."""
    scratch = layout.scratch
    swap_files: list[Path] = []
    if healthy:
        # mounted over anything the cvmfs part left at this path, hence the cache dir below
        mounter.ext4_image(scratch, size_bytes)
        scratch.chmod(STICKY_WORLD)
        (scratch / "tmp").mkdir(exist_ok=True)
        (scratch / "tmp").chmod(STICKY_WORLD)
        swap = scratch / "swapfile"
        with swap.open("wb") as handle:
            handle.truncate(SWAP_FILE_BYTES)
        swap.chmod(0o600)
        swap_files.append(swap)
    else:
        scratch.mkdir(parents=True, exist_ok=True)
        scratch.chmod(0o755)
    cache_dir(layout).mkdir(parents=True, exist_ok=True)
    layout.swaps_file.parent.mkdir(parents=True, exist_ok=True)
    layout.swaps_file.write_text(swaps_table(swap_files))
    return [
        "--path",
        str(scratch),
        "--write-mb",
        WRITE_MB,
        "--mounts-file",
        str(mounter.mounts_file),
        "--swaps-file",
        str(layout.swaps_file),
        "--cvmfs-config-dir",
        str(layout.cvmfs_config_dir),
        "--jobfeatures",
        str(layout.jobfeatures),
        "--no-discovery",
    ]
