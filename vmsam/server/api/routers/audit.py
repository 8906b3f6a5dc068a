"""The audit log of the changes made through the API and the CLI: for token holders only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from vmsam.server.api._deps import CallerDep, StoreDep
from vmsam.server.api._models import AuditEntryModel, AuditPage, errors
from vmsam.server.api.routers import API_PREFIX, PRIVATE
from vmsam.server.api.routers.results import LIMIT_MAX, OFFSET_MAX

router = APIRouter(prefix=API_PREFIX, tags=["audit"])


@router.get("/audit", response_model=AuditPage, responses=errors(400, 401, 403, 422))
def list_audit(
    *,
    store: StoreDep,
    _caller: CallerDep,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=LIMIT_MAX)] = 100,
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0,
) -> AuditPage:
    """Who changed what and when, newest first."""
    response.headers.update(PRIVATE)
    total, page = store.audit_log(limit=limit, offset=offset)
    return AuditPage(
        total=total,
        entries=[AuditEntryModel.model_validate(entry, from_attributes=True) for entry in page],
    )
