"""``vmsam vacmon``: a VacMon-compatible listener. Vac (and Vcycle) factories send VacMon
UDP datagrams, each one JSON object with a ``message_type``; this keeps what the timelines
need to tell "no VMs ran" from "VMs ran and failed" (docs/availability.md#no-vms-ran):

- ``machine_status`` (one per VM): the VM's interval alive, from its created or started
  time to its shutdown, last heartbeat or the time the message was sent;
- ``factory_status`` / ``machinetype_status`` with ``running_machines`` 0: the factory
  reports no VM of the space (of that machinetype) running, which holds ``idle_hold``
  seconds after the report.

Tolerant like a real collector: unknown fields and message types are ignored, optional
fields may be missing. A datagram that is too large, not a JSON object, without
``message_type`` or ``space``, with a field of the wrong type or an absurd time (before
2000 or more than ``future_slack`` seconds ahead) is rejected with a one-line reason into
the dead letters. Nothing a datagram holds stops the listener.

Datagrams are parsed and stored a batch at a time (``BATCH_SIZE`` datagrams or
``BATCH_SECONDS`` after the first), one transaction each; while the database is down the
batch is kept and retried, at most ``MAX_PENDING`` datagrams (the oldest go first). SIGTERM
or SIGINT: stores what is in hand and exits 0. Logs are one JSON object per line on stderr.
"""

from __future__ import annotations

import json
import math
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import FrameType
from typing import Any

from vmsam.server.store import MAX_KEY_BYTES, IdleSeen, Rejected, Store, VmSeen
from vmsam.shared.config import VacmonSettings, parse_broker_url
from vmsam.shared.errors import StoreError, VacmonError

__all__ = ["Datagrams", "Parsed", "Parser", "listen_address", "run_listener"]

BATCH_SIZE = 500
BATCH_SECONDS = 0.5
MAX_PENDING = 100_000
# the earliest time taken: VacMon did not exist before; 0 or garbage is no time
EARLIEST = 946_684_800  # 2000-01-01
_RECEIVE_BUFFER = 65_536  # one more byte than any UDP datagram carries
_STRING_FIELDS = ("site", "factory", "machinetype", "uuid", "state", "shutdown_message")
_TIME_FIELDS = (
    "time_sent",
    "created_time",
    "started_time",
    "heartbeat_time",
    "shutdown_time",
)


class _Reject(Exception):
    """A datagram not taken; the message is its reason."""


@dataclass
class Parsed:
    """What a batch of datagrams says."""

    vms: list[VmSeen] = field(default_factory=list)
    idle: list[IdleSeen] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    ignored: int = 0


def listen_address(text: str) -> tuple[str, int]:
    """(host, port) of ``HOST:PORT`` or ``[IPv6]:PORT``; ``VacmonError`` otherwise."""
    address = parse_broker_url(text)
    if address is None:
        raise VacmonError(f"listen address {text!r:.80} is not HOST:PORT")
    return address


