"""Availability and reliability with ARGO's rules (docs/availability.md): one engine for the API,
the CLI and the benchmarks.

    engine = Engine(load_profiles(path_or_none))
    days = engine.site_days(samples, downtimes, memberships, site=S, vo=V, start=D1, end=D2)
    report(S, "monthly", monthly(days))   # the JSON document of the API and vmsam ar

Applied recomputations go in as ``exclusions=``: the excluded pieces of each covered metric
timeline become UNKNOWN before the endpoint and site aggregation (downtimes still override).

Inputs are any objects with the attributes of SampleRow, DowntimeRow and MembershipRow (the
store's rows as they are, or the named tuples Sample, DowntimeWindow, Membership); the results
may also come grouped into series already (GroupedSamples: the store's load of a period).
Everything is computed in memory, per UTC day, from change points rather than per-second
arrays.
"""

from vmsam.server.availability._engine import DayTimelines, Engine, SiteDays
from vmsam.server.availability._figures import (
    UNDEFINED,
    DayFigures,
    Granularity,
    PeriodFigures,
    aggregate,
    monthly,
    report,
    round_half_up,
)
from vmsam.server.availability._groups import (
    CAPACITY_LABEL,
    KINDS,
    Kind,
    SiteGroup,
    group_days,
    group_months,
    load_groups,
    site_capacities,
)
from vmsam.server.availability._inputs import (
    DowntimeRow,
    DowntimeWindow,
    Exclusion,
    ExclusionRow,
    GroupedSamples,
    Membership,
    MembershipRow,
    Sample,
    SampleRow,
    SeriesRow,
    SiteSampleRow,
)
from vmsam.server.availability._profiles import (
    STATES,
    Profiles,
    load_profiles,
    profiles_from_documents,
)
from vmsam.server.availability._thresholds import ThresholdProfile
from vmsam.server.availability._time import dates, epoch
from vmsam.server.availability._timeline import Timeline
from vmsam.shared.errors import AvailabilityError, GroupsError, ProfileError

__all__ = [
    "CAPACITY_LABEL",
    "KINDS",
    "STATES",
    "UNDEFINED",
    "AvailabilityError",
    "DayFigures",
    "DayTimelines",
    "DowntimeRow",
    "DowntimeWindow",
    "Engine",
    "Exclusion",
    "ExclusionRow",
    "Granularity",
    "GroupedSamples",
    "GroupsError",
    "Kind",
    "Membership",
    "MembershipRow",
    "PeriodFigures",
    "ProfileError",
    "Profiles",
    "Sample",
    "SampleRow",
    "SeriesRow",
    "SiteDays",
    "SiteGroup",
    "SiteSampleRow",
    "ThresholdProfile",
    "Timeline",
    "aggregate",
    "dates",
    "epoch",
    "group_days",
    "group_months",
    "load_groups",
    "load_profiles",
    "monthly",
    "profiles_from_documents",
    "report",
    "round_half_up",
    "site_capacities",
]
