"""Downtimes of endpoints: anyone reads them, declaring one needs the bearer token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status

from vmsam.server.api._deps import StoreDep, require_token
from vmsam.server.api._models import (
    DowntimeIn,
    DowntimeModel,
    DowntimesList,
    Name,
    Problem,
    QueryTime,
)
from vmsam.server.api.routers import API_PREFIX

router = APIRouter(prefix=API_PREFIX, tags=["downtimes"])


@router.get("/downtimes", response_model=DowntimesList)
def list_downtimes(
    *,
    store: StoreDep,
    endpoint: Annotated[Name | None, Query(description="endpoint (hostName)")] = None,
    service_type: Annotated[Name | None, Query(description="with endpoint: its type")] = None,
    site: Annotated[Name | None, Query(description="endpoints of this site")] = None,
    start: Annotated[QueryTime | None, Query(description="overlapping [start, ...)")] = None,
    end: Annotated[QueryTime | None, Query(description="overlapping [..., end)")] = None,
) -> DowntimesList:
    """Downtimes overlapping [start, end) (either bound may be left out), oldest first."""
    if start is not None and end is not None and end <= start:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "end must come after start")
    found = store.downtimes(endpoint, start, end, service_type=service_type, site=site)
    return DowntimesList(
        downtimes=[
            DowntimeModel.model_validate(downtime, from_attributes=True) for downtime in found
        ]
    )


@router.post(
    "/downtimes",
    response_model=DowntimeModel,
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(require_token)],
    responses={
        400: {"model": Problem, "description": "the body is not JSON"},
        401: {"model": Problem, "description": "no or a wrong bearer token"},
        403: {"model": Problem, "description": "no token is configured: writes are disabled"},
    },
)
def add_downtime(store: StoreDep, downtime: DowntimeIn) -> DowntimeModel:
    """Declare a downtime of [start, end); only scheduled ones count in A/R."""
    if downtime.end <= downtime.start:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "end must come after start")
    try:
        added = store.add_downtime(
            downtime.endpoint,
            downtime.service_type,
            downtime.start,
            downtime.end,
            scheduled=downtime.scheduled,
            description=downtime.description,
        )
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return DowntimeModel.model_validate(added, from_attributes=True)
