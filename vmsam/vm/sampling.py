"""Whether this VM runs the tests: a pure function of its UUID and the fraction.

A VM is sampled when ``int(sha256(uuid).hexdigest()[:8], 16) / 2**32 < fraction``, so the
decision is reproducible and auditable from the UUID alone. The UUID is stripped of
whitespace and lower-cased first: the same VM gets the same answer whether its UUID came
from user_data, jobfeatures or OpenStack, which may differ in case or a trailing newline.
"""

from __future__ import annotations

import hashlib
import math
from typing import NamedTuple

from vmsam.vm.mjf import FeatureSet, MJFError

__all__ = ["FRACTION_KEY", "Decision", "decide", "effective_fraction"]

# the machinefeatures key by which a site tunes the fraction without rebuilding images
FRACTION_KEY = "vmsam_fraction"


class Decision(NamedTuple):
    sampled: bool
    fraction: float
    reason: str  # the log line, e.g. "sampled: hash(uuid)=0.1234 < fraction 0.25 (from ...)"


def effective_fraction(
    settings_fraction: float, machine_features: FeatureSet | None
) -> tuple[float, str]:
    """The fraction and where it came from: machinefeatures ``vmsam_fraction`` when it holds
    a number in [0, 1], else the configuration's, with the reason a value was ignored."""
    if machine_features is None:
        return settings_fraction, "configuration"
    try:
        value = machine_features.get(FRACTION_KEY)
    except MJFError as exc:
        return settings_fraction, f"configuration; machinefeatures unreadable: {exc}"
    if value is None or value == "":
        return settings_fraction, "configuration"
    try:
        fraction = float(value)
    except ValueError:
        fraction = math.nan
    if not 0.0 <= fraction <= 1.0:  # also false for NaN
        shown = value if len(value) <= 40 else value[:37] + "..."
        return settings_fraction, (
            f"configuration; machinefeatures {FRACTION_KEY} {shown!r} ignored: "
            "not a number in [0, 1]"
        )
    return fraction, f"machinefeatures {FRACTION_KEY}"


def decide(
    uuid: str | None, fraction: float, *, force: bool = False, source: str = "configuration"
) -> Decision:
    """Whether to test; ``source`` says where ``fraction`` came from, for the reason.

    ValueError when ``fraction`` is not in [0, 1] (the configuration checks it first).
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"sampling fraction must be in [0, 1], got {fraction!r}")
    if force:
        return Decision(
            True, fraction, f"forced (--force): fraction {fraction:g} (from {source}) not applied"
        )
    normalised = (uuid or "").strip().lower()
    if normalised:
        what = "hash(uuid)"
        position = int(hashlib.sha256(normalised.encode()).hexdigest()[:8], 16) / 2**32
    else:
        # no identity to hash: a fair draw still keeps the expected rate
        what = "no VM UUID, random draw"
        import random

        position = random.random()  # noqa: S311 - sampling, not security
    sampled = position < fraction
    verdict, comparison = ("sampled", "<") if sampled else ("not sampled", ">=")
    # shown rounded down, so the printed comparison never contradicts the decision
    shown = math.floor(position * 1e6) / 1e6
    return Decision(
        sampled,
        fraction,
        f"{verdict}: {what}={shown:.6f} {comparison} fraction {fraction:g} (from {source})",
    )
