"""Judging the trust store, the VOMS files, the setup scripts and the proxy; the summary."""

from __future__ import annotations

import os

import nagiosplugin
from nagiosplugin import Critical, Metric, Ok, Performance, Range, Resource, Result, Results, Warn

from probes._common.arguments import Limits
from probes._common.contexts import Fixed, Tally, Threshold, cannot_tell, hung
from probes._common.ranges import at_least, breach, is_lower_bound
from probes._common.summary import ProbeSummary, plural
from probes.middleware._resources import ProxyResource, TrustStoreResource
from probes.middleware._truststore import SETUP_GLOBS, Authority, TrustStore

# Problems named in the status line; the rest are counted (long output has them all)
SUMMARY_PROBLEMS = 3


def hours(value: float) -> str:
    return f"{value:.1f} h"


class Headlined:
    """A context whose metric is named in the status line when all is well."""

    def headline(self, metric: Metric) -> str:
        raise NotImplementedError


class CAsContext(nagiosplugin.Context, Headlined):
    """No CA at all: nothing can be verified."""

    def evaluate(self, metric: Metric, resource: Resource) -> Result:
        store: TrustStore = metric.value
        number = len(store.authorities)
        if number:
            return self.result_cls(Ok, f"{plural(number, 'CA')} in {store.certificates}", metric)
        why = f" ({store.certificates_error})" if store.certificates_error else ""
        return self.result_cls(Critical, f"no CA in {store.certificates}{why}", metric)

    def headline(self, metric: Metric) -> str:
        return f"{plural(len(metric.value.authorities), 'CA')}, CRLs current"

    def performance(self, metric: Metric, resource: Resource) -> Performance:
        return Performance("cas", len(metric.value.authorities), crit="1:", min=0)


class CRLContext(Threshold):
    """Hours to the CRL's nextUpdate against ranges: past it a CRL is stale (the EGI security
    probes' rule)."""

    def __init__(self, warning: Range | None, critical: Range | None) -> None:
        super().__init__("crl", warning, critical, text=self.said, unit=" h", perfdata=False)

    @staticmethod
    def said(metric: Metric, resource: Resource) -> str:
        assert isinstance(resource, TrustStoreResource)
        ca = resource.authority(metric)
        if metric.value <= 0:
            return f"CRL of {ca.alias} ({ca.crl_file}) past nextUpdate {hours(-metric.value)} ago"
        return f"CRL of {ca.alias} ({ca.crl_file}) nextUpdate in {hours(metric.value)}"

    def explain(self, metric: Metric, resource: Resource, limits: Range) -> str:
        if metric.value <= 0:
            return self.said(metric, resource)  # "past nextUpdate" says why already
        return super().explain(metric, resource, limits)


class CRLStateContext(nagiosplugin.Context):
    """A CA without a CRL that can be judged by its time."""

    def evaluate(self, metric: Metric, resource: Resource) -> Result:
        ca: Authority = metric.value
        if ca.unparsable_crl is not None:
            # unusable to anything that checks revocation, as a missing one is
            text = f"CRL of {ca.alias} ({ca.unparsable_crl}) unparsable"
            return self.result_cls(Critical, text, metric)
        if ca.crl_file is None:
            if ca.wants_crl:
                text = f"CRL of {ca.alias} missing ({ca.alias}.crl_url but no CRL)"
                return self.result_cls(Critical, text, metric)
            return self.result_cls(Ok, f"CA {ca.alias}: no .crl_url, no CRL expected", metric)
        return self.result_cls(Warn, f"CRL of {ca.alias} ({ca.crl_file}) has no nextUpdate", metric)


class VomsdirContext(nagiosplugin.Context, Headlined):
    """Without the VO's .lsc files no VOMS attribute can be verified."""

    def evaluate(self, metric: Metric, resource: Resource) -> Result:
        store: TrustStore = metric.value
        if store.vomsdir_files is None:
            text = f"{store.vomsdir} missing ({store.vomsdir_error})"
            return self.result_cls(Critical, text, metric)
        if not store.vomsdir_files:
            return self.result_cls(Critical, f"{store.vomsdir} is empty", metric)
        listed = ", ".join(store.vomsdir_files)
        return self.result_cls(Ok, f"{store.vomsdir}: {listed}", metric)

    def headline(self, metric: Metric) -> str:
        store: TrustStore = metric.value
        files = plural(len(store.vomsdir_files or []), "file")
        return f"vomsdir {os.path.basename(store.vomsdir)}: {files}"


class VomsesContext(nagiosplugin.Context, Headlined):
    def __init__(self, name: str, vo: str | None) -> None:
        super().__init__(name)
        self.vo = vo

    def evaluate(self, metric: Metric, resource: Resource) -> Result:
        store: TrustStore = metric.value
        which = f"for VO {self.vo}" if self.vo else "for any VO"
        if store.vomses_entries is None:
            return self.result_cls(Warn, f"no vomses at {store.vomses}", metric)
        if not store.vomses_entries:
            return self.result_cls(Warn, f"no vomses entry {which} in {store.vomses}", metric)
        entries = plural(store.vomses_entries, "vomses entry", "vomses entries")
        return self.result_cls(Ok, f"{entries} {which} in {store.vomses}", metric)

    def headline(self, metric: Metric) -> str:
        return plural(metric.value.vomses_entries, "vomses entry", "vomses entries")


