"""``vmsam consume``: the broker consumer service. At-least-once in, exactly-once stored.

One STOMP 1.2 subscription (stomp.py ``Connection12``) on one broker of ``[broker] urls`` at
a time. stomp.py's I/O thread only hands each MESSAGE to an in-memory inbox; ONE worker
takes the inbox a batch at a time in delivery order, checks and parses every body with
``vmsam.server.trust.receive`` (the signature against the CA directory and the allow-list
when ``[consumer] ca_dir`` is set, then the shared decoder and ARGO's age window), stores
the batch in one transaction and only then acknowledges it. A batch closes at
``batch_size`` messages or ``batch_time`` seconds after its first message.

Where the time goes (CPython: one thread runs Python at a time, so two threads only help
where one waits): the I/O thread receives while the worker parses and commits, and the
commit waits for the database with the GIL released. The worker is woken once per batch,
not per message (``_Inbox``); stomp.py's I/O thread splits frames with ``broker._frames``,
which hands each MESSAGE over with its header lines unparsed until asked for; the store
inserts a batch in a few statements (``vmsam.server.store._write``).

Acknowledgement modes:

- ``client`` (the default): ONE cumulative ACK per committed batch, for its last message.
  STOMP's ``client`` ACK also acknowledges every message delivered before that one on the
  subscription, which is right only because one worker commits batches in delivery order
  and never acks a batch before every earlier one is committed.
- ``client-individual``: one ACK per message; no ordering assumption, more frames.

The time bound matters with ``client`` acks: ActiveMQ pages a queue in 200 messages at a
time (``maxPageSize``) and pages no more in while those are unacknowledged, until its 30 s
expiry sweep; a batch waiting for 1000 would stall there, a batch closed after 20 ms acks
the 200 and the flow resumes. It is short because the broker delivers in such lumps even
at full speed: with 100 ms the worker spent a third of its time waiting for a lump to fill
the batch, and ``bench/bench_consume.py`` stored about 20 % less (SQLite and PostgreSQL).

Nothing is acked before its commit, so whatever dies (the consumer, the connection, the
database) the broker still holds every uncommitted message and delivers it again; the
store makes a redelivered message a no-op. When the database is unavailable the batch in
hand is kept and retried with capped exponential backoff until it commits; meanwhile the
broker stops sending once ``prefetch`` messages are unacknowledged. Invalid bodies are
dead-lettered with the reason and acked with their batch: bad input never stops the
consumer. An ACK only means something on the connection that delivered the message: after
a reconnect, the messages of the old connection still in hand are stored but not acked
(the broker delivers them again and the store deduplicates them).

stomp.py 9 traps handled here and in ``vmsam.shared.stomp``: TCP_NODELAY;
our own deadline around the TCP connect, CONNECTED and the subscription's receipt (a
watchdog shuts the socket); reconnect after a drop with exponential backoff, jittered and capped,
going round the broker list and subscribing again; ``auto_decode=False`` so that invalid
UTF-8 reaches the dead letters byte for byte.

SIGTERM or SIGINT: the consumer takes no new messages (later deliveries are left unacked
for the broker to deliver again), commits and acks what is in hand, disconnects and exits
0. Logs are one JSON object per line on stderr.
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import FrameType
from typing import Any, NamedTuple

import stomp.exception

from broker import _frames
from broker._metrics import Metrics
from vmsam.server.collector import freeze_startup
from vmsam.server.store import Received, SaveReport, Store, StoreError
from vmsam.server.trust import TrustError, Verifier, receive
from vmsam.shared.config import BrokerSettings, ConsumerSettings, Settings
from vmsam.shared.deadline import Backoff, left, retry
from vmsam.shared.errors import ConsumerError
from vmsam.shared.stomp import (
    TLS,
    BrokerConfigError,
    BrokerTrouble,
    Endpoint,
    Link,
    StompLog,
    endpoints,
    no_connected,
    stomp_log,
)

__all__ = ["ACK_MODES", "Consumer", "ConsumerError", "ConsumerOptions", "run_consumer"]

ACK_MODES = ("client", "client-individual")
SUBSCRIPTION_ID = "vmsam"
_SUBSCRIBED = "vmsam-subscribed"
# how often waits look at the stop flag
_POLL = 0.2
# a batch's results live until it is stored and are then freed by reference counting: the
# collector's passes over them find nothing. Measured (bench/bench_consume.py, PostgreSQL,
# 50,000 messages): they took 0.36-0.55 s of the consumer's 2.5-3.9 s of CPU at Python's
# 700 with nothing frozen, 0.06 s after freeze_startup with 10,000
_YOUNG_OBJECTS = 10_000

log = logging.getLogger("vmsam.consume")


@dataclass(frozen=True)
class ConsumerOptions:
    """Tuning; the defaults are those of ``vmsam consume``."""

    ack_mode: str = "client"
    # measured (bench/bench_consume.py): batches of 500 with a prefetch of 1000 stored about
    # 10 % less into PostgreSQL, batches of 2000 with 4000 about 40 % less
    batch_size: int = 1000
    batch_time: float = 0.02
    # unacknowledged messages the broker may push (ActiveMQ activemq.prefetchSize, RabbitMQ
    # prefetch-count): two batches, so one fills while the other commits. Not 3000, which
    # stored about 8 % more: ActiveMQ 5.17.2 once stopped dispatching to the bench's bare
    # client-individual subscriber at that prefetch, 320 messages short
    prefetch: int = 2000
    connect_timeout: float = 10.0
    reconnect_initial: float = 0.5
    reconnect_max: float = 30.0
    retry_initial: float = 0.5
    retry_max: float = 10.0
    # after a stop, how long the batch in hand may keep waiting for the database
    shutdown_grace: float = 30.0


class _Delivery(NamedTuple):
    body: bytes
    headers: Mapping[str, str]
    session: _Session


def _event(level: int, event: str, **fields: object) -> None:
    log.log(level, event, extra={"fields": fields})


class _Inbox:
    """Deliveries from stomp.py's I/O thread to the worker, a batch at a time. The worker is
    woken twice per batch (its first message starts the clock, the last one fills it), not
    once per message: each wake-up is a hand-over of the GIL and two context switches, which
    cost more than the message itself. No lock: one thread only appends, the other only
    takes from the front, and each list operation is atomic."""

    def __init__(self, size: int, wait: float) -> None:
        self._size = size
        self._wait = wait
        self._ready = threading.Event()
        self._deliveries: list[_Delivery] = []
        self._since = 0.0  # when the first delivery in hand arrived
        self.arrived = 0  # every delivery put, the metric of messages received

    def put(self, delivery: _Delivery) -> None:
        deliveries = self._deliveries
        deliveries.append(delivery)
        self.arrived += 1
        count = len(deliveries)
        if count == 1:
            self._since = time.monotonic()
            self._ready.set()
        elif count == self._size:
            self._ready.set()

    def take(self, timeout: float) -> list[_Delivery]:
        """The next batch: ``size`` deliveries, or fewer once ``wait`` seconds have passed
        since the first of them arrived; nothing when none arrives within ``timeout``."""
        deliveries = self._deliveries
        if not self._wake(lambda: bool(deliveries), timeout):
            return []
        until = self._since + self._wait
        while (rest := until - time.monotonic()) > 0:
            if self._wake(lambda: len(deliveries) >= self._size, rest):
                break
        batch = deliveries[: self._size]
        del deliveries[: len(batch)]
        # the rest arrived while this batch was full: their clock starts now
        self._since = time.monotonic()
        return batch

    def _wake(self, ready: Callable[[], bool], timeout: float) -> bool:
        """Whether ``ready()``, waiting up to ``timeout`` for a ``put`` that may make it so."""
        if ready():
            return True
        self._ready.clear()
        # looked at again after the clear: a put in between would have been missed
        return ready() or (self._ready.wait(timeout) and ready())


class _JsonLines(logging.Formatter):
    """One JSON object per line: time, level, event and the event's own fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        return json.dumps(entry, default=str)


