"""Handing the facts over as metrics: the trust store's, and the proxy's."""

from __future__ import annotations

from collections.abc import Iterator

import nagiosplugin
from nagiosplugin import Metric

from probes._common.contexts import Stalled, Unreadable
from probes._isolated import Child, Outcome
from probes._plugin import Hung, Pending, reason
from probes.middleware._proxy import Proxy, Shutdown
from probes.middleware._truststore import Authority, TrustStore
from vmsam.shared.deadline import Deadline

HOUR = 3600.0


def failure(outcome: Outcome) -> str:
    """Why a measurement that did not hang has no result."""
    return reason(outcome.error) if outcome.error is not None else outcome.problem()


class TrustStoreResource(nagiosplugin.Resource):
    def __init__(self, grid_root: str, reading: Child, deadline: Deadline) -> None:
        self.grid_root = grid_root
        self.reading = reading
        self.deadline = deadline
        self.authorities: dict[str, Authority] = {}

    def probe(self) -> Iterator[Metric]:
        outcome = self.reading.outcome(self.deadline)
        what = f"trust store under {self.grid_root}"
        if outcome.hung is not None:
            yield Metric(what, Stalled(what, str(outcome.hung)), context="hung")
            return
        if not outcome.complete or not outcome.records:
            yield Metric(what, Unreadable(what, failure(outcome)), context="unreadable")
            return
        store = TrustStore.from_record(outcome.records[0])
        self.authorities = {a.alias: a for a in store.authorities}
        yield Metric("CAs", store, context="cas")
        for authority in store.authorities:
            name = f"CRL {authority.alias}"
            if authority.crl_file is not None and authority.seconds_left is not None:
                yield Metric(name, authority.seconds_left / HOUR, context="crl")
            else:
                yield Metric(name, authority, context="crl_state")
        stale = sum(
            1
            for a in store.authorities
            if (a.crl_file is None and (a.wants_crl or a.unparsable_crl is not None))
            or (a.seconds_left is not None and a.seconds_left <= 0)
        )
        yield Metric("stale_crls", stale, min=0, context="stale_crls")
        if store.unparsable:
            yield Metric("unparsable", store.unparsable, context="unparsable")
        yield Metric("vomsdir", store, context="vomsdir")
        yield Metric("vomses", store, context="vomses")
        yield Metric("setup scripts", store.setup_scripts, context="setup")

    def authority(self, metric: Metric) -> Authority:
        """The CA a ``CRL <alias>`` metric is about."""
        return self.authorities[metric.name.removeprefix("CRL ")]


class ProxyResource(nagiosplugin.Resource):
    def __init__(
        self,
        path: str | None,
        proxy: Child | None,
        shutdown: Pending[Shutdown] | None,
        deadline: Deadline,
    ) -> None:
        self.path = path
        self.reading = proxy
        self.waiting = shutdown
        self.deadline = deadline
        self.proxy: Proxy | None = None
        self.shutdown = Shutdown(None, "not asked")

    def probe(self) -> Iterator[Metric]:
        if self.reading is None or self.waiting is None or self.path is None:
            yield Metric("proxy", None, context="no_proxy")
            return
        outcome = self.reading.outcome(self.deadline)
        if outcome.hung is not None:
            self.proxy = Proxy(self.path, problem=f"proxy {self.path} {outcome.hung}")
        elif not outcome.complete or not outcome.records:
            problem = f"cannot read proxy {self.path}: {failure(outcome)}"
            self.proxy = Proxy(self.path, problem=problem)
        else:
            self.proxy = Proxy(**outcome.records[0])
        try:
            self.shutdown = self.waiting.result(self.deadline)
        except Hung as exc:
            self.shutdown = Shutdown(None, f"MJF {exc}")
        if self.proxy.problem is not None:
            yield Metric("proxy", self.proxy.problem, context="proxy_problem")
        else:
            yield Metric("proxy_hours_left", self.proxy.seconds_left / HOUR, context="proxy")