class SetupScriptContext(nagiosplugin.Context, Headlined):
    def __init__(self, name: str, grid_root: str) -> None:
        super().__init__(name)
        self.grid_root = grid_root

    def evaluate(self, metric: Metric, resource: Resource) -> Result:
        scripts: list[str] = metric.value
        if not scripts:
            patterns = ", ".join(SETUP_GLOBS)
            text = f"no WN/UI setup script under {self.grid_root} ({patterns})"
            return self.result_cls(Warn, text, metric)
        more = f" and {len(scripts) - 1} more" if len(scripts) > 1 else ""
        return self.result_cls(Ok, f"setup script {scripts[0]}{more}", metric)

    def headline(self, metric: Metric) -> str:
        return "setup script found"


class NoProxyContext(Fixed, Headlined):
    def __init__(self) -> None:
        super().__init__("no_proxy", Ok, lambda metric: "no --proxy given: proxy not checked")

    def headline(self, metric: Metric) -> str:
        return "no proxy checked"


class ProxyContext(Threshold, Headlined):
    """Hours the proxy has left against ranges; and it must outlive the VM when MJF says
    when the VM shuts down."""

    def __init__(self, warning: Range | None, critical: Range | None) -> None:
        super().__init__("proxy", warning, critical, text=self.said, unit=" h", digits=2)

    @staticmethod
    def facts(resource: Resource) -> ProxyResource:
        assert isinstance(resource, ProxyResource) and resource.proxy is not None
        return resource

    def said(self, metric: Metric, resource: Resource, why: str = "") -> str:
        """The proxy, ``why`` it alerts right after its validity, then the shutdown."""
        facts = self.facts(resource)
        proxy, shutdown = facts.proxy, facts.shutdown
        assert proxy is not None
        if metric.value <= 0:
            return f"proxy {proxy.path} expired {hours(-metric.value)} ago"
        kind = "RFC 3820 proxy" if proxy.is_rfc3820 else "certificate (not an RFC 3820 proxy)"
        text = f"{kind} {proxy.path} of {proxy.owner} valid for {hours(metric.value)}"
        text += f" ({why})" if why else ""
        if shutdown.seconds_left is None:
            return f"{text}, VM shutdown time unknown ({shutdown.source})"
        if proxy.seconds_left >= shutdown.seconds_left:
            return f"{text}, beyond the VM's shutdown ({self.shutdown_said(resource)})"
        return text

    def shutdown_said(self, resource: Resource) -> str:
        shutdown = self.facts(resource).shutdown
        assert shutdown.seconds_left is not None
        return f"{shutdown.source} in {hours(shutdown.seconds_left / 3600)}"

    def explain(self, metric: Metric, resource: Resource, limits: Range) -> str:
        if metric.value <= 0:
            return self.said(metric, resource)  # "expired" says why already
        return self.said(metric, resource, breach(limits, metric.value, self.unit))

    def evaluate(self, metric: Metric, resource: Resource) -> Result:
        judged = super().evaluate(metric, resource)
        facts = self.facts(resource)
        proxy, shutdown = facts.proxy, facts.shutdown
        assert proxy is not None
        if judged.state == Critical or shutdown.seconds_left is None:
            return judged
        if proxy.seconds_left < shutdown.seconds_left:
            early = hours((shutdown.seconds_left - proxy.seconds_left) / 3600)
            text = (
                f"proxy expires {early} before the VM's shutdown ({self.shutdown_said(resource)}), "
                f"{self.said(metric, resource)}"
            )
            return self.result_cls(Warn, text, metric)
        return judged

    def perfdata_ranges(
        self, metric: Metric, resource: Resource
    ) -> tuple[Range | None, Range | None]:
        warning, critical = super().perfdata_ranges(metric, resource)
        shutdown = self.facts(resource).shutdown
        if shutdown.seconds_left is None or (warning is not None and not is_lower_bound(warning)):
            return warning, critical
        # the proxy must last until the shutdown: the warning range moves there
        floor = max(warning.start if warning else 0, round(shutdown.seconds_left / 3600, 2))
        return at_least(floor), critical

    def headline(self, metric: Metric) -> str:
        return f"proxy valid for {hours(metric.value)}"


class MiddlewareSummary(ProbeSummary):
    named = SUMMARY_PROBLEMS

    def ok(self, results: Results) -> str:
        headlines: list[str] = []
        for result in results:
            context = result.context
            if isinstance(context, Headlined) and result.metric is not None:
                headlines.append(context.headline(result.metric))
        return ", ".join(headlines)


def contexts(limits: Limits, *, vo: str | None, grid_root: str) -> list[nagiosplugin.Context]:
    return [
        hung(),
        cannot_tell(),
        CAsContext("cas"),
        CRLContext(*limits["crl"]),
        CRLStateContext("crl_state"),
        Tally("stale_crls"),
        Fixed("unparsable", Warn, lambda m: f"unparsable in the trust store: {', '.join(m.value)}"),
        VomsdirContext("vomsdir"),
        VomsesContext("vomses", vo),
        SetupScriptContext("setup", grid_root),
        NoProxyContext(),
        Fixed("proxy_problem", Critical, lambda m: str(m.value)),
        ProxyContext(*limits["proxy"]),
    ]
