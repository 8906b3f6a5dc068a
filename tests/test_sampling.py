"""The sampling decision: reproducible from the UUID, the documented hash, its edges."""

from __future__ import annotations

import hashlib
import uuid as uuidlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vmsam.vm.mjf import DirectoryFeatures
from vmsam.vm.sampling import FRACTION_KEY, decide, effective_fraction

UUID = "5b1a3b5e-2f4a-4c61-9b7e-0d3c2a1f9e88"


def position(uuid: str) -> float:
    """The sampling rule (docs/configuration.md, [sampling] fraction), written out independently."""
    return int(hashlib.sha256(uuid.encode("utf-8")).hexdigest()[:8], 16) / 2**32


def test_the_decision_is_hooks_rule() -> None:
    where = position(UUID)
    assert decide(UUID, where + 1e-9).sampled
    assert not decide(UUID, where).sampled
    decision = decide(UUID, 0.25)
    assert decision.sampled is (where < 0.25)
    assert decision.fraction == 0.25


@given(st.uuids(), st.floats(min_value=0, max_value=1))
def test_the_decision_is_a_pure_function_of_uuid_and_fraction(
    uuid: uuidlib.UUID, fraction: float
) -> None:
    first = decide(str(uuid), fraction)
    assert decide(str(uuid), fraction) == first
    assert first.sampled is (position(str(uuid)) < fraction)


def test_the_uuid_is_normalised_whatever_its_source() -> None:
    fraction = position(UUID) + 1e-9
    assert decide(f"  {UUID.upper()}\n", fraction) == decide(UUID, fraction)
    assert decide(f"  {UUID.upper()}\n", fraction).sampled


@given(st.text(min_size=1).filter(str.strip))
def test_fraction_edges(uuid: str) -> None:
    assert not decide(uuid, 0.0).sampled
    assert decide(uuid, 1.0).sampled


def test_fraction_edges_without_a_uuid() -> None:
    for _ in range(200):
        assert not decide(None, 0.0).sampled
        assert decide(None, 1.0).sampled


def test_the_rate_over_random_uuids_is_the_fraction() -> None:
    uuids = [str(uuidlib.uuid4()) for _ in range(20_000)]
    rate = sum(decide(u, 0.25).sampled for u in uuids) / len(uuids)
    assert 0.23 <= rate <= 0.27


def test_the_reason_says_why() -> None:
    where = position(UUID)
    sampled = decide(UUID, 1.0, source="machinefeatures vmsam_fraction")
    assert sampled.reason.startswith("sampled: hash(uuid)=")
    assert sampled.reason.endswith("< fraction 1 (from machinefeatures vmsam_fraction)")
    assert f"{where:.4f}"[:5] in sampled.reason
    skipped = decide(UUID, 0.0)
    assert skipped.reason.startswith("not sampled: hash(uuid)=")
    assert skipped.reason.endswith(">= fraction 0 (from configuration)")


def test_the_printed_comparison_never_contradicts_the_decision() -> None:
    """A hash just under the fraction must not print as equal to it."""
    where = position(UUID)
    decision = decide(UUID, where + 2**-33)
    assert decision.sampled
    shown = float(decision.reason.split("=")[1].split()[0])
    assert shown < decision.fraction


def test_without_a_uuid_the_decision_is_random_and_says_so() -> None:
    decisions = [decide(None, 0.5) for _ in range(400)] + [decide("  ", 0.5) for _ in range(400)]
    assert all("no VM UUID" in d.reason and "random" in d.reason for d in decisions)
    sampled = sum(d.sampled for d in decisions)
    assert 300 <= sampled <= 500  # a fair draw: P(outside) is far below 1e-9


def test_force_always_runs_and_says_so() -> None:
    for uuid in (UUID, None):
        decision = decide(uuid, 0.0, force=True)
        assert decision.sampled
        assert decision.reason.startswith("forced (--force)")
        assert decision.fraction == 0.0


@pytest.mark.parametrize("fraction", [-0.1, 1.1, float("nan")])
def test_a_fraction_outside_zero_one_is_refused(fraction: float) -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        decide(UUID, fraction)


def machinefeatures(tmp_path: Path, value: str | None) -> DirectoryFeatures:
    directory = tmp_path / "machinefeatures"
    directory.mkdir(exist_ok=True)
    (directory / "total_cpu").write_text("8\n")
    if value is not None:
        (directory / FRACTION_KEY).write_text(value)
    return DirectoryFeatures(str(directory))


def test_machinefeatures_overrides_the_configuration(tmp_path: Path) -> None:
    fraction, source = effective_fraction(0.25, machinefeatures(tmp_path, "0.75\n"))
    assert fraction == 0.75
    assert source == "machinefeatures vmsam_fraction"
    decision = decide(UUID, fraction, source=source)
    assert decision.reason.endswith("fraction 0.75 (from machinefeatures vmsam_fraction)")


def test_without_the_key_or_features_the_configuration_stands(tmp_path: Path) -> None:
    assert effective_fraction(0.25, None) == (0.25, "configuration")
    assert effective_fraction(0.3, machinefeatures(tmp_path, None)) == (0.3, "configuration")
    assert effective_fraction(0.3, machinefeatures(tmp_path, " \n")) == (0.3, "configuration")


@pytest.mark.parametrize("garbage", ["abc", "1.5", "-0.2", "nan", "inf", "x" * 200])
def test_a_garbage_override_is_ignored_with_the_reason(tmp_path: Path, garbage: str) -> None:
    fraction, source = effective_fraction(0.25, machinefeatures(tmp_path, garbage))
    assert fraction == 0.25
    assert source.startswith("configuration; machinefeatures vmsam_fraction ")
    assert "ignored" in source
    assert len(source) < 150


def test_unreadable_machinefeatures_leave_the_configuration(tmp_path: Path) -> None:
    gone = DirectoryFeatures(str(tmp_path / "absent"))
    fraction, source = effective_fraction(0.4, gone)
    assert fraction == 0.4
    assert "unreadable" in source
