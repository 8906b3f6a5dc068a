"""Stored results, newest first, with filters and pagination."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, status

from vmsam.server.api._deps import StoreDep, require_endpoint, require_site
from vmsam.server.api._models import Name, Problem, QueryTime, ResultModel, ResultsPage
from vmsam.server.api.routers import API_PREFIX

router = APIRouter(prefix=API_PREFIX, tags=["results"])

LIMIT_MAX = 10_000
# the largest offset both databases take (a signed 64-bit integer)
OFFSET_MAX = 2**63 - 1


@router.get(
    "/results",
    response_model=ResultsPage,
    responses={404: {"model": Problem, "description": "unknown site or endpoint"}},
)
def list_results(
    *,
    store: StoreDep,
    site: Annotated[Name | None, Query(description="site name (siteName)")] = None,
    endpoint: Annotated[Name | None, Query(description="endpoint (hostName, a space)")] = None,
    metric: Annotated[Name | None, Query(description="metric name")] = None,
    vo: Annotated[Name | None, Query(description="VO")] = None,
    since: Annotated[
        QueryTime | None, Query(description="ISO 8601, UTC when without offset; inclusive")
    ] = None,
    until: Annotated[
        QueryTime | None, Query(description="ISO 8601, UTC when without offset; exclusive")
    ] = None,
    signature: Annotated[
        Literal["verified", "unsigned", "none"] | None,
        Query(description="how results were signed; none: not checked"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=LIMIT_MAX)] = 100,
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0,
) -> ResultsPage:
    if since is not None and until is not None and until <= since:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "until must come after since")
    total, page = store.results(
        site=site,
        endpoint=endpoint,
        metric=metric,
        vo=vo,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
        signature=signature,
    )
    if total == 0:
        # nothing matched: say so plainly when a named site or endpoint does not exist
        if site is not None:
            require_site(store, site)
        if endpoint is not None:
            require_endpoint(store, endpoint)
    return ResultsPage(
        total=total,
        results=[ResultModel.model_validate(result, from_attributes=True) for result in page],
    )
