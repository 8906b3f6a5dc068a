"""Liveness with a database check (the status only, for anyone), its details (for token
holders), and the Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from vmsam.server.api._deps import CallerDep, StoreDep
from vmsam.server.api._models import Health, HealthDetails, errors
from vmsam.server.api.routers import API_PREFIX, PRIVATE
from vmsam.server.store import Store, StoreError

router = APIRouter(tags=["operations"])


def _check(store: Store) -> HealthDetails:
    try:
        store.vos()
    except StoreError as exc:
        return HealthDetails(status="unavailable", database=repr(store), detail=str(exc))
    return HealthDetails(status="ok", database=repr(store))


def _answer(health: Health, headers: dict[str, str] | None = None) -> Health | JSONResponse:
    if health.status == "ok":
        return health
    return JSONResponse(
        health.model_dump(), status_code=status.HTTP_503_SERVICE_UNAVAILABLE, headers=headers
    )


@router.get(
    "/healthz",
    response_model=Health,
    responses={503: {"model": Health, "description": "the database does not answer"}},
)
def healthz(store: StoreDep) -> Health | JSONResponse:
    """ok or unavailable, and nothing else: which database, and why it fails, are for
    ``/api/v1/health/details``."""
    return _answer(Health(status=_check(store).status))


@router.get(
    f"{API_PREFIX}/health/details",
    response_model=HealthDetails,
    responses={
        **errors(401, 403),
        503: {"model": HealthDetails, "description": "the database does not answer"},
    },
)
def health_details(
    store: StoreDep, _caller: CallerDep, response: Response
) -> Health | JSONResponse:
    """The database (its URL, password masked) and why it does not answer."""
    response.headers.update(PRIVATE)
    return _answer(_check(store), PRIVATE)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"}},
)
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.registry), media_type=CONTENT_TYPE_LATEST)
