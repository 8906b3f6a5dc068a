"""The consumer's Prometheus metrics, in a registry of its own.

A registry per consumer rather than prometheus_client's global one: tests run several
consumers in one process, and the global registry refuses a second metric of a name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

__all__ = ["Metrics", "ReadCounter"]

# a batch commit takes milliseconds when healthy and seconds when the database struggles
_COMMIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ReadCounter(Collector):
    """A counter whose value is read from ``source`` when the metrics are: for a count kept
    where it costs nothing (the consumer's inbox counts messages under the lock it takes
    anyway), where ``Counter.inc`` would take a lock of its own for each message."""

    def __init__(self, name: str, documentation: str, registry: CollectorRegistry) -> None:
        self._name = name
        self._documentation = documentation
        self.source: Callable[[], int] = lambda: 0
        registry.register(self)

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(self._name, self._documentation, value=self.source())


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        prefix = "vmsam_consumer"
        self.received = ReadCounter(
            f"{prefix}_messages_received",
            "Messages delivered by the broker (redeliveries included)",
            self.registry,
        )
        self.stored = Counter(
            f"{prefix}_results_stored", "Results newly stored", registry=self.registry
        )
        self.duplicates = Counter(
            f"{prefix}_duplicates",
            "Valid messages whose result was already stored (redeliveries, re-sends)",
            registry=self.registry,
        )
        self.dead_letters = Counter(
            f"{prefix}_dead_letters",
            "Invalid messages kept aside with the reason",
            registry=self.registry,
        )
        self.store_errors = Counter(
            f"{prefix}_store_errors",
            "Batch commits that failed because the database was unavailable",
            registry=self.registry,
        )
        self.reconnects = Counter(
            f"{prefix}_broker_connections",
            "Connections established to a broker (the first one included)",
            registry=self.registry,
        )
        self.connected = Gauge(
            f"{prefix}_broker_connected",
            "1 while subscribed on a broker",
            registry=self.registry,
        )
        self.commit_seconds = Histogram(
            f"{prefix}_commit_seconds",
            "Time to store one batch in one transaction (successful commits)",
            buckets=_COMMIT_BUCKETS,
            registry=self.registry,
        )
        self.lag = Gauge(
            f"{prefix}_lag_seconds",
            "Age at commit of the last message of the last batch: now minus the broker's "
            "timestamp header, or minus the result's timestamp when there is none",
            registry=self.registry,
        )

    def serve(self, port: int, host: str = "") -> None:
        """/metrics over HTTP on ``port`` from a daemon thread."""
        start_http_server(port, addr=host or "0.0.0.0", registry=self.registry)  # noqa: S104
