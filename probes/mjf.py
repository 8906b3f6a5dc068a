"""check_wn_mjf: are the VM's Machine/Job Features there, complete and consistent?

Locations: the options, then ``$MACHINEFEATURES`` / ``$JOBFEATURES``, then
``<etc-dir>/machinefeatures`` and ``jobfeatures``, then (unless ``--no-discovery``) Vac's
metadata server and the OpenStack metadata. Rules and states: PROBES.md, check_wn_mjf.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn

import nagiosplugin

from probes._mjf_options import add_mjf_arguments, discover_features
from probes._plugin import (
    PART_SHARE,
    Deadline,
    Hung,
    ProbeArgumentParser,
    call_bounded,
    map_bounded,
    reason,
    run,
)
from vmsam.vm.mjf import DISCOVERY_TIMEOUT, Features, FeatureSet, MJFError, MJFTimeout

SERVICE = "WN-MJF"

Which = Literal["machine", "job"]
Need = Literal["required", "recommended", "optional"]

SET_NAMES: dict[Which, str] = {"machine": "machinefeatures", "job": "jobfeatures"}
# PROBES.md: a job start further ahead than this is a clock or factory problem
JOBSTART_AHEAD_SECS = 300
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
_INT = re.compile(r"[+-]?[0-9]+")
_SHOWN_CHARS = 40


def parse_int(text: str) -> int | None:
    # stricter than int(): no "1_000", no surrounding blanks inside the value
    return int(text) if _INT.fullmatch(text) else None


def parse_float(text: str) -> float | None:
    if "_" in text:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_id(text: str) -> str | None:
    """Printable ASCII without whitespace (HSF-TN-2016-02 ``job_id``)."""
    return text if text and all("!" <= char <= "~" for char in text) else None


@dataclass(frozen=True)
class Key:
    which: Which
    name: str
    type_name: str
    parse: Callable[[str], object]
    need: Need = "optional"
    # a count or a limit of zero or less cannot be honoured: PROBES.md "limits <= 0"
    positive: bool = False


def _int(which: Which, name: str, need: Need = "optional", *, positive: bool = False) -> Key:
    return Key(which, name, "an integer", parse_int, need, positive)


def _float(which: Which, name: str, need: Need = "optional") -> Key:
    return Key(which, name, "a number", parse_float, need)


KEYS: tuple[Key, ...] = (
    _int("machine", "total_cpu", "required", positive=True),
    _float("machine", "hs06", "recommended"),
    _int("machine", "shutdowntime"),
    _int("machine", "grace_secs"),
    _int("machine", "jobslots"),
    _int("machine", "phys_cores"),
    _int("machine", "log_cores"),
    _int("job", "allocated_cpu", "required", positive=True),
    _int("job", "wall_limit_secs", "required", positive=True),
    _int("job", "cpu_limit_secs", "required", positive=True),
    _int("job", "jobstart_secs", "required"),
    _float("job", "hs06_job", "recommended"),
    Key("job", "job_id", "printable ASCII without whitespace", parse_id, "recommended"),
    _int("job", "shutdowntime_job"),
    _int("job", "grace_secs_job"),
    _int("job", "max_rss_bytes", positive=True),
    _int("job", "max_swap_bytes"),
    _int("job", "scratch_limit_bytes", positive=True),
    _float("job", "cpufactor_lrms"),
    _int("job", "wall_limit_secs_lrms", positive=True),
    _int("job", "cpu_limit_secs_lrms", positive=True),
    _int("job", "mem_limit_MB", positive=True),
    _int("job", "allocated_CPU", positive=True),
)
KEY_BY_NAME = {key.name: key for key in KEYS}
PERFDATA_KEYS = ("hs06", "allocated_cpu")


# --- measurement -------------------------------------------------------------------------


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
    # keys are fetched by name: the index page is only a listing for humans (PROBES.md)
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


class MachineJobFeatures(nagiosplugin.Resource):  # type: ignore[misc]
    """Reads both feature sets within the part deadline and derives the cross-key values."""

    def __init__(self, locator: Locator, deadline: Deadline, uuid: str | None) -> None:
        self.locator = locator
        self.deadline = deadline
        self.uuid = uuid

    @property
    def name(self) -> str:
        return "MJF"

    def probe(self) -> Iterator[nagiosplugin.Metric]:
        readings = self._read()
        unset: list[str] = []
        for reading in readings:
            yield nagiosplugin.Metric(reading.name, reading, context="featureset")
            for key_name, value in reading.values.items():
                if value is None and KEY_BY_NAME[key_name].need == "optional":
                    unset.append(key_name)
                else:
                    yield nagiosplugin.Metric(key_name, value, context=_key_context(key_name))
        if any(reading.values for reading in readings):
            # normal (DOMAIN.md 3: factories leave many out), so one line for all of them
            yield nagiosplugin.Metric("optional_unset", unset, context="optional_unset")
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

    def _derived(self, values: dict[str, str | None], now: float) -> Iterator[nagiosplugin.Metric]:
        def number(key: str) -> int | None:
            text = values.get(key)
            return None if text is None else parse_int(text)

        jobstart, wall = number("jobstart_secs"), number("wall_limit_secs")
        shutdown, shutdown_job = number("shutdowntime"), number("shutdowntime_job")
        ends = [end for end in (shutdown, shutdown_job) if end is not None]
        if jobstart is not None and wall is not None:
            ends.append(jobstart + wall)
        yield nagiosplugin.Metric(
            "seconds_left", round(min(ends) - now) if ends else None, "s", context="seconds_left"
        )
        yield nagiosplugin.Metric(
            "shutdown_order",
            (shutdown_job, shutdown) if shutdown is not None and shutdown_job is not None else None,
            context="shutdown_order",
        )
        yield nagiosplugin.Metric(
            "jobstart_ahead",
            round(jobstart - now) if jobstart is not None else None,
            "s",
            context="jobstart_ahead",
        )
        job_id = values.get("job_id")
        yield nagiosplugin.Metric(
            "vm_uuid",
            (job_id, self.uuid) if job_id is not None and parse_id(job_id) else None,
            context="vm_uuid",
        )


def failure(exc: BaseException) -> str:
    if isinstance(exc, MJFTimeout):
        return f"did not answer within {round(exc.seconds, 1):g} s"
    if isinstance(exc, Hung):
        return str(exc)
    return f"unreadable: {reason(exc)}"


def _key_context(key_name: str) -> str:
    return "jobstart_secs" if key_name == "jobstart_secs" else KEY_BY_NAME[key_name].need


# --- judgement ---------------------------------------------------------------------------


def shown(value: str) -> str:
    text = value if len(value) <= _SHOWN_CHARS else value[:_SHOWN_CHARS] + "..."
    return repr(text)


def perf_number(value: float) -> str:
    """Plain decimal notation: the Nagios grammar has no exponents."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.3f}".rstrip("0").rstrip(".")


