"""What the routes depend on: the store, the configuration, the write credential, and the
checks that turn an unknown name into a 404."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from vmsam.server.api._freshness import FreshnessCache
from vmsam.server.availability import Profiles
from vmsam.server.store import Store
from vmsam.shared.config import Settings

__all__ = [
    "FreshnessDep",
    "ProfilesDep",
    "StoreDep",
    "require_endpoint",
    "require_site",
    "require_token",
]


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _freshness(request: Request) -> FreshnessCache:
    cache: FreshnessCache = request.app.state.freshness
    return cache


def _profiles(request: Request) -> Profiles | None:
    profiles: Profiles | None = request.app.state.profiles
    return profiles


StoreDep = Annotated[Store, Depends(_store)]
SettingsDep = Annotated[Settings, Depends(_settings)]
FreshnessDep = Annotated[FreshnessCache, Depends(_freshness)]
ProfilesDep = Annotated[Profiles | None, Depends(_profiles)]


_bearer = HTTPBearer(
    auto_error=False,
    description="the token of [api] token or $VMSAM_API_TOKEN; without one, writes are refused",
)


def require_token(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Writes need ``Authorization: Bearer <token>`` matching the configured token."""
    expected = settings.api.token
    if not expected:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "writes are disabled: no API token is configured ([api] token or VMSAM_API_TOKEN)",
        )
    given = credentials.credentials if credentials is not None else ""
    # constant time, so the answer's timing does not reveal how much of a guess was right
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "a valid bearer token is needed: Authorization: Bearer <token>",
            headers={"WWW-Authenticate": 'Bearer realm="vmsam"'},
        )


def require_site(store: Store, name: str) -> None:
    """404 unless ``name`` is a site with stored results (a site exists through them)."""
    if store.results(site=name, limit=0)[0] == 0:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown site {name[:100]!r}")


def require_endpoint(store: Store, name: str) -> None:
    if store.results(endpoint=name, limit=0)[0] == 0:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown endpoint {name[:100]!r}")
