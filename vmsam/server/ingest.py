"""``vmsam ingest``: results that never reached a broker, loaded from files into the store.

A path is a file or a directory walked recursively. Every regular file that holds WLCG
records is read: a dirq spool's elements (one record each), plain message files (one or many
records, each ended by ``EOT``), MONIT's JSON documents (a monit destination's spool
elements, one each) and joboutputs' ``vmsam-results.json`` (its ``messages``).
Files holding no record (shutdown messages, logs, dirq's lock and temporary files) are
skipped. A spool element the VM signed is one message whose record is taken out of its
S/MIME wrapping, unverified (stored with no ``signature``: not checked). Each record goes
through the consumer's validation; ARGO's age window only with ``window=True``, since an
ingest is usually a backfill. A broken record becomes a dead letter whose headers name its
file.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from vmsam.server.store import Received, SaveReport, Store
from vmsam.server.trust import SmimeError, looks_signed, unwrapped
from vmsam.shared.messages import REQUIRED

BATCH = 1000
# larger files are not message files (a record is at most 64 KiB; a spool element is one)
MAX_FILE_BYTES = 256 * 1024 * 1024
# dirq's lock files are hard links to their element; its temporary files are half written
_NOT_RECORDS = (".lck", ".tmp")
# a line that only a WLCG record has: one of its required keys, or its end
_RECORD_LINE = re.compile(
    rb"^(?:(?:" + b"|".join(key.encode() for key in (*REQUIRED, "detailsData")) + rb"): |EOT\r?$)",
    re.MULTILINE,
)
_EOT = re.compile(rb"^EOT\r?$")


@dataclass
class IngestReport:
    saved: SaveReport = field(default_factory=SaveReport)
    files: int = 0  # files that held records
    skipped: int = 0  # files that held none
    unreadable: list[str] = field(default_factory=list)  # "path: reason"


def split_records(data: bytes) -> Iterator[bytes]:
    """The records of a file, each with its ``EOT`` line; an unterminated tail (not blank)
    is yielded as it is, and the decoder says what is wrong with it."""
    record: list[bytes] = []
    for line in data.split(b"\n"):
        record.append(line)
        if _EOT.match(line):
            yield b"\n".join(record) + b"\n"
            record = []
    if any(line.strip() for line in record):
        yield b"\n".join(record)


def _results_document(data: bytes) -> list[object] | None:
    """The ``messages`` of a joboutputs results document, or None if ``data`` is not one."""
    if not data.lstrip().startswith(b"{"):
        return None
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        return None
    if isinstance(document, dict) and isinstance(document.get("messages"), list):
        messages: list[object] = document["messages"]
        return messages
    return None


def bodies(data: bytes) -> list[bytes | str] | None:
    """The message bodies a file holds, or None when it holds no WLCG record."""
    if looks_signed(data):
        try:
            return [unwrapped(data)]
        except SmimeError:
            return [data]  # dead-lettered: not a record
    messages = _results_document(data)
    if messages is not None:
        # a message that is not a string cannot be a record: its JSON is dead-lettered
        return [m if isinstance(m, str) else json.dumps(m) for m in messages]
    if data.lstrip().startswith(b"{") and b'"metric_name"' in data:
        return [data]  # MONIT's JSON document: a spool element of a monit destination
    if _RECORD_LINE.search(data) is None:
        return None
    return [*split_records(data)]


def files(paths: Iterable[Path]) -> Iterator[Path]:
    """Regular files under ``paths``, in a stable order. Symbolic links to directories inside
    them are not followed, so a loop cannot make the walk endless."""
    for path in paths:
        if path.is_dir():
            for directory, subdirectories, names in os.walk(path):
                subdirectories.sort()
                for name in sorted(names):
                    candidate = Path(directory) / name
                    if candidate.is_file():
                        yield candidate
        elif path.is_file():
            yield path


def _received(
    paths: Iterable[Path], report: IngestReport, *, window: bool, now: datetime
) -> Iterator[Received]:
    for path in files(paths):
        if path.name.endswith(_NOT_RECORDS):
            report.skipped += 1
            continue
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                report.skipped += 1
                continue
            data = path.read_bytes()
        except OSError as exc:
            report.unreadable.append(f"{path}: {exc.strerror or exc}")
            continue
        found = bodies(data)
        if found is None:
            report.skipped += 1
            continue
        report.files += 1
        for index, body in enumerate(found):
            headers = {"file": str(path), "record": str(index)}
            yield Received.parse(body, headers, window=window, now=now)


def ingest(
    store: Store,
    paths: Iterable[Path],
    *,
    window: bool = False,
    now: datetime | None = None,
) -> IngestReport:
    """Load every record under ``paths`` into ``store``, a batch per transaction.
    ``StoreError`` stops it; batches committed until then stay (a re-run skips them)."""
    report = IngestReport()
    batch: list[Received] = []
    for item in _received(paths, report, window=window, now=now or datetime.now(UTC)):
        batch.append(item)
        if len(batch) == BATCH:
            report.saved.add(store.save(batch))
            batch = []
    if batch:
        report.saved.add(store.save(batch))
    return report
