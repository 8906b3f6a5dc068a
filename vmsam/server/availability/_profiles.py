"""Profiles as data: the operations (truth tables), metric and aggregation profiles.

The shipped defaults live in ``profiles/*.json`` in ARGO's own document shapes, so a
deployment can drop in ARGO's profiles. An override file (JSON, or TOML by its suffix) holds
any of the sections ``operations``, ``metrics`` and ``aggregation``, each a whole document of
that shape; the sections it leaves out keep the shipped defaults. It may add a
``thresholds`` section, a threshold profile (vmsam.server.availability._thresholds), which
the shipped profiles do not have.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TypeAlias

from vmsam.server.availability._thresholds import ThresholdProfile, threshold_profile
from vmsam.shared.errors import ProfileError

# The states are fixed (docs/availability.md: which of them count as up, unknown and down is
# part of the definition of A and R); a profile chooses only how they combine.
STATES = ("OK", "WARNING", "UNKNOWN", "MISSING", "CRITICAL", "DOWNTIME")
STATE_INDEX = {name: i for i, name in enumerate(STATES)}
OK, WARNING, UNKNOWN, MISSING, CRITICAL, DOWNTIME = range(len(STATES))

SECTIONS = ("operations", "metrics", "aggregation")
THRESHOLDS = "thresholds"
# what a section of an override file without a name of its own is called
_UNNAMED = "custom"
_VO = "{vo}"

# table[a][b] is the state "a op b", indexed by STATE_INDEX
Table: TypeAlias = tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class Operations:
    """Named binary operations on states, each a complete symmetric truth table."""

    tables: Mapping[str, Table]

    def table(self, name: str) -> Table:
        try:
            return self.tables[name]
        except KeyError:
            raise ProfileError(f"operation {name!r} is not in the operations profile") from None

    def apply(self, name: str, a: str, b: str) -> str:
        """``a name b`` by state names (for people and tests; the engine uses tables)."""
        for state in (a, b):
            if state not in STATE_INDEX:
                raise ProfileError(f"unknown state {state!r}")
        return STATES[self.table(name)[STATE_INDEX[a]][STATE_INDEX[b]]]


@dataclass(frozen=True)
class MetricProfile:
    """Per service type, the metrics that count; ``{vo}`` in a name stands for the VO."""

    services: Mapping[str, tuple[str, ...]]

    def metrics(self, service_type: str, vo: str) -> tuple[str, ...]:
        """The metrics of ``service_type`` for ``vo``; empty when the type is not monitored."""
        return tuple(name.replace(_VO, vo) for name in self.services.get(service_type, ()))


@dataclass(frozen=True)
class Group:
    """A function group: service types combined with ``operation``; the endpoints of each
    service type combined with that type's own operation."""

    name: str
    operation: str
    services: Mapping[str, str]


@dataclass(frozen=True)
class Aggregation:
    metric_operation: str
    profile_operation: str
    groups: tuple[Group, ...]

    def group_of(self, service_type: str) -> Group | None:
        for group in self.groups:
            if service_type in group.services:
                return group
        return None


@dataclass(frozen=True)
class Profiles:
    operations: Operations
    metrics: MetricProfile
    aggregation: Aggregation
    thresholds: ThresholdProfile | None = None
    # the documents' names (metrics, aggregation, operations): what A/R answers are under
    names: tuple[str, str, str] = field(default=(_UNNAMED, _UNNAMED, _UNNAMED))
    # the documents they were read from, by section: what a version of them keeps
    documents: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def name(self) -> str:
        """The profile set in force, as every A/R answer names it:
        ``metrics/aggregation/operations``, and ``+thresholds`` when a threshold profile is
        active (``vmsam_wn/vmsam_critical/vmsam_ops+strict``)."""
        named = "/".join(self.names)
        return named if self.thresholds is None else f"{named}+{self.thresholds.name}"

    @property
    def fingerprint(self) -> str:
        """16 hex digits that differ between profiles giving different figures: what stored
        figures record they were computed with. A threshold profile changes it; without
        one it is what it was before threshold profiles existed, so kept figures stay
        current across the upgrade (names change no figure and take no part)."""
        shape = (
            f"Profiles(operations={self.operations!r}, metrics={self.metrics!r},"
            f" aggregation={self.aggregation!r})"
        )
        if self.thresholds is not None:
            shape += repr(self.thresholds)
        return hashlib.sha256(shape.encode()).hexdigest()[:16]


def load_profiles(path: str | Path | None = None) -> Profiles:
    """The shipped profiles, with the sections of the file at ``path`` replacing them."""
    sections: dict[str, Any] = {
        name: json.loads(
            resources.files("vmsam.server.availability")
            .joinpath(f"profiles/{name}.json")
            .read_text()
        )
        for name in SECTIONS
    }
    if path is not None:
        sections.update(_read_override(Path(path)))
    return profiles_from_documents(sections)


