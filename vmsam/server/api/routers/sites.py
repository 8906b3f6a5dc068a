"""Sites with their spaces, each with its current status and freshness."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from vmsam.server.api._deps import FreshnessDep, StoreDep
from vmsam.server.api._models import EndpointModel, Name, Problem, SiteModel, SitesList
from vmsam.server.api.routers import API_PREFIX
from vmsam.server.reports import ReportError

router = APIRouter(prefix=API_PREFIX, tags=["sites"])


@router.get(
    "/sites",
    response_model=SitesList,
    responses={404: {"model": Problem, "description": "unknown vo"}},
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
                    "freshness": by_key.get(
                        (site.name, space.endpoint, space.service_type, space.vo)
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