class _Session(Link):
    """One connection to one broker with our subscription."""

    ABORTED = "closed by the consumer"

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        settings: BrokerSettings,
        tls: TLS | None,
        ca_certs: str | None,
        tcp_timeout: float,
        inbox: _Inbox,
        stop: threading.Event,
    ) -> None:
        # auto_decode=False: invalid UTF-8 must reach the dead letters byte for byte
        super().__init__(
            endpoint,
            settings,
            tls=tls,
            ca_certs=ca_certs,
            tcp_timeout=tcp_timeout,
            auto_decode=False,
        )
        self._inbox = inbox
        self._stop = stop
        self._subscribed = False
        _frames.install(self._conn.transport, self._deliver)

    # stomp.py listener interface, called from its I/O thread

    def on_receipt(self, frame: Any) -> None:
        if frame.headers.get("receipt-id") == _SUBSCRIBED:
            with self._condition:
                self._subscribed = True
                self._condition.notify_all()

    def on_message(self, frame: Any) -> None:
        """Where stomp.py reads the frames itself (``_frames.install`` found no loop)."""
        self._deliver(frame.body, frame.headers)

    def _deliver(self, body: bytes, headers: Mapping[str, str]) -> None:
        # after a stop nothing new is taken: left unacked, the broker delivers it again
        if not self._stop.is_set():
            self._inbox.put(_Delivery(body, headers, self))

    def on_error(self, frame: Any) -> None:
        super().on_error(frame)
        # an ERROR frame ends the session (STOMP 1.2); a broker that keeps the socket open
        # would leave us subscribed to nothing
        self.abort()

    # our side

    @property
    def alive(self) -> bool:
        return not self.ended.is_set()

    def open(
        self, destination: str, options: ConsumerOptions, until: float, stomp_log: StompLog
    ) -> None:
        """Connect, subscribe and have the subscription confirmed before ``until``; the
        socket is shut at ``until`` whatever stomp.py is doing."""
        started = time.monotonic()
        self._arm(until)
        try:
            self._connect(stomp_log)
            self._wait(lambda: self._connected, until, no_connected(until - started))
            headers = {
                "activemq.prefetchSize": str(options.prefetch),
                "prefetch-count": str(options.prefetch),
                "receipt": _SUBSCRIBED,
            }
            try:
                self._conn.subscribe(
                    destination, id=SUBSCRIPTION_ID, ack=options.ack_mode, headers=headers
                )
            except (stomp.exception.StompException, OSError) as exc:
                raise BrokerTrouble(self.failure or f"cannot subscribe: {exc}") from exc
            late = f"no receipt for SUBSCRIBE within {round(until - started, 1):g} s"
            self._wait(lambda: self._subscribed, until, late)
        finally:
            self._disarm()

    def _wait(self, done: Any, until: float, late: str) -> None:
        with self._condition:
            while not done() and not self.failure and not self._stop.is_set():
                if not self._condition.wait(min(_POLL, left(until))) and not left(until):
                    break
            # our watchdog's abort at ``until`` is no reason: what it cut short is
            if self.failure and (done() or self.failure != self.ABORTED):
                raise BrokerTrouble(self.failure)
            if not done():
                raise BrokerTrouble("stopping" if self._stop.is_set() else late)

    def ack(self, deliveries: Sequence[_Delivery], cumulative: bool) -> bool:
        """Acknowledge ``deliveries`` (all delivered by this session, in order); False when
        the connection is gone, and with it the meaning of their ack ids."""
        # the headers of a message are parsed when first read: only those acked are
        acked = deliveries[-1:] if cumulative else deliveries
        try:
            for ack_id in [d.headers.get("ack") for d in acked]:
                if ack_id is not None:
                    self._conn.ack(ack_id)
        except (stomp.exception.StompException, OSError):
            return False
        return self.alive


