"""check_wn_scratch: is the scratch partition there, its own, big enough, free and writable?

Jobs on a pilot VM put their work, the cvmfs cache and swap on ``/scratch``, a partition of
its own from the hypervisor; the root filesystem is a slow copy-on-write overlay.

Everything that touches the scratch filesystem (stat, statvfs, the write test, the
devices of the cvmfs cache and swap files) runs in child processes (probes._isolated): a
hung scratch is reported as broken, not waited for.

_measure runs in the children, _resources measures, _contexts judges and speaks, _cli is
the command line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> NoReturn:
    # imported here: the children that measure import this package too, and need none of it
    from probes.scratch._cli import main as run

    run(argv)
