"""Stored results, newest first, with filters and pagination."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, status

from vmsam.server.api._deps import StoreDep, require_known
from vmsam.server.api._models import Moment, Name, ResultModel, ResultsPage, errors
from vmsam.server.api.routers import API_PREFIX

router = APIRouter(prefix=API_PREFIX, tags=["results"])

LIMIT_MAX = 10_000
# the largest offset both databases take (a signed 64-bit integer)
OFFSET_MAX = 2**63 - 1


@router.get(
    "/results",
    response_model=ResultsPage,
    responses=errors(400, 404, 422, e404="unknown site, endpoint or vo"),
)
def list_results(
    *,
    store: StoreDep,
    site: Annotated[Name | None, Query(description="site name (siteName)")] = None,
    endpoint: Annotated[Name | None, Query(description="endpoint (hostName, a space)")] = None,
    metric: Annotated[Name | None, Query(description="metric name")] = None,
    vo: Annotated[Name | None, Query(description="VO")] = None,
    since: Annotated[Moment | None, Query(description="from this time on, inclusive")] = None,
    until: Annotated[Moment | None, Query(description="before this time, exclusive")] = None,
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
        # nothing matched: say so plainly when a named site, endpoint or VO does not exist
        require_known(store, site=site, endpoint=endpoint, vo=vo)
    return ResultsPage(
        total=total,
        results=[ResultModel.model_validate(result, from_attributes=True) for result in page],
    )
