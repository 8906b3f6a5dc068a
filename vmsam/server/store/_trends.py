"""Counting for the trends: results and status changes per site, endpoint, metric,
machinetype and status over a period, in one GROUP BY of the database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from vmsam.server.store._read import (
    R,
    _endpoint_names,
    _equals,
    _prepare_sort,
    _site_id,
    _site_names,
)
from vmsam.server.store._records import TrendCount


def _counts_query(
    since: datetime, until: datetime, vo: str, site: str | None
) -> sa.Select[tuple[Any, ...]]:
    conditions = [R.c.timestamp >= since, R.c.timestamp < until, _equals(R.c.vo, vo)]
    if site is not None:
        conditions.append(R.c.site_id == _site_id(site))
    # each result against the one before it of its (endpoint, metric), in the order of the
    # results' unique key (its index serves the window, as for the A/R load)
    previous = (
        sa.func.lag(R.c.status)
        .over(
            partition_by=(R.c.endpoint_id, R.c.metric),
            order_by=(R.c.timestamp, R.c.gathered_at, R.c.vm_uuid),
        )
        .label("previous")
    )
    ordered = (
        sa.select(R.c.site_id, R.c.endpoint_id, R.c.metric, R.c.machinetype, R.c.status, previous)
        .where(*conditions)
        .subquery("ordered")
    )
    row = ordered.c
    changed = sa.case((sa.and_(row.previous.is_not(None), row.previous != row.status), 1), else_=0)
    keys = (row.site_id, row.endpoint_id, row.metric, row.machinetype, row.status)
    return sa.select(*keys, sa.func.count(), sa.func.sum(changed)).group_by(*keys)


def trend_counts(
    connection: Connection, *, since: datetime, until: datetime, vo: str, site: str | None
) -> list[TrendCount]:
    """Per site, endpoint, metric, machinetype and status, the results of ``vo`` in
    [since, until) and how many of them changed their metric's status (a result's
    predecessor being the one before it in the period, of any machinetype)."""
    endpoints = _endpoint_names(connection)
    sites = _site_names(connection)
    _prepare_sort(connection)
    counts = connection.execute(_counts_query(since, until, vo, site))
    return [
        TrendCount(
            sites[site_id],
            *endpoints[endpoint_id],
            metric,
            machinetype,
            status,
            int(results),
            int(changes),
        )
        for site_id, endpoint_id, metric, machinetype, status, results, changes in counts
    ]
