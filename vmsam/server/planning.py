"""``vmsam plan``: the sampling fraction a space needs. Pure arithmetic on VM start rates:
it needs neither a database nor the ``server`` extra."""

from __future__ import annotations

from vmsam.server.availability.freshness import daily_probability, fraction_for
from vmsam.shared.errors import FreshnessError, PlanError, TargetUnreachable

__all__ = ["DEFAULT_TARGET", "PlanError", "plan"]

# the probability of at least one result per metric per UTC day that a plan aims at
DEFAULT_TARGET = 0.99


def plan(vm_starts_per_hour: float, target: float = DEFAULT_TARGET) -> dict[str, object]:
    """The smallest sampling fraction that gives a space at least one result per metric per
    UTC day with probability ``target``, at ``vm_starts_per_hour`` VM starts per hour.
    One tested VM runs every probe, so the metrics arrive together."""
    try:
        fraction = fraction_for(vm_starts_per_hour, target)
    except TargetUnreachable as exc:
        raise PlanError(
            f"target {target} cannot be reached at {vm_starts_per_hour} VM starts per hour:"
            f" testing every VM gives P = {exc.best:.6f}; needs at least"
            f" {exc.vm_starts_per_hour_needed:.4g} VM starts per hour"
        ) from None
    except FreshnessError as exc:
        raise PlanError(str(exc)) from None
    return {
        "vm_starts_per_hour": vm_starts_per_hour,
        "target": target,
        "fraction": fraction,
        "probability": daily_probability(vm_starts_per_hour, fraction),
    }