class Consumer:
    """Consumes ``destination`` from the brokers of ``broker`` into a store, from ``run``
    until ``stop()``. ``ConsumerError`` when the settings cannot work."""

    def __init__(
        self,
        broker: BrokerSettings,
        destination: str,
        *,
        options: ConsumerOptions | None = None,
        metrics: Metrics | None = None,
        verifier: Verifier | None = None,
    ) -> None:
        self._options = options or ConsumerOptions()
        self._verifier = verifier
        if self._options.ack_mode not in ACK_MODES:
            raise ConsumerError(
                f"ack mode {self._options.ack_mode!r} is not one of {', '.join(ACK_MODES)}"
            )
        if not destination.strip():
            raise ConsumerError("no destination to consume ([consumer] destination is empty)")
        try:
            self._endpoints = endpoints(broker.urls)
            self._tls = TLS(broker) if broker.ssl else None
        except BrokerConfigError as exc:
            raise ConsumerError(str(exc)) from None
        self._broker = broker
        self._destination = destination.strip()
        self.metrics = metrics or Metrics()
        self._inbox = _Inbox(self._options.batch_size, self._options.batch_time)
        self.metrics.received.source = lambda: self._inbox.arrived
        self._stop = threading.Event()
        self._stopped_at = 0.0
        self._session: _Session | None = None
        self._stomp_log = stomp_log()

    def stop(self) -> None:
        """Take no new message, finish what is in hand; safe from a signal handler."""
        if not self._stop.is_set():
            self._stopped_at = time.monotonic()
            self._stop.set()

    def run(self, store: Store) -> None:
        """Consume into ``store`` until ``stop()``, then commit and ack what is in hand and
        disconnect."""
        with contextlib.ExitStack() as stack:
            ca_certs = None
            if self._tls is not None:
                try:
                    ca_certs = stack.enter_context(self._tls.ca_certs())
                except BrokerConfigError as exc:
                    raise ConsumerError(str(exc)) from None
            supervisor = threading.Thread(
                target=self._supervise, args=(ca_certs,), name="vmsam-consume-broker"
            )
            supervisor.start()
            try:
                self._work(store)
            finally:
                self.stop()
                supervisor.join()
                if self._session is not None:
                    self._session.close(time.monotonic() + 2.0)
                    _event(logging.INFO, "disconnected", broker=str(self._session.endpoint))
                self.metrics.connected.set(0)

    # the broker side: connect, subscribe, reconnect

    def _supervise(self, ca_certs: str | None) -> None:
        options = self._options
        backoff = Backoff(options.reconnect_initial, options.reconnect_max)
        for turn in _round_robin(len(self._endpoints)):
            if self._stop.is_set():
                return
            endpoint = self._endpoints[turn]
            until = time.monotonic() + options.connect_timeout
            session = _Session(
                endpoint,
                settings=self._broker,
                tls=self._tls,
                ca_certs=ca_certs,
                tcp_timeout=max(0.1, options.connect_timeout),
                inbox=self._inbox,
                stop=self._stop,
            )
            try:
                session.open(self._destination, options, until, self._stomp_log)
            except BrokerTrouble as exc:
                session.abort()
                if self._stop.is_set():
                    return
                delay = backoff.next()
                _event(
                    logging.WARNING,
                    "connect failed",
                    broker=str(endpoint),
                    error=str(exc),
                    retry_in=round(delay, 2),
                )
                self._stop.wait(delay)
                continue
            backoff.reset()
            self._session = session
            self.metrics.reconnects.inc()
            self.metrics.connected.set(1)
            _event(
                logging.INFO,
                "subscribed",
                broker=str(endpoint),
                destination=self._destination,
                ack=options.ack_mode,
                prefetch=options.prefetch,
            )
            while not self._stop.is_set():
                if session.ended.wait(_POLL):
                    break
            if self._stop.is_set():
                return  # the worker closes the session once what is in hand is acked
            self.metrics.connected.set(0)
            delay = Backoff(options.reconnect_initial, options.reconnect_max).next()
            _event(
                logging.WARNING,
                "disconnected",
                broker=str(endpoint),
                reason=session.failure,
                retry_in=round(delay, 2),
            )
            self._stop.wait(delay)

    # the worker: batch, store, ack

    def _work(self, store: Store) -> None:
        while True:
            batch = self._collect()
            if batch:
                if not self._commit(store, batch):
                    return
            elif self._stop.is_set():
                return

    def _collect(self) -> list[_Delivery]:
        return self._inbox.take(_POLL)

    def _commit(self, store: Store, batch: list[_Delivery]) -> bool:
        """Store ``batch`` until it commits, then ack it; False when a stop's grace ran out
        first (nothing acked: the broker delivers the batch again)."""
        # one clock reading for the batch: its messages were taken together
        now = datetime.now(UTC)
        received = [_parse(d, self._verifier, now) for d in batch]
        started = time.perf_counter()

        def save() -> SaveReport:
            nonlocal started
            started = time.perf_counter()
            return store.save(received)

        def failed(error: Exception, attempt: int, delay: float) -> None:
            self.metrics.store_errors.inc()
            _event(
                logging.WARNING,
                "store unavailable",
                error=str(error),
                batch=len(batch),
                attempt=attempt,
                retry_in=round(delay, 2),
            )

        options = self._options
        report = retry(
            save,
            on=StoreError,
            backoff=Backoff(options.retry_initial, options.retry_max),
            wait=self._pause,
            failed=failed,
        )
        if report is None:
            _event(
                logging.ERROR,
                "batch abandoned at shutdown",
                batch=len(batch),
                note="not acked: the broker delivers it again",
            )
            return False
        elapsed = time.perf_counter() - started
        acked = self._ack(batch)
        metrics = self.metrics
        metrics.commit_seconds.observe(elapsed)
        metrics.stored.inc(report.stored)
        metrics.duplicates.inc(report.duplicates)
        metrics.dead_letters.inc(report.dead_letters)
        lag = _lag(received[-1])
        metrics.lag.set(lag)
        _event(
            logging.INFO,
            "commit",
            batch=len(batch),
            stored=report.stored,
            duplicates=report.duplicates,
            dead_letters=report.dead_letters,
            acked=acked,
            commit_ms=round(elapsed * 1000, 2),
            lag_s=round(lag, 3),
        )
        return True

    def _pause(self, delay: float) -> bool:
        """Wait before retrying the store; after a stop, only within the grace period."""
        if not self._stop.is_set():
            self._stop.wait(delay)
            return True
        left = self._stopped_at + self._options.shutdown_grace - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(delay, left))
        return True

    def _ack(self, batch: list[_Delivery]) -> int:
        session = self._session
        if session is None or not session.alive:
            return 0
        mine = [d for d in batch if d.session is session]
        cumulative = self._options.ack_mode == "client"
        if mine and session.ack(mine, cumulative):
            return len(mine)
        return 0


