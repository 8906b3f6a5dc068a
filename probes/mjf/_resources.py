"""Reading both feature sets within the part deadline, and the values derived across keys."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import nagiosplugin
from nagiosplugin import Metric

from probes._mjf_options import discover_features
from probes._plugin import Hung, call_bounded, map_bounded, reason
from probes.mjf._keys import KEY_BY_NAME, KEYS, SET_NAMES, Which, parse_id, parse_int
from vmsam.shared.deadline import Deadline
from vmsam.vm.mjf import DISCOVERY_TIMEOUT, Features, FeatureSet, MJFError, MJFTimeout


@dataclass
class SetReading:
    """What was read from one feature set; ``error`` when it could not be read at all."""

    which: Which
    location: str | None = None
    found_by: str = ""
    error: str | None = None
    values: dict[str, str | None] = field(default_factory=dict)
    listed: list[str] | None = None
    listing_error: str | None = None
    looked_in: str = ""

    @property
    def name(self) -> str:
        return SET_NAMES[self.which]


def read_set(which: Which, features: FeatureSet | None) -> SetReading:
    if features is None:
        return SetReading(which)
    reading = SetReading(which, features.location, features.found_by)
    # keys are fetched by name: an index page is only a listing for humans
    for key in KEYS:
        if key.which == which:
            reading.values[key.name] = features.get(key.name)
    try:
        reading.listed = features.keys()
    except MJFError as exc:
        reading.listing_error = reason(exc)
    return reading


@dataclass(frozen=True)
class Locator:
    """Where to look for the feature sets (the options and the environment)."""

    args: argparse.Namespace
    environ: dict[str, str]

    def places(self, name: str) -> str:
        """Where a feature set was looked for, for a human told it was not found."""
        places = [f"${name.upper()}", os.path.join(self.args.etc_dir, name)]
        if self.args.discovery:
            places += [f"{self.args.vac_url.rstrip('/')}/{name}", "OpenStack metadata"]
        return ", ".join(places)

    def find(self, timeout: float) -> Features:
        return discover_features(
            self.args,
            timeout,
            environ=self.environ,
            # Vac and OpenStack asked one after the other must leave time for the reads
            discovery_timeout=min(DISCOVERY_TIMEOUT, timeout / 4),
        )


def failure(exc: BaseException) -> str:
    if isinstance(exc, MJFTimeout):
        return f"did not answer within {round(exc.seconds, 1):g} s"
    if isinstance(exc, Hung):
        return str(exc)
    return f"unreadable: {reason(exc)}"


class MachineJobFeatures(nagiosplugin.Resource):
    def __init__(self, locator: Locator, deadline: Deadline, uuid: str | None) -> None:
        self.locator = locator
        self.deadline = deadline
        self.uuid = uuid

    @property
    def name(self) -> str:
        return "MJF"

    def probe(self) -> Iterator[Metric]:
        readings = self._read()
        unset: list[str] = []
        for reading in readings:
            yield Metric(reading.name, reading, context="featureset")
            for key_name, value in reading.values.items():
                if value is None and KEY_BY_NAME[key_name].need == "optional":
                    unset.append(key_name)
                else:
                    yield Metric(key_name, value, context=_key_context(key_name))
        if any(reading.values for reading in readings):
            # normal (factories leave many out), so one line for all of them
            yield Metric("optional_unset", unset, context="optional_unset")
        values: dict[str, str | None] = {}
        for reading in readings:
            values.update(reading.values)
        yield from self._derived(values, time.time())

    def _read(self) -> list[SetReading]:
        try:
            features = call_bounded(
                lambda: self.locator.find(self.deadline.remaining()), self.deadline
            )
        except (MJFError, Hung) as exc:
            why = f"discovery failed: {reason(exc)}"
            return [SetReading("machine", error=why), SetReading("job", error=why)]
        sets: tuple[tuple[Which, FeatureSet | None], ...] = (
            ("machine", features.machine),
            ("job", features.job),
        )
        answers = map_bounded(lambda pair: read_set(*pair), sets, self.deadline)
        readings = []
        for (which, found), answer in zip(sets, answers, strict=True):
            if isinstance(answer, SetReading):
                answer.looked_in = self.locator.places(answer.name)
                readings.append(answer)
                continue
            if not isinstance(answer, MJFError | Hung):
                raise answer
            assert found is not None  # read_set(None) cannot fail
            readings.append(SetReading(which, found.location, found.found_by, failure(answer)))
        return readings

    def _derived(self, values: dict[str, str | None], now: float) -> Iterator[Metric]:
        """Values across keys; one whose inputs are not known is a metric of its own kind,
        ``unchecked``."""

        def number(key: str) -> int | None:
            text = values.get(key)
            return None if text is None else parse_int(text)

        jobstart, wall = number("jobstart_secs"), number("wall_limit_secs")
        shutdown, shutdown_job = number("shutdowntime"), number("shutdowntime_job")
        ends = [end for end in (shutdown, shutdown_job) if end is not None]
        if jobstart is not None and wall is not None:
            ends.append(jobstart + wall)
        if ends:
            yield Metric("seconds_left", round(min(ends) - now), "s", context="seconds_left")
        else:
            yield Metric("seconds_left", None, context="unchecked")
        if shutdown is not None and shutdown_job is not None:
            yield Metric("shutdown_order", (shutdown_job, shutdown), context="shutdown_order")
        else:
            yield Metric("shutdown_order", None, context="unchecked")
        if jobstart is not None:
            yield Metric("jobstart_ahead", round(jobstart - now), "s", context="future")
        else:
            yield Metric("jobstart_ahead", None, context="unchecked")
        job_id = values.get("job_id")
        if job_id is not None and parse_id(job_id):
            yield Metric("vm_uuid", (job_id, self.uuid), context="vm_uuid")
        else:
            yield Metric("vm_uuid", None, context="unchecked")


def _key_context(key_name: str) -> str:
    return "jobstart_secs" if key_name == "jobstart_secs" else KEY_BY_NAME[key_name].need
