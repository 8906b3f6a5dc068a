"""The durable outgoing spool: a ``dirq`` QueueSimple directory, the on-disk queue format of
the WLCG/ARGO publishers.

Every message is on disk (file and directory entries fsynced) before any send, and leaves only
after the broker confirmed it. The hook and a cron ``vmsam send`` may work on one spool at
once: dirq's hard-link locks keep them apart, and locks older than ten minutes are cleared
(left by a run that died). A full or read-only disk raises ``SpoolError`` with a one-line reason.

dirq's own ``add`` is not used: it does not fsync, and on any ``open`` error other than
ENOENT (EROFS, EACCES, ENOSPC on the inode table) it loops forever. Elements are written
here in dirq's layout and handed to ``QueueSimple.add_path``, which names and links them.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from dirq.QueueSimple import QueueSimple

from vmsam.shared.config import Destination
from vmsam.shared.errors import SpoolError

__all__ = ["Spool", "SpoolError", "SpooledMessage", "spool_paths"]

# dirq's on-disk names: intermediate directories by time, elements by time and a random digit
_DIRECTORY = re.compile(r"^[0-9a-f]{8}$")
_ELEMENT = re.compile(r"^[0-9a-f]{14}$")
# dirq's default: a new intermediate directory at most once a minute
_GRANULARITY = 60
# temporary files (ours end in .tmp like dirq's own) older than this are debris of a crash
_MAX_TEMP_AGE = 300


@dataclass(frozen=True)
class SpooledMessage:
    """A locked element: send it, then ``Spool.remove`` it (confirmed) or ``release`` it."""

    name: str
    data: bytes

    @property
    def body(self) -> str:
        return self.data.decode("utf-8", errors="replace")


def _reason(action: str, exc: OSError) -> str:
    detail = exc.strerror or str(exc)
    where = f" ({exc.filename})" if exc.filename else ""
    return f"cannot {action}: {detail}{where}"


def _fsync_directory(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    """One spool directory. Several processes may use it at once, and ``remove`` may be
    called from several threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        try:
            os.makedirs(self.path, exist_ok=True)
            self._queue = QueueSimple(self.path, granularity=_GRANULARITY)
        except OSError as exc:
            raise SpoolError(_reason(f"create the spool {self.path}", exc)) from exc

    def add(self, body: str) -> str:
        """Store one message durably; return its element name."""
        data = body.encode("utf-8")
        try:
            return self._add(data)
        except OSError as exc:
            raise SpoolError(_reason(f"write to the spool {self.path}", exc)) from exc

    def _add(self, data: bytes) -> str:
        directory, created = self._current_directory()
        fd, temporary = self._temporary(directory)
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            name: str = self._queue.add_path(temporary)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        final_directory = os.path.join(self.path, name.partition("/")[0])
        _fsync_directory(final_directory)
        if created or final_directory != directory:
            _fsync_directory(self.path)
        return name

    def _current_directory(self) -> tuple[str, bool]:
        now = int(time.time())
        directory = os.path.join(self.path, f"{now - now % _GRANULARITY:08x}")
        try:
            os.mkdir(directory)
        except FileExistsError:
            return directory, False
        return directory, True

    def _temporary(self, directory: str) -> tuple[int, str]:
        """A new temporary file, named so that purge clears it if we crash."""
        try:
            return tempfile.mkstemp(suffix=".tmp", dir=directory)
        except FileNotFoundError:
            # a purge in another process removed the (then empty) directory: make it again
            os.makedirs(directory, exist_ok=True)
            return tempfile.mkstemp(suffix=".tmp", dir=directory)

    def _names(self) -> Iterator[str]:
        """Element names, oldest first; directories that vanish meanwhile are skipped."""
        try:
            directories = sorted(d for d in os.listdir(self.path) if _DIRECTORY.match(d))
        except OSError as exc:
            raise SpoolError(_reason(f"list the spool {self.path}", exc)) from exc
        for directory in directories:
            try:
                entries = os.listdir(os.path.join(self.path, directory))
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise SpoolError(_reason(f"list the spool {self.path}", exc)) from exc
            for element in sorted(e for e in entries if _ELEMENT.match(e)):
                yield f"{directory}/{element}"

    def claim(self) -> Generator[SpooledMessage]:
        """Lock and yield the elements no other process holds, oldest first.

        The caller must ``remove`` or ``release`` every element it was given; elements not
        yet yielded when the iteration stops stay unlocked.
        """
        for name in self._names():
            try:
                if not self._queue.lock(name):
                    continue
            except OSError as exc:
                raise SpoolError(_reason(f"lock {name} in the spool {self.path}", exc)) from exc
            try:
                data: bytes = self._queue.get(name)
            except OSError as exc:
                self.release(name)
                raise SpoolError(_reason(f"read {name} in the spool {self.path}", exc)) from exc
            yield SpooledMessage(name, data)

    def remove(self, name: str) -> None:
        """Drop a locked element for good (its delivery was confirmed)."""
        element = os.path.join(self.path, name)
        try:
            os.unlink(element)
            # a stale-lock purge may have taken our lock already: the element is gone all the same
            with contextlib.suppress(FileNotFoundError):
                os.unlink(element + ".lck")
        except OSError as exc:
            raise SpoolError(_reason(f"remove {name} from the spool {self.path}", exc)) from exc

    def release(self, name: str) -> None:
        """Unlock an element whose delivery failed, for a later try."""
        try:
            self._queue.unlock(name, permissive=True)
        except OSError as exc:
            raise SpoolError(_reason(f"unlock {name} in the spool {self.path}", exc)) from exc

    def count(self) -> int:
        """Elements waiting, locked or not."""
        return sum(1 for _ in self._names())

    def purge(self, max_lock_age: float = 600) -> None:
        """Clear locks older than ``max_lock_age`` s (a sender that died) and stale temporary
        files, and remove empty intermediate directories but the newest.

        Written here rather than dirq's ``purge``, which fails when another process changes
        the tree while it walks it.
        """
        try:
            self._purge(max_lock_age)
        except OSError as exc:
            raise SpoolError(_reason(f"purge the spool {self.path}", exc)) from exc

    def _purge(self, max_lock_age: float) -> None:
        now = time.time()
        directories = sorted(d for d in os.listdir(self.path) if _DIRECTORY.match(d))
        for directory in directories:
            path = os.path.join(self.path, directory)
            try:
                entries = os.listdir(path)
            except FileNotFoundError:
                continue
            for entry in entries:
                if entry.endswith(".lck"):
                    limit = max_lock_age
                elif entry.endswith(".tmp"):
                    limit = _MAX_TEMP_AGE
                else:
                    continue
                volatile = os.path.join(path, entry)
                with contextlib.suppress(FileNotFoundError):
                    if now - os.stat(volatile).st_mtime > limit:
                        os.unlink(volatile)
            # the newest directory is where adds go right now
            if directory != directories[-1]:
                try:
                    os.rmdir(path)
                except OSError as exc:
                    if exc.errno not in (errno.ENOENT, errno.ENOTEMPTY):
                        raise


def spool_paths(root: str, targets: Sequence[Destination]) -> list[tuple[Destination, str]]:
    """Where the copies for each destination wait: the first destination's in ``root``
    itself, where the one ``[broker] destination`` always had them, each other's in a
    subdirectory named by its format and name ('%' and '/' escaped, so names never clash).
    dirq's own directories are hexadecimal, so a spool never reads another's."""
    paths = [(targets[0], root)] if targets else []
    for target in targets[1:]:
        escaped = target.name.replace("%", "%25").replace("/", "%2F")
        paths.append((target, os.path.join(root, f"{target.format}@{escaped}")))
    return paths