def _round_robin(count: int) -> Iterator[int]:
    turn = 0
    while True:
        yield turn % count
        turn += 1


def _parse(delivery: _Delivery, verifier: Verifier | None, now: datetime) -> Received:
    try:
        return receive(delivery.body, delivery.headers, verifier, now)
    except Exception as exc:  # noqa: BLE001 - a body that breaks the parser must not stop us
        return Received(
            body=delivery.body,
            headers=delivery.headers,
            received_at=now,
            result=None,
            error=f"unparsable: {type(exc).__name__}",
        )


def _lag(received: Received) -> float:
    """Seconds since the broker took the message (its ``timestamp`` header, ms), else since
    the result's own timestamp."""
    stamp = received.headers.get("timestamp", "")
    if stamp.isdigit():
        return max(0.0, time.time() - int(stamp) / 1000)
    if received.result is not None:
        return max(0.0, time.time() - received.result.timestamp.timestamp())
    return 0.0


def _log_to_stderr() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonLines())
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def trust_checks(settings: ConsumerSettings) -> Verifier | None:
    """The signature checks ``[consumer]`` asks for; None without a CA directory (then an
    allow-list alone would protect nothing, and is refused). ``ConsumerError`` when they
    cannot work."""
    if not settings.ca_dir:
        if settings.allow_list:
            raise ConsumerError("[consumer] allow_list is set but ca_dir is not")
        return None
    try:
        return Verifier(settings.ca_dir, settings.allow_list, settings.unsigned)
    except TrustError as exc:
        raise ConsumerError(str(exc)) from None