class FeatureSetContext(nagiosplugin.Context):  # type: ignore[misc]
    """A feature set must be found and readable."""

    def __init__(self) -> None:
        super().__init__("featureset")

    def evaluate(self, metric: nagiosplugin.Metric, resource: object) -> nagiosplugin.Result:
        reading: SetReading = metric.value
        if reading.location is None and reading.error is None:
            return self.result_cls(
                nagiosplugin.Critical,
                f"{reading.name} not found (looked in {reading.looked_in})",
                metric,
            )
        if reading.error is not None:
            where = f" at {reading.location}" if reading.location else ""
            return self.result_cls(
                nagiosplugin.Critical, f"{reading.name}{where}: {reading.error}", metric
            )
        if reading.listed is not None:
            listing = f"lists {len(reading.listed)} keys: {' '.join(reading.listed)}"
        else:
            listing = f"no key listing ({reading.listing_error})"
        return self.result_cls(
            nagiosplugin.Ok,
            f"{reading.name} at {reading.location} (found by {reading.found_by}), {listing}",
            metric,
        )


class KeyContext(nagiosplugin.Context):  # type: ignore[misc]
    """One key: present as its rules of need ask, of its type, a limit above zero."""

    def __init__(
        self, need: Need, absent_state: nagiosplugin.state.ServiceState, name: str = ""
    ) -> None:
        super().__init__(name or need)
        self.absent_state = absent_state

    def evaluate(self, metric: nagiosplugin.Metric, resource: object) -> nagiosplugin.Result:
        key = KEY_BY_NAME[metric.name]
        text: str | None = metric.value
        where = SET_NAMES[key.which]
        if text is None:
            return self.result_cls(
                self.absent_state, f"{key.name} missing from {where} ({key.need})", metric
            )
        value = key.parse(text)
        if value is None:
            return self.result_cls(
                nagiosplugin.Critical, f"{key.name}={shown(text)} is not {key.type_name}", metric
            )
        if key.positive and isinstance(value, int) and value <= 0:
            return self.result_cls(nagiosplugin.Critical, f"{key.name}={text} is not > 0", metric)
        return self.result_cls(nagiosplugin.Ok, f"{key.name}={text}", metric)

    def performance(
        self, metric: nagiosplugin.Metric, resource: object
    ) -> nagiosplugin.Performance | None:
        if metric.name not in PERFDATA_KEYS or metric.value is None:
            return None
        value = parse_float(metric.value)
        if value is None:
            return None
        return nagiosplugin.Performance(metric.name, perf_number(value))


