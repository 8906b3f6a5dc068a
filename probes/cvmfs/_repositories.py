"""Which repositories a VO's jobs need."""

from __future__ import annotations

from dataclasses import dataclass

GRID_REPOSITORY = "grid.cern.ch"

VO_REPOSITORIES: dict[str, tuple[str, ...]] = {
    "lhcb": ("lhcb.cern.ch", "lhcb-condb.cern.ch", GRID_REPOSITORY),
    "atlas": ("atlas.cern.ch", "atlas-condb.cern.ch", GRID_REPOSITORY),
    "cms": ("cms.cern.ch", GRID_REPOSITORY),
}


@dataclass(frozen=True)
class Repository:
    name: str
    # a VO's own repository outside the built-in lists is checked only when it is there
    required: bool = True


def repositories_for(vo: str) -> list[Repository]:
    """The built-in list of a VO; any other VO needs ``<vo>.cern.ch`` (when it is mounted)
    and grid.cern.ch."""
    if vo in VO_REPOSITORIES:
        return [Repository(name) for name in VO_REPOSITORIES[vo]]
    return [Repository(f"{vo}.cern.ch", required=False), Repository(GRID_REPOSITORY)]
