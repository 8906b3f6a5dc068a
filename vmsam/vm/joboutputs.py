"""Files for ``$JOBOUTPUTS``: kept by the factory (Vac, Vcycle) after the VM is gone.

``$JOBOUTPUTS`` is a local directory or an HTTP(S) URL that takes ``PUT <url>/<name>``.
"""

from __future__ import annotations

import os
from pathlib import Path

from vmsam.shared.errors import JobOutputsError

RESULTS_FILE = "vmsam-results.json"
SHUTDOWN_FILE = "shutdown_message"
# 500: problem detected with the environment/VM provided by the site; Vac and Vcycle back off
# the machinetype on it
SHUTDOWN_PROBLEM_WITH_VM = 500


def shutdown_message(reason: str, code: int = SHUTDOWN_PROBLEM_WITH_VM) -> str:
    """One line, a 3-digit code, a space, text, no newline."""
    return f"{code} {' '.join(reason.split())}"


def write(joboutputs: str, name: str, content: str, *, timeout: float = 10.0) -> None:
    """Write one file to the joboutputs directory or URL, replacing any earlier one."""
    if joboutputs.startswith(("http://", "https://")):
        _put(joboutputs.rstrip("/") + "/" + name, content.encode("utf-8"), timeout)
    else:
        _write_local(Path(joboutputs) / name, content)


def _write_local(path: Path, content: str) -> None:
    # write-then-rename: the factory may read the directory at any moment. The temporary
    # name is ours by PID (tempfile would cost every boot a fifth of the interpreter start).
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(content)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise JobOutputsError(f"cannot write {path}: {exc.strerror or exc}") from None


def _put(url: str, data: bytes, timeout: float) -> None:
    import httpx

    try:
        response = httpx.put(url, content=data, timeout=timeout, follow_redirects=True)
    except httpx.HTTPError as exc:
        raise JobOutputsError(f"cannot PUT {url}: {exc}") from None
    if response.status_code not in (200, 201, 204):
        raise JobOutputsError(f"PUT {url} answered HTTP {response.status_code}")
