"""Run Nagios plugins as subprocesses in parallel, each with its own timeout, all in a budget.

A probe that overruns has its whole process group killed (a probe may have children stuck
on a hung mount) and is reported UNKNOWN "timed out after N s" (docs/probes.md).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

STATUSES = {0: "OK", 1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}
# the runner kills a probe's process group this long after its own --timeout has passed
KILL_GRACE = 2.0
_OUTPUT_LIMIT = 256 * 1024


def plugin_path(script: str) -> str:
    """An installed plugin: the one beside this interpreter (a venv), else on PATH."""
    beside = Path(sys.executable).parent / script
    return str(beside) if beside.exists() else (shutil.which(script) or script)


@dataclass(frozen=True)
class ProbeSpec:
    test: str
    command: tuple[str, ...]
    timeout: float
    # why this probe cannot run (its command line does not parse): it is reported UNKNOWN
    problem: str = ""


@dataclass(frozen=True)
class ProbeOutcome:
    test: str
    status: str
    summary: str
    details: str
    perfdata: str
    duration: float
    timestamp: datetime
    exit_code: int | None


def parse_output(stdout: str) -> tuple[str, str, str]:
    """(summary, long output, perfdata) of a plugin's output, per the plugin guidelines.

    The first ``|`` of the status line starts perfdata; in long output, a line with ``|``
    starts more perfdata that runs to the end.
    """
    lines = stdout.rstrip("\n").split("\n") if stdout.strip() else []
    if not lines:
        return "", "", ""
    summary, _, perf = lines[0].partition("|")
    perfdata = [perf.strip()] if perf.strip() else []
    details: list[str] = []
    in_perf = False
    for line in lines[1:]:
        if in_perf:
            perfdata.append(line.strip())
        elif "|" in line:
            text, _, more = line.partition("|")
            details.append(text.rstrip())
            perfdata.append(more.strip())
            in_perf = True
        else:
            details.append(line)
    return summary.strip(), "\n".join(details).rstrip("\n"), " ".join(p for p in perfdata if p)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _text(data: bytes | None) -> str:
    return (data or b"")[:_OUTPUT_LIMIT].decode("utf-8", errors="replace")


def run_one(spec: ProbeSpec, deadline: float) -> ProbeOutcome:
    """Run one plugin; ``deadline`` (a ``time.monotonic()`` value) is the hook's budget."""
    started = time.monotonic()
    if spec.problem:
        return _outcome(spec, "UNKNOWN", spec.problem, started)
    limit = max(0.0, min(spec.timeout + KILL_GRACE, deadline - started))
    try:
        process = subprocess.Popen(
            spec.command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except (OSError, ValueError) as exc:
        # ValueError: a NUL byte in an argument
        reason = (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
        return _outcome(spec, "UNKNOWN", f"cannot run {spec.command[0]}: {reason}", started)
    try:
        stdout, stderr = process.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        # a child stuck in the kernel may keep the pipes open: do not wait for it for long
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.communicate(timeout=2)
        for pipe in (process.stdout, process.stderr):
            if pipe:
                pipe.close()
        return _outcome(spec, "UNKNOWN", f"timed out after {limit:.0f} s", started)
    summary, details, perfdata = parse_output(_text(stdout))
    code = process.returncode
    status = STATUSES.get(code, "UNKNOWN")
    errors = _text(stderr).strip()
    if not summary:
        summary = f"{spec.test}: no output (exit code {code})"
    elif code not in STATUSES:
        summary = f"{summary} (exit code {code} is not a Nagios state)"
    if errors:
        details = "\n".join(filter(None, [details, "stderr: " + errors[-2000:]]))
    return _outcome(
        spec, status, summary, started, details=details, perfdata=perfdata, exit_code=code
    )


def _outcome(
    spec: ProbeSpec,
    status: str,
    summary: str,
    started: float,
    *,
    details: str = "",
    perfdata: str = "",
    exit_code: int | None = None,
) -> ProbeOutcome:
    return ProbeOutcome(
        test=spec.test,
        status=status,
        summary=summary,
        details=details,
        perfdata=perfdata,
        duration=round(time.monotonic() - started, 3),
        timestamp=datetime.now(UTC).replace(microsecond=0),
        exit_code=exit_code,
    )


def run_probes(specs: Sequence[ProbeSpec], deadline: float) -> list[ProbeOutcome]:
    """Run all probes at once; outcomes in the order of ``specs``."""
    outcomes: list[ProbeOutcome | None] = [None] * len(specs)

    def work(index: int) -> None:
        outcomes[index] = run_one(specs[index], deadline)

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(len(specs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [outcome for outcome in outcomes if outcome is not None]


_SAFE_WORD = re.compile(r"[^A-Za-z0-9_.-]")


def metric_name(vo: str, test: str) -> str:
    """``org.<vo>.WN-<test>``, the test name reduced to characters safe in a metric name."""
    return f"org.{vo}.WN-{_SAFE_WORD.sub('_', test)}"
