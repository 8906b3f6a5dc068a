"""Filesystem work that may hang, run in child processes that the probe can abandon.

Once a request has reached a hung FUSE daemon, the kernel waits for the answer
uninterruptibly, even through SIGKILL. A thread stuck there keeps the probe's process, and
with it the stdout Nagios reads to its end, alive until the daemon answers. A child
process stuck there is killed (the kill lands whenever the kernel lets go) and left behind;
it never had the probe's stdout or stderr, so the probe answers and its output ends.

A measurement is a module-level generator function taking strings and yielding JSON-able
records; ``Child`` starts it at once (so that several run in parallel) and ``outcome``
collects its records until it ends or a Deadline passes. The child's side is
``python -m probes._isolated MODULE:FUNCTION ARG...``, one JSON record a line; an OSError
ends it with an error record.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from probes._plugin import Hung, Pending
from vmsam.shared.deadline import Deadline

Record = dict[str, Any]
Measurement = Callable[..., Iterable[Record]]

# the key that marks the error record, so that no measurement's own record is mistaken for it
ERROR = "__oserror__"


@dataclass(frozen=True)
class Outcome:
    """What a child said before it ended or the deadline passed."""

    records: list[Record]
    hung: Hung | None = None
    error: OSError | None = None
    exit_status: int = 0

    @property
    def complete(self) -> bool:
        """Whether the measurement ran to its end."""
        return self.hung is None and self.error is None and self.exit_status == 0

    def problem(self) -> str:
        """Why the measurement is not complete, for a status line."""
        if self.hung is not None:
            return str(self.hung)
        if self.error is not None:
            return self.error.strerror or str(self.error)
        return f"the measuring process failed (exit status {self.exit_status})"


def target(function: Measurement) -> str:
    """``module:function``, the name under which a child imports ``function``."""
    module, name = function.__module__, function.__qualname__
    if module == "__main__" or "." in name:
        raise ValueError(f"{name} cannot be run in a child process: not importable by name")
    return f"{module}:{name}"


class Child:
    """A measurement running in a child process, its records read as they come."""

    def __init__(self, function: Measurement, *args: str) -> None:
        # the child must find this package however the probe was started
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self._process = subprocess.Popen(
            # -P: the working directory (relative paths are the caller's) shadows no module
            [sys.executable, "-P", "-m", __name__, target(function), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            # never the probe's own streams: a child stuck in the kernel would hold them open
            stderr=subprocess.DEVNULL,
            close_fds=True,
            env=env,
        )
        self._records: list[Record] = []
        self._error: OSError | None = None
        # reading a pipe is an interruptible wait: a thread is fine for it
        self._reading = Pending(self._read)

    def _read(self) -> int:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            record = json.loads(line)
            if ERROR in record:
                code, strerror, filename = record[ERROR]
                self._error = OSError(code, strerror, filename)
            else:
                self._records.append(record)
        return self._process.wait()

    def outcome(self, deadline: Deadline) -> Outcome:
        try:
            status = self._reading.result(deadline)
        except Hung as hung:
            # no waiting for the kill to take effect: that may be never
            self._process.kill()
            return Outcome(list(self._records), hung=hung, error=self._error)
        return Outcome(list(self._records), error=self._error, exit_status=status)


def main(argv: list[str]) -> None:
    """The child's side: one JSON record a line, an OSError as the last record."""
    name, *args = argv
    module, _, function = name.partition(":")
    measure: Measurement = getattr(importlib.import_module(module), function)
    try:
        for record in measure(*args):
            print(json.dumps(record), flush=True)
    except OSError as exc:
        filename = None if exc.filename is None else os.fsdecode(exc.filename)
        error = [exc.errno, exc.strerror or str(exc), filename]
        print(json.dumps({ERROR: error}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
