"""``vmsam check-config``: a configuration checked the way the init hook will read it, for
the people who build VM images. Every problem is one line naming its key.

Exit status: 0 when the hook would run exactly as written (``##user_data_...##`` patterns
left for Vac/Vcycle to fill are listed, and are no fault), 1 when there are only warnings,
2 when there are errors (values the hook would replace by their defaults, plugins that
cannot run, TLS files that cannot be used).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from vmsam.shared.config import VM_SECTIONS, Problem, Settings, read_settings

__all__ = ["check", "exit_status"]

EXIT_FINE = 0
EXIT_WARNINGS = 1
EXIT_ERRORS = 2


def _plugin_problems(settings: Settings) -> tuple[list[Problem], tuple[str, ...]]:
    from vmsam.vm.probeset import BUILTIN_TESTS, executable_problem, extra_probes
    from vmsam.vm.runner import plugin_path

    problems = []
    for test in BUILTIN_TESTS:
        why = executable_problem([plugin_path(f"check_wn_{test}")])
        if why:
            problems.append(Problem("error", f"built-in test {test}", why))
    extras = extra_probes(settings.probes.extra, settings.probes.timeout)
    problems.extend(extras.problems)
    for spec in extras.specs:
        why = "" if spec.problem else executable_problem(spec.command)
        if why:
            message = f"{why}: test {spec.test!r} will report UNKNOWN"
            problems.append(Problem("error", extras.keys[spec.test], message))
    return problems, (*BUILTIN_TESTS, *(spec.test for spec in extras.specs))


def _tls_problems(settings: Settings) -> list[Problem]:
    broker = settings.broker
    if not broker.ssl:
        return []
    problems = []
    for key in ("cert", "key", "ca_file"):
        path = getattr(broker, key)
        if path and not os.access(path, os.R_OK):
            reason = "no such file" if not os.path.exists(path) else "not readable"
            problems.append(Problem("error", f"[broker] {key}", f"{path}: {reason}"))
    if broker.ca_dir and not os.path.isdir(broker.ca_dir):
        problems.append(Problem("error", "[broker] ca_dir", f"{broker.ca_dir}: not a directory"))
    if problems:
        return problems
    from vmsam.shared.stomp import TLS, BrokerConfigError

    try:
        TLS(broker)
    except BrokerConfigError as exc:
        return [Problem("error", "[broker]", str(exc))]
    return []


def check(path: str | None) -> tuple[list[str], list[Problem]]:
    """The report's lines and the problems behind them."""
    from vmsam.vm.probeset import critical_tests

    configuration = read_settings(path, sections=VM_SECTIONS)
    problems = list(configuration.problems)
    if not configuration.unusable:
        settings = configuration.settings
        plugins, tests = _plugin_problems(settings)
        problems.extend(plugins)
        problems.extend(critical_tests(settings, tests)[1])
        # TLS files are often put in place at boot: checked when ssl is decided, not a pattern
        problems.extend(_tls_problems(settings))
        if not settings.vm.vo and not configuration.patterned("[vm] vo"):
            problems.append(Problem("warning", "[vm] vo", "no VO: nothing will be published"))
        if not settings.broker.urls and not configuration.patterned("[broker] urls"):
            problems.append(
                Problem("warning", "[broker] urls", "no broker: results are only spooled")
            )
    lines = [f"{p.severity}: {p}" for p in problems]
    counts = {s: sum(1 for p in problems if p.severity == s) for s in ("error", "warning")}
    patterns = sum(1 for p in problems if p.severity == "pattern")
    lines.append(
        f"{configuration.source}: {counts['error']} error(s), {counts['warning']} warning(s),"
        f" {patterns} pattern(s) left for Vac/Vcycle"
    )
    return lines, problems


def exit_status(problems: Sequence[Problem]) -> int:
    severities = {p.severity for p in problems}
    if "error" in severities:
        return EXIT_ERRORS
    return EXIT_WARNINGS if "warning" in severities else EXIT_FINE
