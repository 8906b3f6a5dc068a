"""Nagios threshold ranges (monitoring-plugins guidelines), parsed once for both sides: the
probes judge their measurements with them in the VM, and threshold profiles judge stored
perfdata on the server.

A range names the values that are fine; a value outside it alerts: ``10`` alerts outside
0..10, ``10:`` below 10, ``~:10`` above 10, ``5:10`` outside 5..10, and ``@5:10`` (inverted)
alerts inside 5..10.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nagiosplugin import Range

_NUMBER = r"-?[0-9]+(?:\.[0-9]+)?"
# the monitoring-plugins grammar; nagiosplugin.Range alone also takes "1_0" or " 10"
_RANGE = re.compile(rf"@?(?:{_NUMBER}|(?:{_NUMBER}|~)?:(?:{_NUMBER})?)")


def parse_range(text: str) -> Range:
    """A range from its text; ValueError for text that is not one."""
    # imported here: vmsam.shared is imported in the VM by code that needs no range
    from nagiosplugin import Range

    if not _RANGE.fullmatch(text):
        raise ValueError(f"not a Nagios range: {text!r}")
    try:
        return Range(text)
    except ValueError:
        raise ValueError(f"not a Nagios range (start above end): {text!r}") from None
