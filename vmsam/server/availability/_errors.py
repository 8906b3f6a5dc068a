"""The engine's typed errors (defined in the one tree of ``vmsam.shared.errors``)."""

from __future__ import annotations

from vmsam.shared.errors import AvailabilityError, ProfileError

__all__ = ["AvailabilityError", "ProfileError"]
