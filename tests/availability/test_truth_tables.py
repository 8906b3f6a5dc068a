"""The operations profile against ARGO's truth tables (docs/availability.md), cell by cell,
and profiles as data."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from tests.availability.helpers import DAY, METRICS, VAC, VO, at, results
from vmsam.server.availability import STATES, Engine, Membership, ProfileError, load_profiles
from vmsam.server.availability._profiles import STATE_INDEX
from vmsam.server.availability._timeline import Timeline, combine

# ARGO's truth tables, typed out again: rows and columns in STATES order
EXPECTED = {
    "AND": [
        "OK       WARNING  UNKNOWN  MISSING  CRITICAL DOWNTIME",
        "WARNING  WARNING  UNKNOWN  MISSING  CRITICAL DOWNTIME",
        "UNKNOWN  UNKNOWN  UNKNOWN  MISSING  CRITICAL DOWNTIME",
        "MISSING  MISSING  MISSING  MISSING  CRITICAL DOWNTIME",
        "CRITICAL CRITICAL CRITICAL CRITICAL CRITICAL CRITICAL",
        "DOWNTIME DOWNTIME DOWNTIME DOWNTIME CRITICAL DOWNTIME",
    ],
    "OR": [
        "OK       OK       OK       OK       OK       OK",
        "OK       WARNING  WARNING  WARNING  WARNING  WARNING",
        "OK       WARNING  UNKNOWN  UNKNOWN  CRITICAL UNKNOWN",
        "OK       WARNING  UNKNOWN  MISSING  CRITICAL DOWNTIME",
        "OK       WARNING  CRITICAL CRITICAL CRITICAL CRITICAL",
        "OK       WARNING  UNKNOWN  DOWNTIME CRITICAL DOWNTIME",
    ],
}
PAIRS = list(itertools.product(STATES, STATES))
PROFILES = load_profiles()


def expected(op: str, a: str, b: str) -> str:
    return EXPECTED[op][STATES.index(a)].split()[STATES.index(b)]


@pytest.mark.parametrize("op", ["AND", "OR"])
@pytest.mark.parametrize(("a", "b"), PAIRS)
def test_every_cell_of_the_shipped_tables(op: str, a: str, b: str) -> None:
    assert PROFILES.operations.apply(op, a, b) == expected(op, a, b)
    assert PROFILES.operations.apply(op, b, a) == expected(op, a, b)


@pytest.mark.parametrize("op", ["AND", "OR"])
@pytest.mark.parametrize(("a", "b"), PAIRS)
def test_combining_constant_timelines_follows_the_table(op: str, a: str, b: str) -> None:
    table = PROFILES.operations.table(op)
    left = Timeline.constant(STATE_INDEX[a], 86400)
    right = Timeline.constant(STATE_INDEX[b], 86400)
    assert combine(left, right, table) == Timeline.constant(STATE_INDEX[expected(op, a, b)], 86400)


def test_the_two_surprises() -> None:
    assert PROFILES.operations.apply("AND", "CRITICAL", "DOWNTIME") == "CRITICAL"
    assert PROFILES.operations.apply("OR", "UNKNOWN", "CRITICAL") == "CRITICAL"


@pytest.mark.parametrize("op", ["AND", "OR"])
def test_shipped_operations_are_associative_so_fold_order_does_not_matter(op: str) -> None:
    apply = PROFILES.operations.apply
    for a, b, c in itertools.product(STATES, repeat=3):
        assert apply(op, apply(op, a, b), c) == apply(op, a, apply(op, b, c)), (a, b, c)


def test_default_metric_and_aggregation_profiles() -> None:
    compute = ["CREAM-CE", "ARC-CE", "HTCONDOR-CE", "uk.ac.gridpp.vac", "uk.ac.gridpp.vcycle"]
    for service_type in compute:
        assert PROFILES.metrics.metrics(service_type, VO) == METRICS
        group = PROFILES.aggregation.group_of(service_type)
        assert group is not None
        assert group.name == "compute"
        assert group.operation == "OR"
        assert group.services[service_type] == "OR"
    assert PROFILES.metrics.metrics("org.lhcb.unknown", VO) == ()
    assert PROFILES.metrics.metrics(VAC, "lhcb")[0] == "org.lhcb.WN-cvmfs"
    assert PROFILES.aggregation.metric_operation == "AND"
    assert PROFILES.aggregation.profile_operation == "AND"


def test_unknown_state_or_operation_is_a_profile_error() -> None:
    with pytest.raises(ProfileError, match="unknown state"):
        PROFILES.operations.apply("AND", "OK", "PENDING")
    with pytest.raises(ProfileError, match="XOR"):
        PROFILES.operations.apply("XOR", "OK", "OK")


def _operations_document(change: dict[tuple[str, str], str] | None = None) -> dict[str, object]:
    """The shipped tables as a document, with ``change`` applied to OR."""
    change = change or {}

    def cell(op: str, a: str, b: str) -> str:
        return change.get((a, b), expected(op, a, b)) if op == "OR" else expected(op, a, b)

    return {
        "operations": [
            {
                "name": op,
                "truth_table": [
                    {"a": a, "b": b, "x": cell(op, a, b)}
                    for i, a in enumerate(STATES)
                    for b in STATES[i:]
                ],
            }
            for op in ("AND", "OR")
        ]
    }


def test_an_override_file_replaces_the_truth_table(tmp_path: Path) -> None:
    # a deployment that wants UNKNOWN OR CRITICAL = UNKNOWN loads another profile
    path = tmp_path / "ops.json"
    path.write_text(
        json.dumps({"operations": _operations_document({("UNKNOWN", "CRITICAL"): "UNKNOWN"})})
    )
    profiles = load_profiles(path)
    assert profiles.operations.apply("OR", "CRITICAL", "UNKNOWN") == "UNKNOWN"
    assert profiles.metrics == PROFILES.metrics  # the sections left out keep the defaults

    samples = results("a", [(at(0), "UNKNOWN")]) + results("b", [(at(0), "CRITICAL")])
    members = [Membership(e, VAC, "SITE", VO, at(0)) for e in ("a", "b")]
    shipped = Engine().site_days(samples, [], members, site="SITE", vo=VO, start=DAY, end=DAY)
    custom = Engine(profiles).site_days(
        samples, [], members, site="SITE", vo=VO, start=DAY, end=DAY
    )
    assert shipped[0].availability == 0.0  # CRITICAL all day
    assert custom[0].availability == -1.0  # UNKNOWN all day


def test_a_toml_override_replaces_the_metric_profile(tmp_path: Path) -> None:
    path = tmp_path / "profile.toml"
    path.write_text(
        '[metrics]\nname = "only-cvmfs"\n'
        '[[metrics.services]]\nservice = "uk.ac.gridpp.vac"\nmetrics = ["org.{vo}.WN-cvmfs"]\n'
    )
    profiles = load_profiles(path)
    assert profiles.metrics.metrics(VAC, VO) == (f"org.{VO}.WN-cvmfs",)
    assert profiles.metrics.metrics("ARC-CE", VO) == ()
    # one metric now suffices: the other three never reported
    samples = results("a", [(at(0), "OK")], metrics=[f"org.{VO}.WN-cvmfs"])
    engine = Engine(profiles)
    figures = engine.endpoint_days(
        samples, [], endpoint="a", service_type=VAC, vo=VO, start=DAY, end=DAY
    )
    assert figures[0].availability == 100.0
    default = Engine().endpoint_days(
        samples, [], endpoint="a", service_type=VAC, vo=VO, start=DAY, end=DAY
    )
    assert default[0].availability == -1.0


def _broken_ops(rows: list[dict[str, str]]) -> dict[str, object]:
    document = _operations_document()
    ops = document["operations"]
    assert isinstance(ops, list)
    ops[1]["truth_table"] = rows
    return {"operations": document}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (_broken_ops([{"a": "OK", "b": "OK", "x": "OK"}]), "truth table lacks"),
        (
            _broken_ops(
                [{"a": "OK", "b": "OK", "x": "OK"}, {"a": "OK", "b": "OK", "x": "CRITICAL"}]
            ),
            "given twice",
        ),
        (_broken_ops([{"a": "OK", "b": "GREEN", "x": "OK"}]), "unknown state 'GREEN'"),
        (_broken_ops(["OK"]), "must be a table"),  # type: ignore[list-item]
        ({"operation": {}}, "unknown section"),
        ({"metrics": {"services": [{"service": "X", "metrics": []}]}}, "metrics"),
        ({"metrics": {"services": [{"service": "X", "metrics": [3]}]}}, "non-empty strings"),
        (
            {
                "aggregation": {
                    "metric_operation": "AND",
                    "profile_operation": "NAND",
                    "groups": [
                        {
                            "name": "g",
                            "operation": "OR",
                            "services": [{"name": "X", "operation": "OR"}],
                        }
                    ],
                }
            },
            "NAND",
        ),
        (
            {
                "aggregation": {
                    "metric_operation": "AND",
                    "profile_operation": "AND",
                    "groups": [
                        {
                            "name": g,
                            "operation": "OR",
                            "services": [{"name": "X", "operation": "OR"}],
                        }
                        for g in ("one", "two")
                    ],
                }
            },
            "already in group one",
        ),
        ({"operations": {"available_states": ["OK", "BAD"], "operations": []}}, "available"),
        ({"operations": {"available_states": 6, "operations": []}}, "available"),
        (
            {"operations": {"operations": [_operations_document()["operations"][0]] * 2}},  # type: ignore[index]
            "defined twice",
        ),
        ([], "must hold a table"),
    ],
)
def test_bad_profiles_are_refused_with_a_reason(
    tmp_path: Path, document: object, message: str
) -> None:
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ProfileError, match=message):
        load_profiles(path)


def test_unreadable_and_malformed_files_are_profile_errors(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="cannot read"):
        load_profiles(tmp_path / "absent.json")
    bad = tmp_path / "bad.toml"
    bad.write_text("[metrics\n")
    with pytest.raises(ProfileError, match="not valid"):
        load_profiles(bad)
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe{")
    with pytest.raises(ProfileError, match="cannot read"):
        load_profiles(binary)
