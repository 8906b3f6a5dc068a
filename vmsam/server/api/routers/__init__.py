"""One router per resource of the dashboard API."""

# on the routers themselves rather than at inclusion, so that a route's own path is the full
# template (/api/v1/ar/sites/{site}): /metrics labels requests with it
API_PREFIX = "/api/v1"
# the headers of an answer for one caller (authenticated): no cache along the way, nor the
# API's own, may keep it
PRIVATE = {"Cache-Control": "no-store"}
