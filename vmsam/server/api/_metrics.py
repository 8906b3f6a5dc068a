"""Request counts and latencies for /metrics, in a registry of the app's own (several apps
may live in one process, and prometheus_client's global registry refuses a name twice)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["RequestMetrics", "new_registry"]

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class _Instruments:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "vmsam_api_requests",
            "HTTP requests answered, by route template and status",
            ("method", "route", "status"),
            registry=registry,
        )
        self.seconds = Histogram(
            "vmsam_api_request_seconds",
            "Time to answer a request, by route template",
            ("method", "route"),
            registry=registry,
        )


def new_registry() -> CollectorRegistry:
    return CollectorRegistry(auto_describe=True)


class RequestMetrics:
    """ASGI middleware: labels are route templates (``/api/v1/ar/sites/{site}``), never raw
    paths, so a scan of made-up URLs cannot grow the metrics without bound."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.instruments = _Instruments(registry)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        answered = 500

        async def sending(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start":
                answered = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", None) or (
                "/static" if scope["path"].startswith("/static/") else "unmatched"
            )
            method = scope["method"] if scope["method"] in _METHODS else "other"
            self.instruments.requests.labels(method, route, str(answered)).inc()
            self.instruments.seconds.labels(method, route).observe(time.perf_counter() - started)
