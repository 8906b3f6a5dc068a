"""Status timelines of a site or an endpoint, and the trends of a range of days
(vmsam.server.timelines, vmsam.server.trends: the same documents as ``vmsam status`` and
``vmsam trends``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query

from vmsam.server.activity import activity_document
from vmsam.server.api._deps import ProfilesDep, StoreDep
from vmsam.server.api._history_models import ActivityDocument, StatusDocument, TrendsDocument
from vmsam.server.api._models import Day, Name, errors
from vmsam.server.api._reports import VoQuery, answer
from vmsam.server.api.routers import API_PREFIX
from vmsam.server.timelines import status_document
from vmsam.server.trends import TOP_MAX, trends_document

router = APIRouter(
    prefix=API_PREFIX,
    tags=["history"],
    responses=errors(400, 404, 422, e404="unknown site, endpoint or vo"),
)

Start = Annotated[Day | None, Query(description="first day, YYYY-MM-DD (UTC); default: end")]
End = Annotated[
    Day | None,
    Query(description="last day, inclusive; at most 31 days; default: start, else today"),
]
OneDay = Annotated[Day | None, Query(description="one day, instead of start and end")]
MetricsQuery = Annotated[
    bool,
    Query(description="also each metric's timeline (false: the site's and the endpoints' only)"),
]


@router.get("/status/sites/{site}", response_model=StatusDocument)
def site_status(
    *,
    store: StoreDep,
    profiles: ProfilesDep,
    site: Annotated[Name, Path(description="site name")],
    start: Start = None,
    end: End = None,
    day: OneDay = None,
    vo: VoQuery = None,
    metrics: MetricsQuery = True,
) -> StatusDocument:
    """The site's status timeline, its endpoints' and their metrics', day by day as the
    A/R engine builds them; each metric piece names the result (VM UUID, machinetype)
    that set it."""
    return answer(
        StatusDocument,
        lambda: status_document(
            store,
            site=site,
            start=start,
            end=end,
            day=day,
            vo=vo,
            metrics=metrics,
            profiles=profiles,
        ),
    )


@router.get("/status/endpoints/{endpoint}", response_model=StatusDocument)
def endpoint_status(
    *,
    store: StoreDep,
    profiles: ProfilesDep,
    endpoint: Annotated[Name, Path(description="endpoint (hostName of a space)")],
    start: Start = None,
    end: End = None,
    day: OneDay = None,
    vo: VoQuery = None,
    service_type: Annotated[
        Name | None, Query(description="needed when the endpoint has several")
    ] = None,
    metrics: MetricsQuery = True,
) -> StatusDocument:
    """The endpoint's status timeline and its metrics'."""
    return answer(
        StatusDocument,
        lambda: status_document(
            store,
            endpoint=endpoint,
            service_type=service_type,
            start=start,
            end=end,
            day=day,
            vo=vo,
            metrics=metrics,
            profiles=profiles,
        ),
    )


@router.get("/trends", response_model=TrendsDocument)
def trends(
    *,
    store: StoreDep,
    start: Start = None,
    end: End = None,
    day: OneDay = None,
    vo: VoQuery = None,
    site: Annotated[Name | None, Query(description="only this site")] = None,
    top: Annotated[int, Query(ge=1, le=TOP_MAX, description="how many of each list")] = 10,
) -> TrendsDocument:
    """Flapping metrics (status changes per day) and failing ones (CRITICAL and WARNING
    results) of each space, by machinetype, with the strongest machinetype contrast."""
    return answer(
        TrendsDocument,
        lambda: trends_document(store, start=start, end=end, day=day, vo=vo, site=site, top=top),
    )


@router.get("/activity", response_model=ActivityDocument)
def activity(
    *,
    store: StoreDep,
    site: Annotated[Name, Query(description="site name")],
    start: Start = None,
    end: End = None,
    day: OneDay = None,
    vo: VoQuery = None,
) -> ActivityDocument:
    """Per space of the site, the periods with VMs alive and those in which its factories
    reported no VM running (``vmsam vacmon``): "no VMs ran" apart from "VMs ran and
    failed". The idle periods are recomputation candidates (source ``no-vms``)."""
    return answer(
        ActivityDocument,
        lambda: activity_document(
            store, site=site, start=start, end=end, day=day, vo=vo, now=datetime.now(UTC)
        ),
    )