class Parser:
    """Datagrams to rows, with the settings' limits."""

    def __init__(self, settings: VacmonSettings) -> None:
        self.max_bytes = int(settings.max_bytes)
        self.idle_hold = settings.idle_hold
        self.future_slack = settings.future_slack

    def parse(self, datagrams: list[tuple[bytes, str, float]], into: Parsed) -> None:
        """Each (body, peer, received) into ``into``; never raises for a body."""
        for body, peer, received in datagrams:
            try:
                self._one(body, received, into)
            except _Reject as exc:
                into.rejected.append(
                    Rejected(
                        received_at=_moment(received),
                        reason=f"vacmon: {exc}",
                        body=body[: self.max_bytes],
                        peer=peer,
                    )
                )

    def _one(self, body: bytes, received: float, into: Parsed) -> None:
        if len(body) > self.max_bytes:
            raise _Reject(f"datagram of {len(body)} bytes; at most {self.max_bytes} are taken")
        try:
            message = json.loads(body)
        except (ValueError, RecursionError):
            raise _Reject("not JSON") from None
        if not isinstance(message, dict):
            raise _Reject(f"a JSON {type(message).__name__}, not an object")
        kind = _text(message, "message_type")
        space = _text(message, "space")
        if not kind:
            raise _Reject("no message_type")
        if not space:
            raise _Reject("no space")
        times = self._times(message, received)
        for name in _STRING_FIELDS:
            _text(message, name)  # a wrong type anywhere is rejected, wherever it is used
        if kind == "machine_status":
            into.vms.append(_vm(message, space, times, received))
        elif kind in {"factory_status", "machinetype_status"}:
            idle = self._idle(message, kind, space, times.get("time_sent", received))
            if idle is None:
                into.ignored += 1
            else:
                into.idle.append(idle)
        else:  # a message type of a later VacMon: nothing the timelines use
            into.ignored += 1

    def _times(self, message: Mapping[str, object], received: float) -> dict[str, float]:
        latest = received + self.future_slack
        times = {}
        for name in _TIME_FIELDS:
            value = message.get(name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise _Reject(f"{name} is not a number of seconds")
            if not math.isfinite(value) or value < EARLIEST or value > latest:
                raise _Reject(f"{name} {value!r:.40} is not a plausible time")
            times[name] = float(value)
        return times

    def _idle(
        self, message: Mapping[str, object], kind: str, space: str, sent: float
    ) -> IdleSeen | None:
        running = message.get("running_machines")
        if running is None:
            return None
        if (
            isinstance(running, bool)
            or not isinstance(running, int | float)
            or not math.isfinite(running)
            or running < 0
        ):
            raise _Reject("running_machines is not a count")
        machinetype = _text(message, "machinetype") if kind == "machinetype_status" else ""
        if kind == "machinetype_status" and not machinetype:
            raise _Reject("machinetype_status without machinetype")
        if running > 0:
            return None  # VMs ran: their machine_status messages tell which
        return IdleSeen(
            space=space,
            site=_text(message, "site"),
            factory=_text(message, "factory"),
            machinetype=machinetype,
            start=_moment(sent),
            end=_moment(sent + self.idle_hold),
        )


def _text(message: Mapping[str, object], name: str) -> str:
    value = message.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _Reject(f"{name} is not a string")
    try:
        encoded = value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (JSON "\ud800"): no database takes it
        raise _Reject(f"{name} is not valid Unicode text") from None
    if name != "shutdown_message" and len(encoded) > MAX_KEY_BYTES:
        raise _Reject(f"{name} is longer than {MAX_KEY_BYTES} bytes")
    return value.replace("\x00", "")


def _vm(
    message: Mapping[str, object], space: str, times: dict[str, float], received: float
) -> VmSeen:
    vm_uuid = _text(message, "uuid")
    if not vm_uuid:
        raise _Reject("machine_status without uuid")
    sent = times.get("time_sent", received)
    begun = [times[name] for name in ("created_time", "started_time") if name in times]
    if "shutdown_time" in times:
        last = times["shutdown_time"]
    else:
        last = max(times.get("heartbeat_time", sent), sent)
    first = min([*begun, last])
    return VmSeen(
        space=space,
        vm_uuid=vm_uuid,
        site=_text(message, "site"),
        factory=_text(message, "factory"),
        machinetype=_text(message, "machinetype"),
        first_seen=_moment(first),
        last_seen=_moment(last),
        state=_text(message, "state")[:40] or "unknown",
        shutdown_message=_text(message, "shutdown_message") or None,
    )


def _moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _log(event: str, **fields: object) -> None:
    print(json.dumps({"event": event, **fields}, default=str), file=sys.stderr, flush=True)


class Datagrams:
    """The UDP socket, a batch at a time."""

    def __init__(self, host: str, port: int) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_DGRAM)
        # bursts arrive while a batch commits: let the kernel hold them
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        try:
            self.socket.bind((host, port))
        except OSError as exc:
            self.socket.close()
            raise VacmonError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        self.socket.settimeout(BATCH_SECONDS)

    def address(self) -> tuple[str, int]:
        host, port = self.socket.getsockname()[:2]
        return str(host), int(port)

    def batch(self, stopping: Callable[[], bool]) -> Iterator[tuple[bytes, str, float]]:
        """Up to BATCH_SIZE datagrams, or what came BATCH_SECONDS after the first."""
        deadline: float | None = None
        try:
            for _ in range(BATCH_SIZE):
                if stopping():
                    return
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return
                    self.socket.settimeout(left)
                try:
                    body, peer = self.socket.recvfrom(_RECEIVE_BUFFER)
                except TimeoutError:
                    return
                except InterruptedError:  # a signal: look at ``stopping`` again
                    continue
                if deadline is None:
                    deadline = time.monotonic() + BATCH_SECONDS
                yield body, f"{peer[0]}:{peer[1]}", time.time()
        finally:
            self.socket.settimeout(BATCH_SECONDS)

    def close(self) -> None:
        self.socket.close()


