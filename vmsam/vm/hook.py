"""``vmsam init-hook``: the in-VM entry point, run at the end of contextualisation.

Order matters for "nothing lost": results are spooled (on disk) before anything is sent,
joboutputs are written before publishing can eat the budget, and publishing stops at the
budget leaving the rest spooled for ``vmsam send``. The boot is sacred: whatever fails in
here is reported, and the exit code is 0 unless ``--strict`` asks otherwise.

A problem touches only what it is about: a bad value is its key's default and one line of
report, a bad extra plugin is that test's UNKNOWN result. Only what makes publishing
impossible (no VO, no space, no broker, a file that cannot be read) stops publishing, and
then the probes still run and the results still reach joboutputs and syslog.

Every boot pays for this module up to the sampling decision, and most VMs are not sampled:
what only a tested VM needs (the runner, the probe set, messages, spool, publisher) is
imported after the decision, and what every boot needs is made of named tuples and plain
classes (``dataclasses`` alone would cost a third of the interpreter's start-up).
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, NamedTuple

from vmsam import __version__
from vmsam.shared.config import Configuration, Problem, Settings
from vmsam.shared.deadline import left
from vmsam.vm.context import VMContext, discover_context
from vmsam.vm.sampling import Decision, decide, effective_fraction

if TYPE_CHECKING:
    from collections.abc import Callable

    from vmsam.shared.messages import MetricResult
    from vmsam.vm.probeset import ProbeSet
    from vmsam.vm.runner import ProbeOutcome
    from vmsam.vm.spool import Spool

ROLE = "site"
# part of the budget kept for spooling, joboutputs and publishing after the probes
PUBLISH_SHARE = 0.25
EXIT_CRITICAL = 2
EXIT_CONFIGURATION = 3
EXIT_UNDELIVERED = 1


class HookReport:
    """What one run did; the CLI prints it, joboutputs keeps it."""

    def __init__(
        self, context: VMContext, decision: Decision, configuration: Configuration
    ) -> None:
        self.context = context
        self.decision = decision
        self.configuration = configuration
        self.outcomes: list[ProbeOutcome] = []
        self.results: list[MetricResult] = []
        # the results' WLCG records, which joboutputs keep whatever the destinations' formats
        self.messages: list[str] = []
        self.critical_failures: list[str] = []
        # configuration problems found while running (extra entries, critical names)
        self.problems: list[Problem] = []
        self.notes: list[str] = []
        self.sent = 0
        self.remaining = 0

    @property
    def all_problems(self) -> list[Problem]:
        """Every configuration problem, errors and warnings (patterns are no problem)."""
        found = [*self.configuration.problems, *self.problems]
        return [p for p in found if p.severity != "pattern"]


class _Syslog:
    """One line per result to syslog; sites forward VM syslog for traceability.

    The ``syslog`` module writes to /dev/log and silently drops lines where there is none
    (containers): a VM without syslog must not see logging errors at boot.
    """

    def __init__(self) -> None:
        import syslog

        self._syslog = syslog
        syslog.openlog("vmsam", syslog.LOG_PID, syslog.LOG_DAEMON)

    def __call__(self, line: str) -> None:
        self._syslog.syslog(self._syslog.LOG_INFO, line)


def _result_entries(report: HookReport, settings: Settings) -> list[dict[str, object]]:
    if not report.outcomes:
        return []  # an unsampled VM: nothing more to import
    from vmsam.shared.messages import format_timestamp
    from vmsam.vm.runner import metric_name

    vo = report.context.vo or settings.vm.vo or "unknown"
    return [
        {
            "test": o.test,
            "metric": metric_name(vo, o.test),
            "status": o.status,
            "summary": o.summary,
            "details": o.details,
            "perfdata": o.perfdata,
            "duration": o.duration,
            "timestamp": format_timestamp(o.timestamp),
        }
        for o in report.outcomes
    ]


def _results_document(report: HookReport, settings: Settings) -> str:
    import json

    ctx = report.context
    document = {
        "vmsam": __version__,
        "vm": {
            "space": ctx.space,
            "site": ctx.site,
            "uuid": ctx.uuid,
            "hostname": ctx.hostname,
            "machinetype": ctx.machinetype,
            "vo": ctx.vo,
            "fqan": ctx.fqan,
            "service_type": ctx.service_type,
        },
        "sampled": report.decision.sampled,
        "reason": report.decision.reason,
        "configuration": {
            "source": report.configuration.source,
            "unusable": report.configuration.unusable,
            "problems": [
                {"severity": p.severity, "key": p.key, "message": p.message}
                for p in report.all_problems
            ],
        },
        "results": _result_entries(report, settings),
        "notes": report.notes,
        "delivery": {"sent": report.sent, "remaining": report.remaining},
        "messages": report.messages,
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _results(report: HookReport) -> list[MetricResult]:
    from vmsam.shared.messages import MetricResult
    from vmsam.vm.runner import metric_name

    ctx = report.context
    assert ctx.space and ctx.vo  # publishable() was checked
    fqan = ctx.fqan or f"/{ctx.vo}"
    results = []
    for outcome in report.outcomes:
        metric = metric_name(ctx.vo, outcome.test)
        result = MetricResult(
            service_uri=ctx.space,
            host_name=ctx.space,
            service_flavour=ctx.service_type,
            site_name=ctx.site or ctx.space,
            status=outcome.status,
            metric_name=metric,
            summary=outcome.summary,
            gathered_at=ctx.hostname,
            timestamp=outcome.timestamp,
            service_type=ctx.service_type,
            nagios_name=f"{metric}-{fqan}",
            role=ROLE,
            vo_name=ctx.vo,
            vo_fqan=fqan,
            vm_uuid=ctx.uuid,
            vm_machinetype=ctx.machinetype,
            probe_duration=f"{outcome.duration:.3f}",
            perf_data=outcome.perfdata or None,
            details=outcome.details,
        )
        results.append(result)
    return results


def _write_joboutputs(report: HookReport, settings: Settings, deadline: float) -> None:
    from vmsam.shared.errors import JobOutputsError
    from vmsam.vm import joboutputs

    target = report.context.joboutputs
    if not target:
        report.notes.append("no joboutputs location found: results kept in syslog only")
        return
    timeout = max(1.0, min(10.0, left(deadline)))
    try:
        joboutputs.write(
            target, joboutputs.RESULTS_FILE, _results_document(report, settings), timeout=timeout
        )
        for index, body in enumerate(report.messages):
            joboutputs.write(target, f"vmsam-message-{index}.txt", body, timeout=timeout)
        if settings.outputs.shutdown_on_critical and report.critical_failures:
            reasons = "; ".join(
                o.summary for o in report.outcomes if o.test in report.critical_failures
            )
            joboutputs.write(
                target,
                joboutputs.SHUTDOWN_FILE,
                joboutputs.shutdown_message(f"vmsam: {reasons}"),
                timeout=timeout,
            )
    except JobOutputsError as exc:
        report.notes.append(str(exc))


class _Copies(NamedTuple):
    """The messages for one destination, in its format, and the spool they wait in (None:
    it cannot be written)."""

    destination: str
    bodies: list[str]
    spool: Spool | None


def _copies(report: HookReport, settings: Settings) -> list[_Copies]:
    """Every destination's copies, signed and spooled: one spool element per copy, so each
    leaves its spool only once its own destination confirmed it."""
    from vmsam.shared.messages import encode_monit
    from vmsam.vm.signing import sign_all
    from vmsam.vm.spool import Spool, SpoolError, spool_paths

    copies = []
    for target, path in spool_paths(settings.paths.spool, settings.broker.targets()):
        encoded = (
            [encode_monit(result) for result in report.results]
            if target.format == "monit"
            else report.messages
        )
        # signed before spooling: what waits in the spool is what is sent, signature and all
        bodies, notes = sign_all(encoded, settings)
        report.notes.extend(note for note in notes if note not in report.notes)
        spool: Spool | None = None
        try:
            spool = Spool(path)
            for body in bodies:
                spool.add(body)
        except SpoolError as exc:
            report.notes.append(f"spool unusable ({exc}): publishing directly, best effort")
            spool = None
        copies.append(_Copies(target.name, bodies, spool))
    return copies


def _spool_and_publish(report: HookReport, settings: Settings, deadline: float) -> None:
    from vmsam.vm.publisher import DeliveryReport, Publisher, PublishError
    from vmsam.vm.spool import SpoolError

    copies = _copies(report, settings)
    if not settings.broker.urls:
        report.notes.append(
            "not sent: no broker configured ([broker] urls): messages stay in the spool"
        )
        report.remaining = sum(c.spool.count() if c.spool else len(c.bodies) for c in copies)
        return
    delivery = DeliveryReport()
    try:
        publisher = Publisher(settings.broker)
        for copy in copies:
            delivery.add(
                publisher.deliver(copy.spool, deadline, copy.destination)
                if copy.spool
                else publisher.publish_direct(copy.bodies, deadline, copy.destination)
            )
    except (PublishError, SpoolError) as exc:
        report.notes.append(f"not sent: {exc}")
        report.remaining = sum(len(copy.bodies) for copy in copies)
        return
    report.sent, report.remaining = delivery.sent, delivery.remaining
    report.notes.extend(f"not sent: {error}" for error in delivery.errors)


def _flush_backlog(report: HookReport, settings: Settings, deadline: float) -> None:
    """An unsampled VM still helps the spool drain, within the budget."""
    import os

    if not settings.broker.urls or not os.path.isdir(settings.paths.spool):
        return
    from vmsam.vm.spool import Spool, SpoolError, spool_paths

    try:
        paths = spool_paths(settings.paths.spool, settings.broker.targets())
        if not any(os.path.isdir(path) and Spool(path).count() for _, path in paths):
            return
        from vmsam.vm.publisher import Publisher, PublishError

        delivery = Publisher(settings.broker).deliver_all(settings.paths.spool, deadline)
    except (PublishError, SpoolError) as exc:
        report.notes.append(f"spool backlog not flushed: {exc}")
        return
    report.sent, report.remaining = delivery.sent, delivery.remaining
    report.notes.extend(delivery.errors)


def _identify(settings: Settings, *, force: bool) -> tuple[VMContext, Decision]:
    """Who this VM is and whether it tests: the part every boot pays for."""
    context = discover_context(settings, timeout=min(5.0, settings.probes.budget / 10))
    fraction, source = effective_fraction(settings.sampling.fraction, context.features.machine)
    return context, decide(context.uuid, fraction, force=force, source=source)


def _why_not_published(report: HookReport) -> str | None:
    configuration = report.configuration
    if configuration.unusable:
        return f"configuration {configuration.source} unusable: {configuration.unusable}"
    return report.context.publishable()


def _plan(report: HookReport) -> tuple[ProbeSet, tuple[str, ...]]:
    """The probes of this run and its critical tests; what was wrong with the extra entries
    and the critical names goes to the report's problems."""
    from vmsam.vm.probeset import critical_tests, probe_set

    settings = report.configuration.settings
    probes = probe_set(settings, report.context)
    critical, critical_problems = critical_tests(settings, probes.tests)
    report.problems = [*probes.problems, *critical_problems]
    return probes, critical


