"""The engine's typed errors: callers turn them into a message, never a traceback."""

from __future__ import annotations


class AvailabilityError(ValueError):
    """A request the engine cannot answer (bad range, unmonitored service type, ...)."""


class ProfileError(AvailabilityError):
    """A profile file that cannot be read or does not describe complete profiles."""