def profiles_from_documents(documents: Mapping[str, Any]) -> Profiles:
    """The profiles of ``documents`` (each section's, as a profile file holds them)."""
    sections = dict(documents)
    thresholds = sections.pop(THRESHOLDS, None)
    operations = _operations(sections["operations"])
    aggregation = _aggregation(sections["aggregation"])
    for op in (
        aggregation.metric_operation,
        aggregation.profile_operation,
        *(g.operation for g in aggregation.groups),
        *(op for g in aggregation.groups for op in g.services.values()),
    ):
        operations.table(op)
    return Profiles(
        operations,
        _metrics(sections["metrics"]),
        aggregation,
        None if thresholds is None else threshold_profile(thresholds),
        (_name(sections["metrics"]), _name(sections["aggregation"]), _name(sections["operations"])),
        dict(documents),
    )


def _name(document: Any) -> str:
    name = document.get("name") if isinstance(document, dict) else None
    return name if isinstance(name, str) and name else _UNNAMED


def _read_override(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"cannot read profile file {path}: {exc}") from None
    try:
        document = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ProfileError(f"profile file {path} is not valid: {exc}") from None
    if not isinstance(document, dict) or not document:
        raise ProfileError(
            f"profile file {path} must hold a table of {', '.join((*SECTIONS, THRESHOLDS))}"
        )
    unknown = sorted(set(document) - {*SECTIONS, THRESHOLDS})
    if unknown:
        raise ProfileError(
            f"profile file {path}: unknown section(s) {', '.join(unknown)}"
            f" (expected {', '.join((*SECTIONS, THRESHOLDS))})"
        )
    return document


def _field(document: Any, key: str, kind: type, where: str) -> Any:
    if not isinstance(document, dict):
        raise ProfileError(f"{where} must be a table")
    value = document.get(key)
    if not isinstance(value, kind) or not value:
        raise ProfileError(f"{where}: {key!r} must be a non-empty {kind.__name__}")
    return value


def _state(value: Any, where: str) -> int:
    if value not in STATE_INDEX:
        raise ProfileError(f"{where}: unknown state {value!r} (states: {', '.join(STATES)})")
    return STATE_INDEX[value]


def _operations(document: Any) -> Operations:
    where = "operations profile"
    declared = document.get("available_states") if isinstance(document, dict) else None
    if declared is not None and (
        not isinstance(declared, list) or sorted(map(str, declared)) != sorted(STATES)
    ):
        raise ProfileError(f"{where}: available_states must be exactly {', '.join(STATES)}")
    tables: dict[str, Table] = {}
    for entry in _field(document, "operations", list, where):
        name = _field(entry, "name", str, where)
        here = f"{where}, operation {name}"
        if name in tables:
            raise ProfileError(f"{here}: defined twice")
        cells: dict[tuple[int, int], int] = {}
        for row in _field(entry, "truth_table", list, here):
            if not isinstance(row, dict):
                raise ProfileError(f"{here}: each truth_table row must be a table")
            a, b, x = (_state(row.get(k), here) for k in ("a", "b", "x"))
            for pair in ((a, b), (b, a)):
                if cells.setdefault(pair, x) != x:
                    raise ProfileError(
                        f"{here}: {STATES[pair[0]]} and {STATES[pair[1]]} given twice, differently"
                    )
        pairs = [(a, b) for a in range(len(STATES)) for b in range(a, len(STATES))]
        absent = [f"{STATES[a]}/{STATES[b]}" for a, b in pairs if (a, b) not in cells]
        if absent:
            raise ProfileError(f"{here}: truth table lacks {', '.join(absent)}")
        states = range(len(STATES))
        tables[name] = tuple(tuple(cells[a, b] for b in states) for a in states)
    return Operations(tables)


def _metrics(document: Any) -> MetricProfile:
    where = "metric profile"
    services: dict[str, tuple[str, ...]] = {}
    for entry in _field(document, "services", list, where):
        service = _field(entry, "service", str, where)
        metrics = _field(entry, "metrics", list, f"{where}, service {service}")
        if not all(isinstance(m, str) and m for m in metrics):
            raise ProfileError(f"{where}, service {service}: metrics must be non-empty strings")
        # ARGO lists a service once per metric group; the union is what counts
        services[service] = tuple(dict.fromkeys((*services.get(service, ()), *metrics)))
    return MetricProfile(services)


def _aggregation(document: Any) -> Aggregation:
    where = "aggregation profile"
    groups: list[Group] = []
    owner: dict[str, str] = {}
    for entry in _field(document, "groups", list, where):
        name = _field(entry, "name", str, where)
        here = f"{where}, group {name}"
        services: dict[str, str] = {}
        for service in _field(entry, "services", list, here):
            service_type = _field(service, "name", str, here)
            if service_type in owner:
                raise ProfileError(
                    f"{here}: service type {service_type} is already in group {owner[service_type]}"
                )
            owner[service_type] = name
            services[service_type] = _field(service, "operation", str, here)
        groups.append(Group(name, _field(entry, "operation", str, here), services))
    return Aggregation(
        metric_operation=_field(document, "metric_operation", str, where),
        profile_operation=_field(document, "profile_operation", str, where),
        groups=tuple(groups),
    )
