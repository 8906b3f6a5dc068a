"""Which probes this VM runs: the four built-in tests and the site's ``[probes] extra``
Nagios plugins, each under its own test name, with its command line or the reason it
cannot run.

A problem with one extra entry touches only that entry: a command line that does not parse
becomes that test's UNKNOWN result, and a name another test already has is made distinct
(the store keeps one result per metric and second, so two plugins under one name would
silently lose one of them).
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
from collections.abc import Sequence
from pathlib import Path

from vmsam.shared.config import ExtraProbe, Problem, Settings
from vmsam.vm.context import VMContext
from vmsam.vm.runner import ProbeSpec, plugin_path

__all__ = [
    "BUILTIN_TESTS",
    "ProbeSet",
    "critical_tests",
    "executable_problem",
    "executable_test_name",
    "extra_probes",
    "probe_set",
]

BUILTIN_TESTS = ("cvmfs", "middleware", "scratch", "mjf")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
# a test name becomes part of a metric name: org.<vo>.WN-<test>
_TEST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def executable_test_name(executable: str) -> str:
    """``/usr/lib64/nagios/plugins/check_squid`` is test ``squid`` (the executable's name without
    ``check_wn_`` or ``check_``), reduced to the characters a metric name may hold."""
    name = Path(executable).name
    for prefix in ("check_wn_", "check_"):
        if name.startswith(prefix) and len(name) > len(prefix):
            name = name[len(prefix) :]
            break
    return _UNSAFE.sub("_", name) or "extra"


class ProbeSet:
    """The probes of one run and what was found wrong with the extra entries."""

    def __init__(
        self, specs: list[ProbeSpec], problems: list[Problem], keys: dict[str, str] | None = None
    ) -> None:
        self.specs = specs
        self.problems = problems
        # test name -> the configuration key of the entry it came from
        self.keys = keys or {}

    @property
    def tests(self) -> tuple[str, ...]:
        return tuple(spec.test for spec in self.specs)


def _builtin_specs(settings: Settings, context: VMContext) -> list[ProbeSpec]:
    paths, timeout = settings.paths, settings.probes.timeout
    common = ["--timeout", f"{timeout:g}"]
    mjf_args: list[str] = []
    if context.machinefeatures:
        mjf_args += ["--machinefeatures", context.machinefeatures]
    if context.jobfeatures:
        mjf_args += ["--jobfeatures", context.jobfeatures]
    found = [*mjf_args, "--no-discovery"]
    vo = ["--vo", context.vo] if context.vo else []
    repositories = [arg for repo in settings.probes.repositories for arg in ("--repo", repo)]
    proxy = ["--proxy", paths.proxy] if paths.proxy else []
    discovery = (
        [
            "--vac-url",
            settings.discovery.vac_url,
            "--openstack-url",
            settings.discovery.openstack_url,
        ]
        if settings.discovery.network
        else ["--no-discovery"]
    )
    commands = {
        "cvmfs": [
            "--cvmfs-root", paths.cvmfs_root, *vo, *repositories,
            "--mounts-file", paths.mounts_file, "--cvmfs-config-dir", paths.cvmfs_config_dir,
            "--scratch", paths.scratch,
        ],
        "middleware": ["--grid-root", paths.grid_root, *vo, *proxy, *found],
        "scratch": [
            "--path", paths.scratch, "--mounts-file", paths.mounts_file,
            "--swaps-file", paths.swaps_file, "--cvmfs-config-dir", paths.cvmfs_config_dir,
            *found,
        ],
        "mjf": [
            *mjf_args, "--etc-dir", paths.etc_dir,
            *(["--uuid", context.uuid] if context.uuid else []),
            *(["--no-discovery"] if mjf_args else discovery),
        ],
    }  # fmt: skip
    return [
        ProbeSpec(test, (plugin_path(f"check_wn_{test}"), *common, *commands[test]), timeout)
        for test in BUILTIN_TESTS
    ]


def _distinct(name: str, command: str, taken: set[str]) -> str:
    """``name``, or when another test has it, ``name-<hash of the command line>``: stable
    across boots and image rebuilds as long as the command line stays the same."""
    digest = hashlib.sha256(command.encode("utf-8", "surrogatepass")).hexdigest()
    length = 6
    candidate = name
    while candidate in taken:
        candidate = f"{name}-{digest[:length]}"
        length += 2
    return candidate


def extra_probes(
    extras: Sequence[ExtraProbe], timeout: float, taken: Sequence[str] = BUILTIN_TESTS
) -> ProbeSet:
    """A ProbeSpec per usable entry of ``[probes] extra``, each under a test name no other
    test has; every entry that needed a decision is one problem naming it."""
    names = set(taken)
    seen: dict[str, int] = {}
    specs: list[ProbeSpec] = []
    problems: list[Problem] = []
    keys: dict[str, str] = {}
    for position, extra in enumerate(extras, 1):
        index = extra.entry or position
        key = f"[probes] extra #{index}"
        if extra.command in seen:
            message = f"the same command line as entry #{seen[extra.command]}; ignored"
            problems.append(Problem("warning", key, message))
            continue
        seen[extra.command] = index
        problem = ""
        try:
            command = tuple(shlex.split(extra.command))
        except ValueError as exc:
            problem = f"cannot parse the command line ({str(exc).lower()})"
            command = (extra.command,)
        if not command:
            continue
        derived = executable_test_name(extra.command.split()[0] if problem else command[0])
        wanted = extra.name or derived
        if not _TEST_NAME.match(wanted):
            message = (
                f"name {wanted!r} is not a test name (letters, digits, '_', '.', '-'):"
                f" {derived!r} is used"
            )
            problems.append(Problem("error", key, message))
            wanted = derived
        name = _distinct(wanted, extra.command, names)
        names.add(name)
        if name != wanted:
            owner = "a built-in test" if wanted in BUILTIN_TESTS else "another entry"
            message = (
                f"test name {wanted!r} is taken by {owner}: this entry is test {name!r}"
                ' (name it: { name = "...", command = "..." })'
            )
            problems.append(Problem("warning", key, message))
        if problem:
            problems.append(Problem("error", key, f"{problem}: test {name!r} reports UNKNOWN"))
        specs.append(ProbeSpec(name, command, timeout, problem=problem))
        keys[name] = key
    return ProbeSet(specs, problems, keys)


def probe_set(settings: Settings, context: VMContext) -> ProbeSet:
    """The four built-in probes and the site's extra plugins, with their command lines."""
    extras = extra_probes(settings.probes.extra, settings.probes.timeout)
    return ProbeSet(_builtin_specs(settings, context) + extras.specs, extras.problems)


def critical_tests(
    settings: Settings, tests: Sequence[str]
) -> tuple[tuple[str, ...], list[Problem]]:
    """The tests whose CRITICAL result makes the VM ask to be shut down: ``[probes]
    critical``, or the four built-in tests when it names none; names that are no test of
    this run are problems (a typo must not switch the shutdown off silently)."""
    configured = settings.probes.critical
    if not configured:
        return BUILTIN_TESTS, []
    known = set(tests)
    chosen = tuple(name for name in configured if name in known)
    problems = [
        Problem(
            "warning",
            "[probes] critical",
            f"no test is named {name!r} (tests: {', '.join(tests)}); it is ignored"
            + ("" if chosen else ", so the four built-in tests are critical"),
        )
        for name in configured
        if name not in known
    ]
    return chosen or BUILTIN_TESTS, problems


def executable_problem(command: Sequence[str]) -> str:
    """Why ``command`` cannot be started here, or "" (for ``vmsam check-config``; the hook
    finds out by starting it)."""
    program = command[0]
    if os.sep in program:
        if not os.path.isfile(program):
            return f"{program}: no such file"
        if not os.access(program, os.X_OK):
            return f"{program}: not executable"
        return ""
    return "" if shutil.which(program) else f"{program}: not found on PATH"
