"""One router per resource of the dashboard API."""

# on the routers themselves rather than at inclusion, so that a route's own path is the full
# template (/api/v1/ar/sites/{site}): /metrics labels requests with it
API_PREFIX = "/api/v1"