class JobStartContext(KeyContext):
    """``jobstart_secs`` is required, except that a UUID there is Vcycle's bug, not a VM fault."""

    def __init__(self) -> None:
        super().__init__("required", nagiosplugin.Critical, "jobstart_secs")

    def evaluate(self, metric: nagiosplugin.Metric, resource: object) -> nagiosplugin.Result:
        text: str | None = metric.value
        if text is not None and UUID.fullmatch(text):
            return self.result_cls(
                nagiosplugin.Warn,
                f"jobstart_secs holds a UUID ({text}): the Vcycle 03.x bug that writes the VM "
                "UUID into jobstart_secs instead of job_id",
                metric,
            )
        return super().evaluate(metric, resource)


class UnsetContext(nagiosplugin.Context):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__("optional_unset")

    def evaluate(self, metric: nagiosplugin.Metric, resource: object) -> nagiosplugin.Result:
        unset: list[str] = metric.value
        hint = f"optional keys not set: {' '.join(unset)}" if unset else "all optional keys set"
        return self.result_cls(nagiosplugin.Ok, hint, metric)


class RuleContext(nagiosplugin.Context):  # type: ignore[misc]
    """A rule across keys; None means its inputs are not known, so it is not checked."""

    def __init__(self, name: str, unchecked: str) -> None:
        super().__init__(name)
        self.unchecked = unchecked

    def evaluate(self, metric: nagiosplugin.Metric, resource: object) -> nagiosplugin.Result:
        if metric.value is None:
            return self.result_cls(nagiosplugin.Ok, self.unchecked, metric)
        state, hint = self.judge(metric.value)
        return self.result_cls(state, hint, metric)

    def judge(self, value: Any) -> tuple[nagiosplugin.state.ServiceState, str]:
        raise NotImplementedError


class SecondsLeftContext(RuleContext):
    def __init__(self) -> None:
        super().__init__("seconds_left", "seconds left not known (no end time)")

    def judge(self, value: Any) -> tuple[nagiosplugin.state.ServiceState, str]:
        # reported, not judged: PROBES.md sets no threshold on the time left
        return nagiosplugin.Ok, f"{value} s left before the job or machine ends"

    def performance(
        self, metric: nagiosplugin.Metric, resource: object
    ) -> nagiosplugin.Performance | None:
        if metric.value is None:
            return None
        return nagiosplugin.Performance("seconds_left", perf_number(metric.value), "s")


