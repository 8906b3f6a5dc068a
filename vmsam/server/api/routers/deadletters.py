"""Messages that could not be stored, with the reason, newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from vmsam.server.api._deps import StoreDep
from vmsam.server.api._models import DeadLetterModel, DeadLettersPage, errors
from vmsam.server.api.routers import API_PREFIX
from vmsam.server.api.routers.results import LIMIT_MAX, OFFSET_MAX

router = APIRouter(prefix=API_PREFIX, tags=["dead letters"])


@router.get("/deadletters", response_model=DeadLettersPage, responses=errors(400, 422))
def list_dead_letters(
    *,
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=LIMIT_MAX)] = 100,
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0,
) -> DeadLettersPage:
    total, page = store.dead_letters(limit=limit, offset=offset)
    return DeadLettersPage(
        total=total,
        results=[DeadLetterModel.model_validate(letter, from_attributes=True) for letter in page],
    )