@dataclass
class _Totals:
    received: int = 0
    vms: int = 0
    idle: int = 0
    rejected: int = 0
    ignored: int = 0
    dropped: int = 0
    store_failures: int = 0


class _TotalsCollector:
    """The totals as Prometheus counters, read when scraped (nothing to update per
    datagram): ``vmsam_vacmon_datagrams_total{outcome}`` and the store's failures."""

    def __init__(self, totals: _Totals) -> None:
        self._totals = totals

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily

        datagrams = CounterMetricFamily(
            "vmsam_vacmon_datagrams",
            "datagrams by outcome (vms and idle: rows inserted or widened)",
            labels=["outcome"],
        )
        for outcome in ("received", "vms", "idle", "rejected", "ignored", "dropped"):
            datagrams.add_metric([outcome], getattr(self._totals, outcome))
        yield datagrams
        yield CounterMetricFamily(
            "vmsam_vacmon_store_failures",
            "batches the database failed to store (kept and retried)",
            value=self._totals.store_failures,
        )


def _serve_metrics(totals: _Totals, port: int, host: str) -> None:
    from prometheus_client import CollectorRegistry, start_http_server

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_TotalsCollector(totals))
    try:
        start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise VacmonError(
            f"cannot serve /metrics on {host}:{port}: {exc.strerror or exc}"
        ) from None


def run_listener(
    settings: VacmonSettings,
    db: str | None,
    *,
    metrics_port: int | None = None,
    metrics_host: str = "127.0.0.1",
) -> int:
    """The ``vmsam vacmon`` service until SIGTERM or SIGINT; returns the exit status."""
    host, port = listen_address(settings.listen)
    parser = Parser(settings)
    stopped: list[str] = []

    def on_signal(number: int, frame: FrameType | None) -> None:
        stopped.append(signal.Signals(number).name)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    totals = _Totals()
    if metrics_port is not None:
        _serve_metrics(totals, metrics_port, metrics_host)
    datagrams = Datagrams(host, port)
    pending: list[tuple[bytes, str, float]] = []
    try:
        with Store(db) as store:
            store.upgrade()
            bound = datagrams.address()
            _log("listening", address=f"{bound[0]}:{bound[1]}", store=repr(store))
            while not stopped:
                arrived = list(datagrams.batch(lambda: bool(stopped)))
                totals.received += len(arrived)
                pending += arrived
                if len(pending) > MAX_PENDING:
                    totals.dropped += len(pending) - MAX_PENDING
                    del pending[: len(pending) - MAX_PENDING]
                if pending and _store_batch(store, parser, pending, totals):
                    pending = []
            if pending:
                _store_batch(store, parser, pending, totals)
    finally:
        datagrams.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    _log("stopped", signal=stopped[0] if stopped else None, **vars(totals))
    return 0


def _store_batch(
    store: Store, parser: Parser, pending: list[tuple[bytes, str, float]], totals: _Totals
) -> bool:
    """Store ``pending`` in one transaction; False (kept for the next try) when the
    database failed."""
    parsed = Parsed()
    parser.parse(pending, parsed)
    try:
        written = store.record_activity(parsed.vms, parsed.idle, parsed.rejected)
    except StoreError as exc:
        totals.store_failures += 1
        _log("store failed", error=str(exc), kept=len(pending))
        time.sleep(1.0)  # the kernel buffers datagrams meanwhile
        return False
    totals.vms += written.vms
    totals.idle += written.idle
    totals.rejected += written.rejected
    totals.ignored += parsed.ignored
    for item in parsed.rejected:
        _log("rejected", reason=item.reason, peer=item.peer)
    return True