class ShutdownOrderContext(RuleContext):
    def __init__(self) -> None:
        super().__init__(
            "shutdown_order", "shutdown order not checked (shutdowntime or shutdowntime_job unset)"
        )

    def judge(self, value: Any) -> tuple[nagiosplugin.state.ServiceState, str]:
        shutdown_job: int = value[0]
        shutdown: int = value[1]
        if shutdown_job > shutdown:
            return (
                nagiosplugin.Warn,
                f"shutdowntime_job={shutdown_job} is after shutdowntime={shutdown} "
                f"(by {shutdown_job - shutdown} s)",
            )
        return nagiosplugin.Ok, "shutdowntime_job is not after shutdowntime"


class JobStartAheadContext(RuleContext):
    def __init__(self) -> None:
        super().__init__("jobstart_ahead", "job start time not checked (jobstart_secs unknown)")

    def judge(self, value: Any) -> tuple[nagiosplugin.state.ServiceState, str]:
        ahead: int = value
        if ahead > JOBSTART_AHEAD_SECS:
            return (
                nagiosplugin.Warn,
                f"jobstart_secs is {ahead} s in the future (more than {JOBSTART_AHEAD_SECS} s)",
            )
        return nagiosplugin.Ok, f"job started {max(0, -ahead)} s ago"


class VMUUIDContext(RuleContext):
    def __init__(self) -> None:
        super().__init__("vm_uuid", "job_id not compared with the VM UUID (no valid job_id)")

    def judge(self, value: Any) -> tuple[nagiosplugin.state.ServiceState, str]:
        job_id: str = value[0]
        uuid: str | None = value[1]
        if not uuid:
            return nagiosplugin.Ok, "job_id not compared with the VM UUID (no --uuid given)"
        if job_id.lower() != uuid.lower():
            return nagiosplugin.Warn, f"job_id={job_id} is not the VM UUID {uuid}"
        return nagiosplugin.Ok, "job_id is the VM UUID"


class MJFSummary(nagiosplugin.Summary):  # type: ignore[misc]
    def ok(self, results: nagiosplugin.Results) -> str:
        parts = ["machine and job features complete and consistent"]
        for name in ("allocated_cpu", "hs06"):
            if name in results and results[name].metric.value is not None:
                parts.append(f"{name}={results[name].metric.value}")
        if "seconds_left" in results and results["seconds_left"].metric.value is not None:
            parts.append(f"{results['seconds_left'].metric.value} s left")
        return ", ".join(parts)

    def problem(self, results: nagiosplugin.Results) -> str:
        # worst first: every problem, so one look at the status line tells them all
        return "; ".join(str(r) for r in results if r.state != nagiosplugin.Ok)

    def verbose(self, results: nagiosplugin.Results) -> list[str]:
        return [f"{str(r.state).upper()}: {r}" for r in results.results]


# --- command line ------------------------------------------------------------------------


def parser() -> ProbeArgumentParser:
    p = ProbeArgumentParser(
        SERVICE,
        prog="check_wn_mjf",
        description="Check the Machine/Job Features (HEPiX MJF) of a pilot VM.",
    )
    add_mjf_arguments(p, etc_dir=True, strict=True)
    p.add_argument(
        "--uuid", default="", metavar="UUID", help="the VM's UUID, which job_id should be"
    )
    return p


def build_check(args: argparse.Namespace) -> nagiosplugin.Check:
    locator = Locator(args, dict(os.environ))
    deadline = Deadline(args.timeout).share(PART_SHARE)
    return nagiosplugin.Check(
        MachineJobFeatures(locator, deadline, args.uuid.strip() or None),
        FeatureSetContext(),
        KeyContext("required", nagiosplugin.Critical),
        KeyContext("recommended", nagiosplugin.Warn),
        KeyContext("optional", nagiosplugin.Ok),
        UnsetContext(),
        JobStartContext(),
        SecondsLeftContext(),
        ShutdownOrderContext(),
        JobStartAheadContext(),
        VMUUIDContext(),
        MJFSummary(),
    )


def main(argv: Sequence[str] | None = None) -> NoReturn:
    args = parser().parse_args(argv)
    run(SERVICE, lambda: build_check(args), args.timeout)
