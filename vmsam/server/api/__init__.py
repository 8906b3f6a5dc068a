"""The shifter dashboard: a FastAPI app over the result store (its endpoints: docs/operations.md)
and the page shifters look at.

    app = create_app(Store(url), load_settings(path))   # served by vmsam.server.serve
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import Depends, FastAPI, Request, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vmsam import __version__
from vmsam.server.api._cache import (
    GZIP_MIN_BYTES,
    CachePolicy,
    ResponseCache,
    ResponseCacheMiddleware,
)
from vmsam.server.api._deps import single_valued
from vmsam.server.api._freshness import FreshnessCache
from vmsam.server.api._metrics import RequestMetrics, new_registry
from vmsam.server.api._models import Problem
from vmsam.server.api._tokens import Tokens
from vmsam.server.api.routers import (
    alerts,
    ar,
    audit,
    deadletters,
    downtimes,
    health,
    history,
    recomputations,
    results,
    sites,
)
from vmsam.server.availability import Profiles, load_groups
from vmsam.server.store import Store, StoreError
from vmsam.shared.config import Settings
from vmsam.shared.errors import ServeError

__all__ = ["CachePolicy", "create_app"]

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
    (b"x-frame-options", b"DENY"),  # frame-ancestors for browsers that predate it
]
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_ERRORS: dict[int | str, dict[str, object]] = {
    503: {"model": Problem, "description": "the database is unavailable; try again"},
}
# a page in a browser's tab from another site may read the API only if named in
# [api] cors_origins; a bearer token is sent by scripts, never by the browser itself, so
# CORS never allows credentials (cookies), and "*" is no danger to writes
_CORS_METHODS = ["GET", "HEAD", "POST", "PATCH", "DELETE"]
_CORS_HEADERS = ["Authorization", "Content-Type", "If-None-Match"]
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:\d{1,5})?|\*")


class _SecurityHeaders:
    """Headers every answer carries, cached and 304 ones included; and ``Cache-Control``
    where the route or the answer cache set none: the page and its files may be kept if
    checked again (``no-cache``), anything else (errors, writes, operations) not at all."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), *_HEADERS]
                if not any(name.lower() == b"cache-control" for name, _ in headers):
                    headers.append((b"cache-control", _cache_control(scope, message["status"])))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, sending if scope["type"] == "http" else send)


def _cache_control(scope: Scope, status_code: int) -> bytes:
    page = scope["path"] == "/" or scope["path"].startswith("/static/")
    return b"no-cache" if page and status_code < 400 else b"no-store"


def _cors_origins(origins: tuple[str, ...]) -> list[str]:
    for origin in origins:
        if not _ORIGIN.fullmatch(origin):
            raise ServeError(
                f"[api] cors_origins: {origin[:80]!r} is not an origin such as"
                " https://dashboard.example.org (scheme, host and port only), or *"
            )
    return list(origins)


def _one_line(exc: RequestValidationError) -> str:
    """FastAPI's list of errors as one readable line, without echoing the input."""
    problems = []
    for error in exc.errors():
        where, *path = error.get("loc", ()) or ("request",)
        name = ".".join(str(part) for part in path)
        place = f"{where} parameter {name!r}" if where in ("query", "path") else "body"
        if where == "body" and name:
            place = f"body field {name!r}"
        # a validator's own ValueError: its message is the whole story
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        problems.append(f"{place}: {message}")
    return "; ".join(problems).replace("\n", " ")[:2000]


def _unreadable_body(exc: RequestValidationError) -> str | None:
    """Why the body is no JSON document at all (400), or None when it is one whose content
    is not valid (422)."""
    for error in exc.errors():
        loc = tuple(error.get("loc", ()))
        if error.get("type") == "json_invalid":
            return f"the body is not valid JSON: {error.get('ctx', {}).get('error', 'invalid')}"
        if loc == ("body",) and error.get("type") == "missing":
            return "the body is empty: a JSON object is needed"
        if loc == ("body",) and isinstance(error.get("input"), bytes):
            # FastAPI hands over the raw bytes of a body that was not sent as JSON
            return "the body must be JSON, sent with Content-Type: application/json"
    return None


async def _invalid(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    unreadable = _unreadable_body(exc)
    if unreadable is not None:
        return JSONResponse({"detail": unreadable}, status_code=status.HTTP_400_BAD_REQUEST)
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


def create_app(
    store: Store,
    settings: Settings,
    *,
    profiles: Profiles | None = None,
    cache: CachePolicy | None = None,
) -> FastAPI:
    """The app over ``store``; writes and authenticated reads need a token of
    ``settings.api`` (``token``, ``token_file``); A/R uses ``profiles`` (the shipped ones when
    None); answers are cached as ``cache`` says (vmsam.server.api._cache; the defaults when
    None). ServeError for ``[api] cors_origins`` that are no origins, GroupsError for an
    ``[api] groups`` file that cannot be used."""
    origins = _cors_origins(settings.api.cors_origins)
    app = FastAPI(
        title="vmsam dashboard",
        version=__version__,
        description="Status, results and availability of the spaces of VM-only WLCG sites",
        # the interactive docs load their scripts from a CDN: nothing comes from outside
        docs_url=None,
        redoc_url=None,
        responses=_ERRORS,
        dependencies=[Depends(single_valued)],
    )
    app.state.store = store
    app.state.settings = settings
    app.state.tokens = Tokens(settings.api.token, settings.api.token_file)
    app.state.profiles = profiles
    app.state.groups = load_groups(settings.api.groups) if settings.api.groups else None
    app.state.freshness = FreshnessCache(store, profiles)
    app.state.registry = new_registry()
    app.state.response_cache = ResponseCache(store.version, cache or CachePolicy())
    app.state.registry.register(app.state.response_cache)
    for router in (
        sites,
        results,
        deadletters,
        ar,
        downtimes,
        recomputations,
        alerts,
        audit,
        health,
        history,
    ):
        app.include_router(router.router)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(StoreError, _unavailable)
    app.add_exception_handler(status.HTTP_405_METHOD_NOT_ALLOWED, _not_allowed)

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(_STATIC / "index.html", media_type="text/html; charset=utf-8")

    app.mount("/static", StaticFiles(directory=_STATIC), name="static")
    # the last added runs first: metrics see every request, the security headers go on
    # every answer (cached or not), CORS answers preflights and marks the answers of
    # allowed origins, the cache answers before anything else is done, and gzip compresses
    # what the cache does not keep (the page's files, /openapi.json, /metrics, errors; the
    # cache asks the routes for uncompressed answers)
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MIN_BYTES, compresslevel=6)
    app.add_middleware(ResponseCacheMiddleware, cache=app.state.response_cache)
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_credentials=False,
            allow_methods=_CORS_METHODS,
            allow_headers=_CORS_HEADERS,
            expose_headers=["ETag"],
            max_age=600,
        )
    app.add_middleware(_SecurityHeaders)
    app.add_middleware(RequestMetrics, registry=app.state.registry)
    return app
