"""Sites with their spaces, each with its current status and freshness."""

from __future__ import annotations

import dataclasses
import math
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from vmsam.server.api._deps import FreshnessDep, StoreDep
from vmsam.server.api._models import EndpointModel, Name, SiteModel, SitesList, errors
from vmsam.server.api.routers import API_PREFIX
from vmsam.server.planning import DEFAULT_TARGET
from vmsam.server.reports import EndpointFreshness, ReportError

router = APIRouter(prefix=API_PREFIX, tags=["sites"])

# P(a result in a day) = 1 - exp(-24 rate) >= target  <=>  rate >= -ln(1 - target) / 24
# (vmsam.server.availability.freshness, one stream: a tested VM runs every probe)
NEEDED_PER_HOUR = -math.log1p(-DEFAULT_TARGET) / 24


def _freshness(found: EndpointFreshness | None) -> dict[str, object] | None:
    if found is None:
        return None
    observed = found.observed_vm_starts_per_hour
    return {
        **dataclasses.asdict(found),
        "tested_vm_starts_needed_per_hour": NEEDED_PER_HOUR,
        "sampling_factor_needed": NEEDED_PER_HOUR / observed if observed > 0 else None,
    }


@router.get(
    "/sites",
    response_model=SitesList,
    responses=errors(400, 404, 422, e404="unknown vo"),
)
def list_sites(
    *,
    store: StoreDep,
    cache: FreshnessDep,
    vo: Annotated[Name | None, Query(description="only the spaces of this VO")] = None,
) -> SitesList:
    """Every site with its spaces, their current status and their freshness (which may lag
    the status by a few minutes: it is computed from a week of results)."""
    try:
        by_key = cache.get(vo)
    except ReportError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    sites = []
    for site in store.sites():
        endpoints = [
            EndpointModel.model_validate(
                {
                    **dataclasses.asdict(space),
                    "freshness": _freshness(
                        by_key.get((site.name, space.endpoint, space.service_type, space.vo))
                    ),
                },
                from_attributes=True,
            )
            for space in site.endpoints
            if vo is None or space.vo == vo
        ]
        if endpoints:
            sites.append(
                SiteModel(
                    name=site.name,
                    last_result=max(space.last_result for space in endpoints),
                    at_risk=any(e.freshness is not None and e.freshness.at_risk for e in endpoints),
                    endpoints=endpoints,
                )
            )
    return SitesList(sites=sites)
