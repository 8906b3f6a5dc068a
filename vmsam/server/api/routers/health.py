"""Liveness with a database check, and the Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from vmsam.server.api._deps import StoreDep
from vmsam.server.api._models import Health
from vmsam.server.store import StoreError

router = APIRouter(tags=["operations"])


@router.get(
    "/healthz",
    response_model=Health,
    responses={503: {"model": Health, "description": "the database does not answer"}},
)
def healthz(store: StoreDep) -> Health | JSONResponse:
    database = repr(store)
    try:
        store.vos()
    except StoreError as exc:
        unavailable = Health(status="unavailable", database=database, detail=str(exc))
        return JSONResponse(
            unavailable.model_dump(), status_code=status.HTTP_503_SERVICE_UNAVAILABLE
        )
    return Health(status="ok", database=database)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"}},
)
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.registry), media_type=CONTENT_TYPE_LATEST)