def run_hook(
    configuration: Configuration,
    *,
    force: bool = False,
    syslog: Callable[[str], None] | None = None,
) -> HookReport:
    """One whole run of the hook within ``[probes] budget``; never raises for VM trouble."""
    settings = configuration.settings
    started = time.monotonic()
    budget = settings.probes.budget
    deadline = started + budget
    say = syslog or _Syslog()
    context, decision = _identify(settings, force=force)
    report = HookReport(context, decision, configuration)
    say(f"sampling: {decision.reason}")
    for problem in context.problems:
        say(f"context: {problem}")
    if not decision.sampled:
        _report_problems(report, say)
        _flush_backlog(report, settings, deadline)
        _write_joboutputs(report, settings, deadline)
        return report

    from vmsam.vm.runner import run_probes

    probes, critical = _plan(report)
    _report_problems(report, say)
    probes_deadline = started + budget * (1 - PUBLISH_SHARE)
    report.outcomes = run_probes(probes.specs, probes_deadline)
    for outcome in report.outcomes:
        say(f"{outcome.test} {outcome.status}: {outcome.summary}")
        if outcome.status == "CRITICAL" and outcome.test in critical:
            report.critical_failures.append(outcome.test)

    why_not = _why_not_published(report)
    if why_not:
        report.notes.append(f"not publishing: {why_not}")
    else:
        from vmsam.shared.messages import encode

        report.results = _results(report)
        report.messages = [encode(result) for result in report.results]
    _write_joboutputs(report, settings, deadline)
    if report.messages:
        _spool_and_publish(report, settings, deadline)
        _rewrite_results(report, settings, deadline)
    for note in report.notes:
        say(note)
    return report


