"""How results are said, the same in every probe.

Long output is one ``STATE: text`` line per result, worst first. The status line names the
problems, worst first, separated by ``SEPARATOR``: never by ``;``, which Nagios does not
pass through a status line unchanged.
"""

from __future__ import annotations

import nagiosplugin
from nagiosplugin import Ok, Result, Results

from probes._common.contexts import Tally

SEPARATOR = " - "


def plural(number: int, singular: str, plural_form: str = "") -> str:
    """``1 repository``, ``2 repositories``."""
    return f"{number} {singular if number == 1 else plural_form or singular + 's'}"


def listed(result: Result) -> bool:
    return not isinstance(result.context, Tally)


def long_output(results: Results) -> list[str]:
    return [f"{str(r.state).upper()}: {r}" for r in results if listed(r)]


def problems(results: Results, named: int | None = None) -> str:
    """The results that are not OK, worst first; beyond ``named`` of them only counted."""
    found = [str(r) for r in results if r.state != Ok]
    if named is None or len(found) <= named:
        return SEPARATOR.join(found)
    return SEPARATOR.join([*found[:named], f"and {len(found) - named} more"])


class ProbeSummary(nagiosplugin.Summary):
    """The problems in the status line, every result in long output."""

    named: int | None = None

    def problem(self, results: Results) -> str:
        return problems(results, self.named)

    def verbose(self, results: Results) -> list[str]:
        return long_output(results)
