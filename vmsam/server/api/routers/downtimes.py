"""Downtimes of endpoints: anyone reads them; declaring, correcting and removing one needs
the bearer token, and each change is in the audit log."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status
from fastapi.responses import JSONResponse

from vmsam.server.api._deps import CallerDep, StoreDep, require_known
from vmsam.server.api._models import (
    Conflict,
    DowntimeCorrection,
    DowntimeIn,
    DowntimeModel,
    DowntimesList,
    Moment,
    Name,
    errors,
)
from vmsam.server.api.routers import API_PREFIX
from vmsam.server.reports import unseen_endpoint
from vmsam.server.store import (
    DOWNTIME_ID_MAX,
    Downtime,
    DuplicateDowntime,
    Store,
    UnknownDowntime,
)

router = APIRouter(prefix=API_PREFIX, tags=["downtimes"])

# a larger id than the column holds is a 422, not a database error
DowntimeId = Annotated[int, Path(ge=1, le=DOWNTIME_ID_MAX, description="the downtime's id")]
Force = Annotated[
    bool,
    Query(description="declare it even for an endpoint (or service type) without results"),
]
_WRITE_ERRORS = (400, 401, 403, 409, 422)


@router.get(
    "/downtimes",
    response_model=DowntimesList,
    responses=errors(400, 404, 422, e404="unknown site, endpoint or vo"),
)
def list_downtimes(
    *,
    store: StoreDep,
    endpoint: Annotated[Name | None, Query(description="endpoint (hostName)")] = None,
    service_type: Annotated[Name | None, Query(description="with endpoint: its type")] = None,
    site: Annotated[Name | None, Query(description="endpoints of this site")] = None,
    vo: Annotated[Name | None, Query(description="endpoints with results of this VO")] = None,
    start: Annotated[Moment | None, Query(description="overlapping [start, ...)")] = None,
    end: Annotated[Moment | None, Query(description="overlapping [..., end)")] = None,
) -> DowntimesList:
    """Downtimes overlapping [start, end) (either bound may be left out), oldest first."""
    if start is not None and end is not None and end <= start:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "end must come after start")
    found = store.downtimes(endpoint, start, end, service_type=service_type, site=site, vo=vo)
    if not found:
        require_known(store, site=site, endpoint=endpoint, vo=vo)
    return DowntimesList(downtimes=[_model(downtime) for downtime in found])


@router.get(
    "/downtimes/{downtime_id}",
    response_model=DowntimeModel,
    responses=errors(404, 422, e404="no downtime has this id"),
)
def get_downtime(store: StoreDep, downtime_id: DowntimeId) -> DowntimeModel:
    return _model(_stored(store, downtime_id))


@router.post(
    "/downtimes",
    response_model=DowntimeModel,
    status_code=status.HTTP_201_CREATED,
    responses=errors(*_WRITE_ERRORS),
)
def add_downtime(
    store: StoreDep, caller: CallerDep, downtime: DowntimeIn, force: Force = False
) -> DowntimeModel | JSONResponse:
    """Declare a downtime of [start, end); only scheduled ones count in A/R. An endpoint
    without results (a typo, most likely) is refused with 422 unless ``force``; the same
    downtime again is 409 with the id of the one stored."""
    if downtime.end <= downtime.start:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "end must come after start")
    if not force:
        _require_seen(store, downtime.endpoint, downtime.service_type)
    try:
        added = store.add_downtime(
            downtime.endpoint,
            downtime.service_type,
            downtime.start,
            downtime.end,
            scheduled=downtime.scheduled,
            description=downtime.description,
            by=caller,
        )
    except DuplicateDowntime as exc:
        return _conflict(exc)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return _model(added)


@router.patch(
    "/downtimes/{downtime_id}",
    response_model=DowntimeModel,
    responses=errors(*_WRITE_ERRORS, 404, e404="no downtime has this id"),
)
def correct_downtime(
    store: StoreDep,
    caller: CallerDep,
    downtime_id: DowntimeId,
    correction: DowntimeCorrection,
    force: Force = False,
) -> DowntimeModel | JSONResponse:
    """Correct a stored downtime: the fields given replace its own. A new endpoint or
    service type is checked as in a declaration (``force`` to skip that)."""
    current = _stored(store, downtime_id)
    changes = {name: value for name, value in correction if value is not None}
    corrected = dataclasses.replace(current, **changes)
    if corrected.end <= corrected.start:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "end must come after start")
    moved = (corrected.endpoint, corrected.service_type) != (current.endpoint, current.service_type)
    if moved and not force:
        _require_seen(store, corrected.endpoint, corrected.service_type)
    try:
        return _model(store.correct_downtime(corrected, by=caller))
    except DuplicateDowntime as exc:
        return _conflict(exc)
    except UnknownDowntime as exc:  # removed meanwhile
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None


@router.delete(
    "/downtimes/{downtime_id}",
    response_model=DowntimeModel,
    responses=errors(401, 403, 404, 422, e404="no downtime has this id"),
)
def remove_downtime(store: StoreDep, caller: CallerDep, downtime_id: DowntimeId) -> DowntimeModel:
    """Remove a downtime; the answer is what it was. The A/R figures it changed are
    computed again without it."""
    try:
        return _model(store.remove_downtime(downtime_id, by=caller))
    except UnknownDowntime as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None


def _model(downtime: Downtime) -> DowntimeModel:
    return DowntimeModel.model_validate(downtime, from_attributes=True)


def _stored(store: Store, downtime_id: int) -> Downtime:
    found = store.downtime(downtime_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no downtime has id {downtime_id}")
    return found


def _require_seen(store: Store, endpoint: str, service_type: str) -> None:
    """422 unless the store holds results of this endpoint and service type."""
    reason = unseen_endpoint(store, endpoint, service_type)
    if reason is not None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"{reason}; give force=true to declare it anyway"
        )


def _conflict(exc: DuplicateDowntime) -> JSONResponse:
    body = Conflict(detail=str(exc), id=exc.existing_id)
    return JSONResponse(body.model_dump(), status_code=status.HTTP_409_CONFLICT)
