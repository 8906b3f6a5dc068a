"""check_wn_cvmfs: are the VO's CernVM-FS repositories mounted, readable and healthy?

For each repository: a mount of its own (mounts table, by path string), its root listed
within the time budget, and the client's ``user.*`` attributes judged with the rules of the
cvmfs project's own check. The cache partition named by the client configuration is checked
for fill and, given ``--scratch``, for its place.

Every touch of a repository or of the cache happens in a child process, all in parallel
within one deadline: a hung FUSE mount blocks its callers in the kernel, and a repository
that hung is reported as broken (CRITICAL) while the others are still judged.

_repositories says what is checked, _measure runs in the children, _resources measures,
_contexts judges and speaks, _cli is the command line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn

from probes.cvmfs._repositories import (
    GRID_REPOSITORY,
    VO_REPOSITORIES,
    Repository,
    repositories_for,
)

__all__ = ["GRID_REPOSITORY", "VO_REPOSITORIES", "Repository", "main", "repositories_for"]


def main(argv: Sequence[str] | None = None) -> NoReturn:
    # imported here: the children that measure import this package too, and need none of it
    from probes.cvmfs._cli import main as run

    run(argv)
