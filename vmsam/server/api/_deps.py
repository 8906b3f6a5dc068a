"""What the routes depend on: the store, the configuration, the credential of writes and
authenticated reads, and the checks every route shares (a name the store does not know is
a 404, a parameter given twice a 400)."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from vmsam.server.api._freshness import FreshnessCache
from vmsam.server.api._tokens import TokenFileError, Tokens
from vmsam.server.availability import Profiles, SiteGroup
from vmsam.server.store import Actor, Store

__all__ = [
    "CallerDep",
    "FreshnessDep",
    "GroupsDep",
    "ProfilesDep",
    "StoreDep",
    "require_known",
    "require_token",
    "single_valued",
]


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _freshness(request: Request) -> FreshnessCache:
    cache: FreshnessCache = request.app.state.freshness
    return cache


def _profiles(request: Request) -> Profiles | None:
    profiles: Profiles | None = request.app.state.profiles
    return profiles


def _groups(request: Request) -> tuple[SiteGroup, ...] | None:
    groups: tuple[SiteGroup, ...] | None = request.app.state.groups
    return groups


StoreDep = Annotated[Store, Depends(_store)]
GroupsDep = Annotated[tuple[SiteGroup, ...] | None, Depends(_groups)]
FreshnessDep = Annotated[FreshnessCache, Depends(_freshness)]
ProfilesDep = Annotated[Profiles | None, Depends(_profiles)]


_bearer = HTTPBearer(
    auto_error=False,
    description="a token of [api] token ($VMSAM_API_TOKEN) or [api] token_file; without one"
    " configured, writes and authenticated reads are refused",
)


def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    """Who calls, for the audit log: ``Authorization: Bearer <token>`` must be one of the
    configured tokens (the token file read again when it changed)."""
    tokens: Tokens = request.app.state.tokens
    try:
        valid = tokens.current()
    except TokenFileError:
        # the reason went to the log: it names a path the caller has no business knowing
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "writes are refused: the server's token file ([api] token_file) cannot be used;"
            " its log says why",
        ) from None
    if not valid:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "writes are disabled: no API token is configured ([api] token, VMSAM_API_TOKEN"
            " or [api] token_file)",
        )
    name = tokens.name_of(credentials.credentials) if credentials is not None else None
    if name is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "a valid bearer token is needed: Authorization: Bearer <token>",
            headers={"WWW-Authenticate": 'Bearer realm="vmsam"'},
        )
    client = request.client.host if request.client is not None else "unknown"
    return Actor(name, client)


CallerDep = Annotated[Actor, Depends(require_token)]


def require_known(
    store: Store, *, site: str | None = None, endpoint: str | None = None, vo: str | None = None
) -> None:
    """404 for the first of these names the store does not know (one rule for every list:
    an unknown name is an error, not an empty answer)."""
    unknown = store.unknown_name(site=site, endpoint=endpoint, vo=vo)
    if unknown is not None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, unknown)


def _query_names(route: APIRoute) -> set[str]:
    """The query parameters of a route and of everything it depends on (a few at most)."""
    names: set[str] = set()
    pending: list[Dependant] = [route.dependant]
    while pending:
        dependant = pending.pop()
        names.update(param.alias for param in dependant.query_params)
        pending.extend(dependant.dependencies)
    return names


async def single_valued(request: Request) -> None:
    """400 for a query parameter of the route given more than once: every one takes a
    single value, and keeping only the last would answer another question than asked.
    (async: it waits for nothing, and a thread of the pool would cost more than it does)"""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    names = _query_names(route)
    counts = Counter(key for key, _ in request.query_params.multi_items() if key in names)
    repeated = sorted(name for name, count in counts.items() if count > 1)
    if repeated:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, f"give {repeated[0][:100]}= once: it takes one value"
        )
