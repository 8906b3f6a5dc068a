"""The engine reads the store's series (GroupedSamples) exactly as the rows they hold."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.availability.helpers import DAY, ENGINE, METRICS, VAC, VO, at, day
from vmsam.server.availability import AvailabilityError, GroupedSamples, Membership
from vmsam.server.store import MetricSeries, TimelineRow, TimelineSeries

ENDPOINTS = ("vac01.example.org", "vac02.example.org")
SITES = ("SITE-A", "SITE-B")
STATUSES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")

rows = st.lists(
    st.builds(
        lambda endpoint, metric, vo, site, second, status: TimelineRow(
            endpoint, VAC, metric, vo, site, at(0, day(-1)) + timedelta(seconds=second), status
        ),
        st.sampled_from(ENDPOINTS),
        st.sampled_from(METRICS[:2]),
        st.sampled_from((VO, "other")),
        st.sampled_from(SITES),
        # from the day before (the carry-over) to the end of the second day, with many
        # results sharing a second
        st.integers(0, 3 * 86_400 - 1).map(lambda s: s - s % 600 if s % 3 else s),
        st.sampled_from(STATUSES),
    ),
    max_size=60,
)


def grouped(samples: list[TimelineRow]) -> TimelineSeries:
    """The series the store would hand over for these rows (one per endpoint, metric, VO
    and site), results of the same second in the order they came."""
    parts: dict[tuple[str, ...], list[tuple[int, str]]] = {}
    for row in samples:
        key = (row.endpoint, row.service_type, row.metric, row.vo, row.site)
        parts.setdefault(key, []).append((int(row.timestamp.timestamp()), row.status))
    series = []
    for key, points in parts.items():
        points.sort(key=lambda point: point[0])  # same-second results in arrival order
        series.append(MetricSeries(*key, [p[0] for p in points], [p[1] for p in points]))
    return TimelineSeries(series)


MEMBERS = [
    Membership(endpoint, VAC, site, VO, at(0, day(-1))) for endpoint in ENDPOINTS for site in SITES
]
PERIOD = {"vo": VO, "start": DAY, "end": day(1), "now": at(48)}


def test_the_store_series_are_grouped_samples() -> None:
    assert isinstance(TimelineSeries([]), GroupedSamples)
    assert not isinstance([], GroupedSamples)


@settings(max_examples=150)
@given(rows)
def test_every_site_from_series_equals_from_rows(samples: list[TimelineRow]) -> None:
    from_rows = ENGINE.all_days(samples, [], MEMBERS, endpoints=True, **PERIOD)
    assert ENGINE.all_days(grouped(samples), [], MEMBERS, endpoints=True, **PERIOD) == from_rows


@settings(max_examples=150)
@given(rows)
def test_an_endpoint_of_two_sites_and_two_vos_from_series_equals_from_rows(
    samples: list[TimelineRow],
) -> None:
    # the parts of one series (from each site and VO) count together, as the rows do
    single = {"endpoint": ENDPOINTS[0], "service_type": VAC, **PERIOD}
    assert ENGINE.endpoint_days(grouped(samples), [], **single) == ENGINE.endpoint_days(
        samples, [], **single
    )
    site = {"site": SITES[0], **PERIOD}
    assert ENGINE.site_days(grouped(samples), [], MEMBERS, **site) == ENGINE.site_days(
        samples, [], MEMBERS, **site
    )


def test_a_series_with_an_unknown_status_is_refused_with_its_time() -> None:
    series = MetricSeries(
        ENDPOINTS[0], VAC, METRICS[0], VO, SITES[0], [int(at(1).timestamp())], ["BROKEN"]
    )
    with pytest.raises(AvailabilityError, match=r"at 2024-03-05 01:00:00\+00:00.*'BROKEN'"):
        ENGINE.endpoint_days(
            TimelineSeries([series]), [], endpoint=ENDPOINTS[0], service_type=VAC, **PERIOD
        )


def test_the_series_read_one_by_one_are_their_rows_to_the_second() -> None:
    series = MetricSeries(
        ENDPOINTS[0], VAC, METRICS[0], VO, SITES[0], [int(at(1).timestamp())], ["OK"]
    )
    assert list(TimelineSeries([series])) == [
        TimelineRow(ENDPOINTS[0], VAC, METRICS[0], VO, SITES[0], at(1), "OK")
    ]
    assert len(TimelineSeries([series, series])) == 2
