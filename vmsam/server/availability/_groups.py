"""Groups of sites (tiers, federations, countries) and their weighted A/R, with ARGO's rule
for groups of groups (argo-web-api, docs/availability.md):

- a day's figure of a group is the mean of its sites' figures of the day weighted by
  ``weight + 1`` (the 1 so that a site of weight 0 still counts), over the sites whose
  figure is defined: a site at -1 is left out of numerator and denominator alike, for A and
  for R apart; with none defined, the group's figure is -1;
- a month's figure is the plain mean of the group's defined daily figures in it (-1 when
  there are none).

The groups come from a file (TOML, or JSON by its suffix):

    [[groups]]
    name = "UK"
    kind = "country"                  # tier, federation or country
    sites = ["UKI-NORTHGRID-MAN-HEP", "UKI-SCOTGRID-GLASGOW"]
    weights = { UKI-SCOTGRID-GLASGOW = 12000.0 }   # optional; else the capacity reported
"""

from __future__ import annotations

import json
import math
import statistics
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal, get_args

from vmsam.server.availability._figures import UNDEFINED, round_half_up
from vmsam.server.availability._thresholds import perf_number, perf_values
from vmsam.shared.errors import GroupsError

Kind = Literal["tier", "federation", "country"]
KINDS: tuple[str, ...] = get_args(Kind)
_GROUP_KEYS = {"name", "kind", "sites", "weights"}
# the perfdata label of the MJF probe that carries a VM's HS06 (probes/mjf/_keys.py)
CAPACITY_LABEL = "hs06"


@dataclass(frozen=True)
class SiteGroup:
    name: str
    kind: str
    sites: tuple[str, ...]
    weights: Mapping[str, float]  # the explicit ones; the other sites weigh their capacity


@dataclass(frozen=True)
class GroupFigure:
    """A group's A and R of a day or a month, unrounded (-1: undefined)."""

    label: str
    availability: Fraction | None
    reliability: Fraction | None

    def as_result(self) -> dict[str, str | float]:
        return {
            "date": self.label,
            "availability": _published(self.availability),
            "reliability": _published(self.reliability),
        }


def _published(value: Fraction | None) -> float:
    return UNDEFINED if value is None else round_half_up(value)


def _weighted(figures: Sequence[tuple[float, float]]) -> Fraction | None:
    """ARGO's weighted mean of (figure, weight) pairs, leaving out undefined figures."""
    defined = [
        (Fraction(figure), Fraction(weight) + 1) for figure, weight in figures if figure >= 0
    ]
    total = sum((weight for _, weight in defined), Fraction())
    if total == 0:
        return None
    return sum((figure * weight for figure, weight in defined), Fraction()) / total


def group_days(
    days: Sequence[date],
    members: Mapping[str, Mapping[date, tuple[float, float]]],
    weights: Mapping[str, float],
) -> list[GroupFigure]:
    """Each day's figure of a group whose sites had the (A, R) of ``members`` (a site or a
    day not there is undefined), each site weighing ``weights``'s."""
    out = []
    for day in days:
        present = [(members[site][day], weights[site]) for site in members if day in members[site]]
        out.append(
            GroupFigure(
                day.isoformat(),
                _weighted([(figures[0], weight) for figures, weight in present]),
                _weighted([(figures[1], weight) for figures, weight in present]),
            )
        )
    return out


def group_months(days: Sequence[GroupFigure]) -> list[GroupFigure]:
    """The mean of the defined daily figures of each calendar month (labels YYYY-MM)."""
    months: dict[str, list[GroupFigure]] = {}
    for figure in days:
        months.setdefault(figure.label[:7], []).append(figure)

    def mean(values: list[Fraction | None]) -> Fraction | None:
        defined = [value for value in values if value is not None]
        return sum(defined, Fraction()) / len(defined) if defined else None

    return [
        GroupFigure(
            label,
            mean([figure.availability for figure in month]),
            mean([figure.reliability for figure in month]),
        )
        for label, month in months.items()
    ]


