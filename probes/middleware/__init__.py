"""check_wn_middleware: the grid middleware a pilot VM takes from grid.cern.ch, and its proxy.

Checks the IGTF trust store (every CA's CRL present, parsable and not past nextUpdate), the
VOMS files of the VO, that a WN/UI setup script exists, and that the injected X.509 proxy
outlives the VM.

Everything under the grid root sits on cvmfs and may hang, and so may the proxy file: both
are read in child processes (probes._isolated) that the probe stops waiting for, so a hung
trust store is reported, not waited on.

_names compares X.509 names, _truststore and _proxy read (in the children), _resources
hands the facts over, _contexts judges and speaks, _cli is the command line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> NoReturn:
    # imported here: the children that read the trust store import this package too
    from probes.middleware._cli import main as run

    run(argv)
