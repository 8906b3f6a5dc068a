"""Recomputations: periods in which monitoring itself failed. Anyone reads them and the
candidates vmsam proposes; requesting, deciding and revoking one needs the bearer token,
and each change is in the audit log (vmsam.server.recomputations)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from fastapi.responses import JSONResponse

from vmsam.server import recomputations
from vmsam.server.api._deps import CallerDep, StoreDep, require_known
from vmsam.server.api._models import (
    CandidateModel,
    CandidatesList,
    Conflict,
    Day,
    Moment,
    Name,
    Problem,
    RecomputationDecision,
    RecomputationIn,
    RecomputationModel,
    RecomputationsList,
    RecomputationState,
    errors,
)
from vmsam.server.api.routers import API_PREFIX
from vmsam.server.reports import ReportError
from vmsam.server.store import (
    DOWNTIME_ID_MAX,
    DuplicateRecomputation,
    Recomputation,
    RecomputationConflict,
    UnknownRecomputation,
)
from vmsam.server.timelines import midnight
from vmsam.shared.config import Settings

router = APIRouter(prefix=API_PREFIX, tags=["recomputations"])

# the id column is an INTEGER as the downtimes': a larger id is a 422, not a database error;
# the paths take digits only (":int"), so that /recomputations/candidates is no id
RecomputationId = Annotated[
    int, Path(ge=1, le=DOWNTIME_ID_MAX, description="the recomputation's id")
]
_UNKNOWN = "no recomputation has this id"
_STATE_CONFLICT: dict[int | str, dict[str, object]] = {
    409: {"model": Problem, "description": "its state does not allow this change"}
}


@router.get(
    "/recomputations/candidates",
    response_model=CandidatesList,
    responses=errors(400, 404, 422, e404="unknown vo"),
)
def list_candidates(
    *,
    request: Request,
    store: StoreDep,
    start: Annotated[Moment, Query(description="from this time on")],
    end: Annotated[Moment, Query(description="until this time (excluded)")],
    vo: Annotated[Name | None, Query(description="leave out those requested for this VO")] = None,
) -> CandidatesList:
    """Periods vmsam proposes as failures of monitoring, from its own records: silences of
    the whole store of at least ``[recomputations] outage`` (a broker outage). Those
    already requested (pending, applied or rejected) are left out. Accept one by
    requesting it (``POST /recomputations`` with its fields and its ``source``)."""
    settings: Settings = request.app.state.settings
    if vo is not None:
        require_known(store, vo=vo)
    try:
        found = recomputations.candidates(
            store, start=start, end=end, vo=vo, settings=settings.recomputations
        )
    except ReportError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return CandidatesList(
        outage_seconds=settings.recomputations.outage,
        candidates=[CandidateModel.model_validate(c, from_attributes=True) for c in found],
    )


@router.get(
    "/recomputations",
    response_model=RecomputationsList,
    responses=errors(400, 404, 422, e404="unknown vo"),
)
def list_recomputations(
    *,
    store: StoreDep,
    vo: Annotated[Name | None, Query(description="of this VO")] = None,
    state: Annotated[RecomputationState | None, Query(description="in this state")] = None,
    date: Annotated[Day | None, Query(description="overlapping this UTC day")] = None,
) -> RecomputationsList:
    """Every recomputation (revoked and rejected ones included), oldest start first."""
    if vo is not None:
        require_known(store, vo=vo)
    start = midnight(date) if date is not None else None
    end = start + timedelta(days=1) if start is not None else None
    found = store.recomputations(
        vo=vo, states=(state,) if state is not None else None, start=start, end=end
    )
    return RecomputationsList(recomputations=[_model(r) for r in found])


@router.get(
    "/recomputations/{recomputation_id:int}",
    response_model=RecomputationModel,
    responses=errors(404, 422, e404=_UNKNOWN),
)
def get_recomputation(store: StoreDep, recomputation_id: RecomputationId) -> RecomputationModel:
    found = store.recomputation(recomputation_id)
    if found is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"no recomputation has id {recomputation_id}"
        )
    return _model(found)


@router.post(
    "/recomputations",
    response_model=RecomputationModel,
    status_code=status.HTTP_201_CREATED,
    responses=errors(
        400, 401, 403, 409, 422, e409="the same recomputation is pending or applied already"
    ),
)
def request_recomputation(
    store: StoreDep, caller: CallerDep, body: RecomputationIn
) -> RecomputationModel | JSONResponse:
    """Request a recomputation: pending until someone with a token applies or rejects it.
    An unknown VO or site, or pruned days, are 422; the same one again (pending or
    applied) is 409 with its id."""
    try:
        added = recomputations.request(
            store,
            vo=body.vo,
            reason=body.reason,
            requester=body.requester,
            requester_email=body.requester_email,
            start=body.start,
            end=body.end,
            sites=body.sites,
            metrics=body.metrics,
            source=body.source,
            by=caller,
        )
    except DuplicateRecomputation as exc:
        conflict = Conflict(detail=str(exc), id=exc.existing_id)
        return JSONResponse(conflict.model_dump(), status_code=status.HTTP_409_CONFLICT)
    except ReportError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return _model(added)


@router.post(
    "/recomputations/{recomputation_id:int}/status",
    response_model=RecomputationModel,
    responses={**errors(400, 401, 403, 404, 422, e404=_UNKNOWN), **_STATE_CONFLICT},
)
def decide_recomputation(
    store: StoreDep,
    caller: CallerDep,
    recomputation_id: RecomputationId,
    decision: RecomputationDecision,
) -> RecomputationModel:
    """Apply or reject a pending recomputation. Applied, it changes every A/R figure of
    its period at once; a decided one is 409."""
    return _decided(store, caller, recomputation_id, decision.status)


@router.delete(
    "/recomputations/{recomputation_id:int}",
    response_model=RecomputationModel,
    responses={**errors(401, 403, 404, 422, e404=_UNKNOWN), **_STATE_CONFLICT},
)
def revoke_recomputation(
    store: StoreDep, caller: CallerDep, recomputation_id: RecomputationId
) -> RecomputationModel:
    """Revoke a pending or applied recomputation: it stays listed, as revoked, and the
    figures it changed are computed again without it; a rejected or revoked one is 409."""
    return _decided(store, caller, recomputation_id, "revoked")


def _decided(
    store: StoreDep, caller: CallerDep, recomputation_id: int, state: str
) -> RecomputationModel:
    try:
        return _model(recomputations.decide(store, recomputation_id, state, by=caller))
    except UnknownRecomputation as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except RecomputationConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except ReportError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None


def _model(recomputation: Recomputation) -> RecomputationModel:
    return RecomputationModel.model_validate(recomputation, from_attributes=True)