def site_capacities(rows: Iterable[tuple[str, str, str, str]]) -> dict[str, float]:
    """Per site, the capacity its VMs reported: for each of its spaces the median of the
    ``hs06`` values in the perfdata of ``rows`` (site, endpoint, service type, perfdata),
    summed over the spaces. A VM's ``hs06`` is the rating of all its processors
    (HSF-TN-2016-02), so it is not multiplied by a number of slots."""
    values: dict[tuple[str, str, str], list[float]] = {}
    for site, endpoint, service_type, perf_data in rows:
        text = perf_values(perf_data).get(CAPACITY_LABEL)
        number = perf_number(text) if text is not None else None
        if number is not None and number >= 0:
            values.setdefault((site, endpoint, service_type), []).append(number)
    capacities: dict[str, float] = {}
    for (site, _, _), numbers in sorted(values.items()):
        capacities[site] = capacities.get(site, 0.0) + statistics.median(numbers)
    return capacities


def load_groups(path: str | Path) -> tuple[SiteGroup, ...]:
    """The groups of the file at ``path``; GroupsError naming the file and what is wrong."""
    where = f"groups file {path}"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GroupsError(f"cannot read {where}: {exc}") from None
    try:
        document = json.loads(text) if str(path).endswith(".json") else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise GroupsError(f"{where} is not valid: {exc}") from None
    if not isinstance(document, dict) or set(document) != {"groups"}:
        raise GroupsError(f"{where} must hold 'groups' (a list of tables) and nothing else")
    entries = document["groups"]
    if not isinstance(entries, list) or not entries:
        raise GroupsError(f"{where}: 'groups' must be a non-empty list of tables")
    groups = [_group(entry, where, n) for n, entry in enumerate(entries, 1)]
    names = [group.name for group in groups]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise GroupsError(f"{where}: group name(s) given twice: {', '.join(twice)}")
    return tuple(groups)


def _group(entry: Any, where: str, number: int) -> SiteGroup:
    if not isinstance(entry, dict):
        raise GroupsError(f"{where}: group {number} must be a table")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise GroupsError(f"{where}: group {number} needs a 'name' (a non-empty string)")
    here = f"{where}: group {name!r}"
    unknown = sorted(set(entry) - _GROUP_KEYS)
    if unknown:
        raise GroupsError(
            f"{here}: unknown key(s) {', '.join(unknown)} (expected name, kind, sites, weights)"
        )
    kind = entry.get("kind")
    if kind not in KINDS:
        raise GroupsError(f"{here}: unknown kind {kind!r} (kinds: {', '.join(KINDS)})")
    sites = entry.get("sites")
    if (
        not isinstance(sites, list)
        or not sites
        or not all(isinstance(site, str) and site for site in sites)
    ):
        raise GroupsError(f"{here}: 'sites' must be a non-empty list of site names")
    if len(set(sites)) != len(sites):
        raise GroupsError(f"{here}: a site is listed twice")
    return SiteGroup(name, kind, tuple(sites), _weights(entry.get("weights", {}), sites, here))


def _weights(weights: Any, sites: list[str], here: str) -> dict[str, float]:
    if not isinstance(weights, dict):
        raise GroupsError(f"{here}: 'weights' must be a table of site = number")
    strangers = sorted(set(weights) - set(sites))
    if strangers:
        raise GroupsError(f"{here}: weights of sites not in the group: {', '.join(strangers)}")
    for site, weight in weights.items():
        if (
            isinstance(weight, bool)
            or not isinstance(weight, int | float)
            or not math.isfinite(weight)
            or weight < 0
        ):
            raise GroupsError(f"{here}: the weight of {site} must be a number >= 0, not {weight!r}")
    return {site: float(weight) for site, weight in weights.items()}
