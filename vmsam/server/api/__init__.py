"""The shifter dashboard: a FastAPI app over the result store (its endpoints: docs/operations.md)
and the page shifters look at.

    app = create_app(Store(url), load_settings(path))   # served by vmsam.server.serve
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from fastapi import FastAPI, Request, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vmsam import __version__
from vmsam.server.api._freshness import FreshnessCache
from vmsam.server.api._metrics import RequestMetrics, new_registry
from vmsam.server.api._models import Problem
from vmsam.server.api.routers import ar, deadletters, downtimes, health, results, sites
from vmsam.server.availability import Profiles
from vmsam.server.store import Store, StoreError
from vmsam.shared.config import Settings

__all__ = ["create_app"]

_STATIC = Path(__file__).parent / "static"
# the page loads nothing from elsewhere and runs no inline script: what a message holds
# cannot become markup that runs, even if some text were ever inserted as HTML by mistake
_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
        b" connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_ERRORS: dict[int | str, dict[str, object]] = {
    422: {"model": Problem, "description": "a parameter or the body is not valid"},
    503: {"model": Problem, "description": "the database is unavailable; try again"},
}


class _SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_HEADERS]
            await send(message)

        await self.app(scope, receive, sending if scope["type"] == "http" else send)


class _ConditionalGet:
    """An ``ETag`` (a hash of the body) and ``Cache-Control: no-cache`` on every successful
    ``GET /api/v1/...``, and 304 without a body when ``If-None-Match`` names it: a page
    polling an unchanged view receives a few headers rather than the JSON again."""

    PREFIX = "/api/v1/"

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or not scope["path"].startswith(self.PREFIX)
        ):
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def buffering(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                if message["status"] != status.HTTP_200_OK:
                    await send(message)
                return
            if start is None or start["status"] != status.HTTP_200_OK:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                await self._finish(scope, start, b"".join(chunks), send)

        await self.app(scope, receive, buffering)

    @staticmethod
    async def _finish(scope: Scope, start: Message, body: bytes, send: Send) -> None:
        tag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'.encode()
        kept = [
            (name, value)
            for name, value in start.get("headers", [])
            if name.lower() not in (b"etag", b"cache-control")
        ]
        added = [(b"etag", tag), (b"cache-control", b"no-cache")]
        wanted = b""
        for name, value in scope.get("headers", []):
            if name.lower() == b"if-none-match":
                wanted += b"," + value
        given = {part.strip().removeprefix(b"W/") for part in wanted.split(b",")}
        if tag in given or b"*" in given:
            headers = [
                (name, value)
                for name, value in kept
                if name.lower() not in (b"content-length", b"content-type")
            ]
            await send(
                {
                    "type": "http.response.start",
                    "status": status.HTTP_304_NOT_MODIFIED,
                    "headers": [*headers, *added],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        await send({**start, "headers": [*kept, *added]})
        await send({"type": "http.response.body", "body": body})


def _one_line(exc: RequestValidationError) -> str:
    """FastAPI's list of errors as one readable line, without echoing the input."""
    problems = []
    for error in exc.errors():
        where, *path = error.get("loc", ()) or ("request",)
        name = ".".join(str(part) for part in path)
        place = f"{where} parameter {name!r}" if where in ("query", "path") else "body"
        if where == "body" and name:
            place = f"body field {name!r}"
        problems.append(f"{place}: {error.get('msg', 'invalid')}")
    return "; ".join(problems).replace("\n", " ")[:2000]


async def _invalid(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(
        {"detail": _one_line(exc)}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT
    )


async def _not_allowed(request: Request, exc: Exception) -> Response:
    """405 whose Allow lists every method of the path: Starlette names only those of the
    first route matching it (GET /api/v1/downtimes, not its POST)."""
    assert isinstance(exc, StarletteHTTPException)
    response = await http_exception_handler(request, exc)
    allowed = [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL
            for route in request.app.router.routes
        )
    ]
    if allowed:
        response.headers["allow"] = ", ".join(allowed)
    return response


async def _unavailable(_request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_503_SERVICE_UNAVAILABLE)


def create_app(store: Store, settings: Settings, *, profiles: Profiles | None = None) -> FastAPI:
    """The app over ``store``; writes need ``settings.api.token``; A/R uses ``profiles``
    (the shipped ones when None)."""
    app = FastAPI(
        title="vmsam dashboard",
        version=__version__,
        description="Status, results and availability of the spaces of VM-only WLCG sites",
        # the interactive docs load their scripts from a CDN: nothing comes from outside
        docs_url=None,
        redoc_url=None,
        responses=_ERRORS,
    )
    app.state.store = store
    app.state.settings = settings
    app.state.profiles = profiles
    app.state.freshness = FreshnessCache(store, profiles)
    app.state.registry = new_registry()
    for router in (sites, results, deadletters, ar, downtimes, health):
        app.include_router(router.router)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(StoreError, _unavailable)
    app.add_exception_handler(status.HTTP_405_METHOD_NOT_ALLOWED, _not_allowed)

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(_STATIC / "index.html", media_type="text/html; charset=utf-8")

    app.mount("/static", StaticFiles(directory=_STATIC), name="static")
    app.add_middleware(_ConditionalGet)
    app.add_middleware(_SecurityHeaders)
    app.add_middleware(RequestMetrics, registry=app.state.registry)
    return app
