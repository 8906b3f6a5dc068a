"""Daily or monthly availability and reliability of a site or an endpoint, for one VO,
computed by the one engine (vmsam.server.reports) with ARGO's rules."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, status

from vmsam.server.api._deps import GroupsDep, ProfilesDep, StoreDep
from vmsam.server.api._models import (
    ARAllDocument,
    ARDocument,
    ARGroupsDocument,
    Day,
    Name,
    errors,
)
from vmsam.server.api._reports import VoQuery, answer
from vmsam.server.api.routers import API_PREFIX
from vmsam.server.availability import Kind
from vmsam.server.reports import ar_all_document, ar_document, ar_groups_document

router = APIRouter(
    prefix=f"{API_PREFIX}/ar",
    tags=["availability"],
    responses=errors(400, 404, 422, e404="unknown site, endpoint or vo"),
)

Start = Annotated[Day, Query(description="first day, YYYY-MM-DD (UTC)")]
End = Annotated[Day, Query(description="last day, inclusive, YYYY-MM-DD; at most 366 days")]
GranularityQuery = Annotated[Literal["daily", "monthly"], Query()]


@router.get("/sites", response_model=ARAllDocument)
def all_sites_ar(
    *,
    store: StoreDep,
    profiles: ProfilesDep,
    start: Start,
    end: End,
    granularity: GranularityQuery = "daily",
    vo: VoQuery = None,
    endpoints: Annotated[
        bool, Query(description="also every endpoint of each site, as counted in it")
    ] = False,
) -> ARAllDocument:
    """Every site of the VO at once. Closed days are computed once and kept in the store
    (until a later result changes them), so a report after the first is quick."""
    return answer(
        ARAllDocument,
        lambda: ar_all_document(
            store,
            start=start,
            end=end,
            vo=vo,
            granularity=granularity,
            endpoints=endpoints,
            profiles=profiles,
        ),
    )


@router.get(
    "/groups",
    response_model=ARGroupsDocument,
    responses=errors(404, e404="unknown vo, or no groups file configured ([api] groups)"),
)
def groups_ar(
    *,
    store: StoreDep,
    profiles: ProfilesDep,
    groups: GroupsDep,
    start: Start,
    end: End,
    granularity: GranularityQuery = "daily",
    vo: VoQuery = None,
    kind: Annotated[
        Kind | None,
        Query(description="only the groups of this kind"),
    ] = None,
) -> ARGroupsDocument:
    """Each group of sites of ``[api] groups``: the weighted mean of its sites' daily A/R
    (ARGO's rule: weights + 1, sites at -1 left out), monthly the mean of those days."""
    if groups is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, "no groups file is configured ([api] groups)"
        )
    return answer(
        ARGroupsDocument,
        lambda: ar_groups_document(
            store,
            groups,
            start=start,
            end=end,
            vo=vo,
            granularity=granularity,
            kind=kind,
            profiles=profiles,
        ),
    )


@router.get("/sites/{site}", response_model=ARDocument)
def site_ar(
    *,
    store: StoreDep,
    profiles: ProfilesDep,
    site: Annotated[Name, Path(description="site name")],
    start: Start,
    end: End,
    granularity: GranularityQuery = "daily",
    vo: VoQuery = None,
) -> ARDocument:
    return answer(
        ARDocument,
        lambda: ar_document(
            store,
            site=site,
            start=start,
            end=end,
            vo=vo,
            granularity=granularity,
            profiles=profiles,
        ),
    )


@router.get("/endpoints/{endpoint}", response_model=ARDocument)
def endpoint_ar(
    *,
    store: StoreDep,
    profiles: ProfilesDep,
    endpoint: Annotated[Name, Path(description="endpoint (hostName of a space)")],
    start: Start,
    end: End,
    granularity: GranularityQuery = "daily",
    vo: VoQuery = None,
    service_type: Annotated[
        Name | None, Query(description="needed when the endpoint has several")
    ] = None,
) -> ARDocument:
    return answer(
        ARDocument,
        lambda: ar_document(
            store,
            endpoint=endpoint,
            service_type=service_type,
            start=start,
            end=end,
            vo=vo,
            granularity=granularity,
            profiles=profiles,
        ),
    )
