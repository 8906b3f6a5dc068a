"""What every probe shares: Nagios-safe arguments, calls that may hang, and the output.

nagiosplugin judges (Resources measure, Contexts judge, a Summary speaks); this module only
runs a Check so that the plugin contract holds whatever happens inside it:

- argument errors print a Nagios status line and exit 3 (argparse alone would exit 2,
  which Nagios reads as CRITICAL);
- the whole run is bounded by ``--timeout``: the Check runs in a thread that is abandoned
  when the time is up (filesystem work that may hang on a FUSE mount is not done in this
  process at all, see probes._isolated);
- the status line always carries the perfdata and long output always follows it
  (nagiosplugin prints long output only when verbose, and then tracebacks too);
- anything unexpected becomes UNKNOWN with a one-line reason, never a traceback.
"""

from __future__ import annotations

import argparse
import functools
import os
import queue
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any, Generic, NoReturn, TypeVar

import nagiosplugin

from probes._common.arguments import positive_float
from vmsam.shared.deadline import Deadline

T = TypeVar("T")

DEFAULT_TIMEOUT = 10.0
# Parts of a probe (one repository, one MJF server) must give up before the whole probe
# does, so that a hung part is reported as that part being broken (CRITICAL) while the
# whole-probe guard (UNKNOWN) stays a last resort.
PART_SHARE = 0.8

EXIT_UNKNOWN = 3


class Hung(Exception):
    """A call did not return within its time."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"did not answer within {round(seconds, 1):g} s")
        self.seconds = seconds


class Pending(Generic[T]):
    """A call running in a daemon thread, so that the caller can stop waiting for it.

    For waits the kernel can interrupt (a network server, a pipe): the abandoned thread
    dies with the process. A thread blocked on a hung FUSE mount would not, and would keep
    the process and its stdout alive: such work belongs in probes._isolated.
    """

    def __init__(self, call: Callable[[], T]) -> None:
        self._box: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1)
        threading.Thread(target=self._run, args=(call,), daemon=True).start()

    def _run(self, call: Callable[[], T]) -> None:
        try:
            self._box.put((True, call()))
        except BaseException as exc:  # noqa: BLE001 - handed over to the waiting thread
            self._box.put((False, exc))

    def result(self, deadline: Deadline) -> T:
        """The call's value; its exception re-raised; ``Hung`` when the deadline passes."""
        try:
            ok, value = self._box.get(timeout=deadline.remaining())
        except queue.Empty:
            raise Hung(deadline.seconds) from None
        if ok:
            return value  # type: ignore[no-any-return]
        raise value


def call_bounded(call: Callable[[], T], deadline: Deadline) -> T:
    """Run ``call`` in a thread and wait for it until ``deadline``."""
    return Pending(call).result(deadline)


def map_bounded(
    call: Callable[[Any], T], items: Iterable[Any], deadline: Deadline
) -> list[T | BaseException]:
    """Run ``call(item)`` for all items in parallel; each answer is a value or an exception.

    One item that hangs costs the others nothing: all share one deadline.
    """
    pending = [Pending(functools.partial(call, item)) for item in items]
    answers: list[T | BaseException] = []
    for waiting in pending:
        try:
            answers.append(waiting.result(deadline))
        except Exception as exc:  # noqa: BLE001 - each item's failure is its answer
            answers.append(exc)
    return answers


def one_line(text: str) -> str:
    """Text fit for a status line: one line, no ``|`` (it starts perfdata)."""
    return " ".join(text.split()).replace("|", "/")


def status_text(text: str) -> str:
    """Text fit for the first line, which Nagios does not pass on unchanged when it holds a
    ``;``: the probes' own texts have none, but paths and error messages may."""
    return one_line(text).replace(";", ",")


def reason(exc: BaseException) -> str:
    """A one-line reason for an exception, for a human reading a status line."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return one_line(f"{exc.strerror}{where}")
    text = one_line(str(exc))
    return text or type(exc).__name__


class ProbeArgumentParser(argparse.ArgumentParser):
    """argparse that answers a bad command line in Nagios terms (UNKNOWN, exit 3)."""

    def __init__(self, service: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.service = service
        self.add_argument(
            "-t",
            "--timeout",
            type=positive_float,
            default=DEFAULT_TIMEOUT,
            metavar="SECONDS",
            help="bound on the whole run; a part that hangs is reported, not waited for "
            "(default %(default)s)",
        )
        self.add_argument(
            "-v",
            "--verbose",
            action="count",
            default=0,
            help="accepted for Nagios compatibility; long output is always printed",
        )

    def error(self, message: str) -> NoReturn:
        emit(self.service, nagiosplugin.Unknown, f"bad arguments: {message}")


def emit(
    service: str,
    state: nagiosplugin.state.ServiceState,
    summary: str,
    perfdata: Iterable[str] = (),
    long_output: Iterable[str] = (),
) -> NoReturn:
    """Print the plugin output and leave at once with the state's exit code.

    ``os._exit`` because an abandoned thread may still be waiting: the process must not
    wait for it at interpreter shutdown.
    """
    status = f"{service} {str(state).upper()}: {status_text(summary)}"
    perf = " ".join(p for p in perfdata if p)
    lines = [f"{status} | {perf}" if perf else status]
    lines.extend(one_line(line) for line in long_output if line.strip())
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()
    os._exit(int(state))


def run(service: str, build: Callable[[], nagiosplugin.Check], timeout: float) -> NoReturn:
    """Build and evaluate a Check within ``timeout`` seconds and print its Nagios output."""
    deadline = Deadline(timeout)

    def evaluate() -> nagiosplugin.Check:
        check = build()
        check()
        return check

    try:
        check = call_bounded(evaluate, deadline)
        long_output = check.verbose_str
        if isinstance(long_output, str):
            long_output = long_output.splitlines()
        emit(service, check.state, check.summary_str, check.perfdata, long_output)
    except Hung:
        emit(service, nagiosplugin.Unknown, f"probe did not finish within {timeout:g} s")
    except Exception as exc:  # noqa: BLE001 - the plugin contract: UNKNOWN, never a traceback
        emit(service, nagiosplugin.Unknown, f"{type(exc).__name__}: {reason(exc)}")