def _open_store(url: str | None, stop: threading.Event, options: ConsumerOptions) -> Store:
    """The store with its schema ready, waiting for the database as long as it takes (or
    until a stop). ``ConsumerError`` when the URL cannot work."""
    try:
        store = Store(url)
    except StoreError as exc:
        raise ConsumerError(str(exc)) from None

    def failed(error: Exception, attempt: int, delay: float) -> None:
        _event(
            logging.WARNING,
            "store unavailable",
            error=str(error),
            attempt=attempt,
            retry_in=round(delay, 2),
        )

    def wait(delay: float) -> bool:
        return not stop.wait(delay)

    if not stop.is_set():
        backoff = Backoff(options.retry_initial, options.retry_max)
        retry(store.upgrade, on=StoreError, backoff=backoff, wait=wait, failed=failed)
    return store


def run_consumer(
    settings: Settings,
    *,
    metrics_port: int | None = None,
    metrics_host: str = "",
    options: ConsumerOptions | None = None,
) -> int:
    """The ``vmsam consume`` service until SIGTERM or SIGINT; returns the exit status.

    ``ConsumerError`` when the settings cannot work.
    """
    _log_to_stderr()
    stopping = threading.Event()

    def on_signal(number: int, frame: FrameType | None) -> None:
        _event(logging.INFO, "stopping", signal=signal.Signals(number).name)
        stopping.set()
        consumer.stop()

    options = options or ConsumerOptions()
    metrics = Metrics()
    # a configuration error is reported before anything waits for the database
    consumer = Consumer(
        settings.broker,
        settings.consumer.destination,
        options=options,
        metrics=metrics,
        verifier=trust_checks(settings.consumer),
    )
    if metrics_port is not None:
        try:
            metrics.serve(metrics_port, metrics_host)
        except OSError as exc:
            raise ConsumerError(f"cannot serve /metrics on port {metrics_port}: {exc}") from None
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        store = _open_store(settings.consumer.db or None, stopping, options)
        freeze_startup(young=_YOUNG_OBJECTS)
        try:
            if not stopping.is_set():
                consumer.run(store)
        finally:
            store.close()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    _event(logging.INFO, "stopped")
    return 0
