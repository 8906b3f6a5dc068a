"""Acknowledging the alerts of a site (``vmsam alerts``): its contacts get no more reminders
of the spaces acknowledged until they change. Needs the bearer token; audited."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict

from vmsam.server.alerts import acknowledge
from vmsam.server.api._deps import CallerDep, StoreDep
from vmsam.server.api._models import Name, errors
from vmsam.server.api.routers import API_PREFIX
from vmsam.shared.errors import ReportError

router = APIRouter(prefix=API_PREFIX, tags=["alerts"])


class AckIn(BaseModel):
    """The open alerts of ``site`` to acknowledge, of its space ``space`` alone if given."""

    model_config = ConfigDict(extra="forbid")

    site: Name
    space: Name | None = None


class AckedSpace(BaseModel):
    endpoint: str
    service_type: str
    vo: str


class AckOut(BaseModel):
    site: str
    acknowledged_by: str
    spaces: list[AckedSpace]


@router.post(
    "/alerts/ack",
    response_model=AckOut,
    responses=errors(400, 401, 403, 404, 422, e404="no unacknowledged alert of the site"),
)
def acknowledge_alerts(store: StoreDep, caller: CallerDep, ack: AckIn) -> AckOut:
    """Stop the reminders of the open alerts of a site (or of one of its spaces); its
    contacts hear again when a space changes (a new problem, its recovery)."""
    try:
        done = acknowledge(store, ack.site, ack.space, caller, now=datetime.now(UTC))
    except ReportError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    return AckOut(
        site=ack.site,
        acknowledged_by=caller.name,
        spaces=[AckedSpace(endpoint=e, service_type=t, vo=v) for _, e, t, v in done],
    )