def _rewrite_results(report: HookReport, settings: Settings, deadline: float) -> None:
    """The results file again, now with what publishing did, while the budget lasts: the
    first one was written before publishing could eat the budget."""
    from vmsam.shared.errors import JobOutputsError
    from vmsam.vm import joboutputs

    target = report.context.joboutputs
    seconds = left(deadline)
    if not target or seconds < 1.0:
        return
    try:
        document = _results_document(report, settings)
        joboutputs.write(target, joboutputs.RESULTS_FILE, document, timeout=min(10.0, seconds))
    except JobOutputsError as exc:
        report.notes.append(str(exc))


def _report_problems(report: HookReport, say: Callable[[str], None]) -> None:
    """Configuration problems to syslog and stderr (the console of the boot)."""
    for problem in report.all_problems:
        line = f"configuration {problem.severity}: {problem}"
        say(line)
        print(f"vmsam init-hook: {line}", file=sys.stderr, flush=True)


def dry_run(configuration: Configuration, *, force: bool = False) -> list[str]:
    """What the hook would do, without running a probe or writing anything."""
    import shlex

    settings = configuration.settings
    context, decision = _identify(settings, force=force)
    report = HookReport(context, decision, configuration)
    probes, critical = _plan(report)
    lines = [
        f"configuration: {configuration.source}",
        *(f"configuration {p.severity}: {p}" for p in report.all_problems),
        f"space: {context.space}",
        f"site: {context.site}",
        f"uuid: {context.uuid}",
        f"hostname: {context.hostname}",
        f"machinetype: {context.machinetype}",
        f"vo: {context.vo}  fqan: {context.fqan}",
        f"service type: {context.service_type}",
        f"machinefeatures: {context.machinefeatures}",
        f"jobfeatures: {context.jobfeatures}",
        f"joboutputs: {context.joboutputs}",
        *(f"problem: {problem}" for problem in context.problems),
        f"sampling: {decision.reason}",
        "probes:",
    ]
    for spec in probes.specs:
        shown = spec.problem or shlex.join(spec.command)
        lines.append(f"  {spec.test}: {shown}")
    lines.append(f"critical: {', '.join(critical)}")
    brokers = ", ".join(settings.broker.urls) or "(none configured)"
    lines.append(f"destination: {settings.broker.destination} on {brokers}")
    why_not = _why_not_published(report)
    if why_not:
        lines.append(f"would not publish: {why_not}")
    return lines


