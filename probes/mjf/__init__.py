"""check_wn_mjf: are the VM's Machine/Job Features there, complete and consistent?

Locations: the options, then ``$MACHINEFEATURES`` / ``$JOBFEATURES``, then
``<etc-dir>/machinefeatures`` and ``jobfeatures``, then (unless ``--no-discovery``) Vac's
metadata server and the OpenStack metadata. Neither set found, or only one, is CRITICAL.

_keys says which keys there are and what they must hold, _resources reads them, _contexts
judges and speaks, _cli is the command line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> NoReturn:
    from probes.mjf._cli import main as run

    run(argv)