def summary_lines(report: HookReport) -> list[str]:
    """The short human summary the hook prints on the VM's console."""
    ctx = report.context
    lines = [
        f"vmsam init-hook: space {ctx.space or '?'}, VM {ctx.uuid or '?'}",
        f"sampling: {report.decision.reason}",
    ]
    for outcome in report.outcomes:
        lines.append(f"  {outcome.test:<12} {outcome.status:<9} {outcome.summary}")
    if report.outcomes or report.sent or report.remaining:
        lines.append(f"published {report.sent} message(s), {report.remaining} left in the spool")
    errors = sum(1 for p in report.all_problems if p.severity == "error")
    if errors:
        lines.append(f"configuration: {errors} error(s), their defaults used (see stderr)")
    lines.extend(f"note: {note}" for note in report.notes)
    return lines


def exit_code(report: HookReport, *, strict: bool) -> int:
    """0, unless ``strict``: 2 a critical test failed, 3 the configuration has errors, 1
    messages were left undelivered."""
    if not strict:
        return 0
    if report.critical_failures:
        return EXIT_CRITICAL
    if report.configuration.unusable or any(p.severity == "error" for p in report.all_problems):
        return EXIT_CONFIGURATION
    if report.remaining:
        return EXIT_UNDELIVERED
    return 0


def guarded(action: Callable[[], int], say: Callable[[str], None]) -> int:
    """Run the hook so that nothing escapes into the boot: any failure is said, exit 0."""
    try:
        return action()
    except Exception as exc:  # noqa: BLE001 - the VM's boot must never break on vmsam
        say(f"vmsam init-hook failed: {type(exc).__name__}: {exc}")
        return 0
