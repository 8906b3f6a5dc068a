"""check_wn_middleware: the grid middleware a pilot VM takes from grid.cern.ch, and its proxy.

Checks the IGTF trust store (every CA's CRL present and not past nextUpdate), the VOMS
files of the VO, that a WN/UI setup script exists, and that the injected X.509 proxy
outlives the VM (PROBES.md, check_wn_middleware; DOMAIN.md section 5).

Everything under the grid root sits on cvmfs and may hang, and so may the proxy file: both
are read in child processes (probes._isolated) that the probe stops waiting for, so a hung
trust store is reported, not waited on.
"""

from __future__ import annotations

import argparse
import glob
import itertools
import os
import re
import shlex
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import nagiosplugin
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from probes._isolated import Child, Outcome, Record
from probes._mjf_options import add_mjf_arguments, discover_features
from probes._plugin import (
    PART_SHARE,
    Deadline,
    Hung,
    Pending,
    ProbeArgumentParser,
    positive_float,
    reason,
    run,
)
from vmsam.vm import mjf

SERVICE = "WN-MIDDLEWARE"
DEFAULT_GRID_ROOT = "/cvmfs/grid.cern.ch"
# Names of the WN/UI bundles change with every release: DOMAIN.md section 5
SETUP_GLOBS = (
    "umd-*/etc/profile.d/setup-*.sh",
    "*-wn-*/etc/profile.d/setup-*.sh",
    "*-ui-*/etc/profile.d/setup-*.sh",
)
PROXY_CERT_INFO = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.14")
# Problems named in the status line; the rest are counted (long output has them all)
SUMMARY_PROBLEMS = 3

_HASH_LINK = re.compile(r"^[0-9a-f]{8}\.[0-9]+$")
_CRL_FILE = re.compile(r"^[0-9a-f]{8}\.r[0-9]+$")


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h"


def count(number: int, singular: str, plural: str = "") -> str:
    return f"{number} {singular if number == 1 else plural or singular + 's'}"


def grid_dn(name: x509.Name) -> str:
    """A name the way grid tools print it: ``/DC=ch/DC=cern/CN=...``."""
    return "".join(
        f"/{attribute.rfc4514_attribute_name}={attribute.value!s}"
        for rdn in name.rdns
        for attribute in rdn
    )


# --- measurement: plain facts, read in child processes -----------------------------------------


@dataclass(frozen=True)
class Authority:
    """A CA of the trust store and what is known of its CRL."""

    alias: str
    wants_crl: bool  # it has an <alias>.crl_url, so fetch-crl must have fetched its CRL
    crl_file: str | None
    seconds_left: float | None  # until the CRL's nextUpdate; None without CRL or nextUpdate


@dataclass
class TrustStore:
    """What the grid root holds, read in one go."""

    certificates: str
    authorities: list[Authority] = field(default_factory=list)
    certificates_error: str | None = None
    unparsable: list[str] = field(default_factory=list)
    vomsdir: str = ""
    vomsdir_files: list[str] | None = None  # None: the directory cannot be listed
    vomsdir_error: str = ""
    vomses: str = ""
    vomses_entries: int | None = None  # None: no vomses file or directory
    setup_scripts: list[str] = field(default_factory=list)

    @classmethod
    def from_record(cls, record: Record) -> TrustStore:
        authorities = [Authority(**authority) for authority in record["authorities"]]
        return cls(**{**record, "authorities": authorities})


def name_key(name: x509.Name) -> tuple[tuple[tuple[str, str | bytes], ...], ...]:
    """A name to compare CRL issuers with CA subjects, case and spacing ignored as OpenSSL does."""
    return tuple(
        tuple(sorted((a.oid.dotted_string, _fold(a.value)) for a in rdn)) for rdn in name.rdns
    )


def _fold(value: str | bytes) -> str | bytes:
    return " ".join(value.split()).lower() if isinstance(value, str) else value


class TrustStoreReader:
    """Reads the trust store, VOMS files and setup scripts under a grid root."""

    def __init__(self, grid_root: str, vo: str | None) -> None:
        self.grid_root = grid_root
        self.vo = vo
        self.security = os.path.join(grid_root, "etc", "grid-security")

    def read(self) -> TrustStore:
        store = TrustStore(certificates=os.path.join(self.security, "certificates"))
        self._read_certificates(store)
        self._read_vomsdir(store)
        self._read_vomses(store)
        store.setup_scripts = sorted(
            {
                match
                for pattern in SETUP_GLOBS
                for match in glob.glob(pattern, root_dir=self.grid_root)
            }
        )
        return store

    def _read_certificates(self, store: TrustStore) -> None:
        try:
            names = sorted(os.listdir(store.certificates))
        except OSError as exc:
            store.certificates_error = exc.strerror or reason(exc)
            return
        directory = Path(store.certificates)
        cas: dict[bytes, tuple[str, x509.Certificate]] = {}
        crls: dict[Any, list[tuple[str, x509.CertificateRevocationList]]] = {}
        # <alias>.pem first, so that a <hash>.0 copy of the same CA keeps the alias
        for name in sorted(names, key=lambda n: not n.endswith(".pem")):
            path = directory / name
            try:
                if name.endswith(".pem") or (_HASH_LINK.match(name) and not path.is_symlink()):
                    alias = name.removesuffix(".pem")
                    for certificate in x509.load_pem_x509_certificates(path.read_bytes()):
                        cas.setdefault(
                            certificate.fingerprint(hashes.SHA256()), (alias, certificate)
                        )
                elif _CRL_FILE.match(name):
                    crl = _load_crl(path.read_bytes())
                    crls.setdefault(name_key(crl.issuer), []).append((name, crl))
            except ValueError as exc:
                store.unparsable.append(f"{name} ({reason(exc)})")
        now = datetime.now(UTC)
        for alias, certificate in sorted(cas.values(), key=lambda pair: pair[0]):
            store.authorities.append(
                _authority(
                    alias,
                    f"{alias}.crl_url" in names,
                    crls.get(name_key(certificate.subject), []),
                    now,
                )
            )

    def _read_vomsdir(self, store: TrustStore) -> None:
        vomsdir = os.path.join(self.security, "vomsdir")
        store.vomsdir = os.path.join(vomsdir, self.vo) if self.vo else vomsdir
        try:
            store.vomsdir_files = sorted(
                n for n in os.listdir(store.vomsdir) if not n.startswith(".")
            )
        except OSError as exc:
            store.vomsdir_error = exc.strerror or reason(exc)

    def _read_vomses(self, store: TrustStore) -> None:
        """vomses is one file or a directory of files; an entry is
        ``"alias" "host" "port" "dn" "vo"``."""
        store.vomses = os.path.join(self.security, "vomses")
        if os.path.isdir(store.vomses):
            try:
                files = [os.path.join(store.vomses, n) for n in sorted(os.listdir(store.vomses))]
            except OSError:
                return
        elif os.path.isfile(store.vomses):
            files = [store.vomses]
        else:
            return
        entries = 0
        for name in files:
            try:
                text = Path(name).read_text(errors="replace")
            except OSError:
                continue  # a subdirectory or an unreadable file holds no entry we can use
            entries += sum(1 for line in text.splitlines() if self._is_entry(line))
        store.vomses_entries = entries

    def _is_entry(self, line: str) -> bool:
        try:
            fields = shlex.split(line, comments=True)
        except ValueError:
            return False
        return len(fields) >= 5 and (self.vo is None or self.vo in (fields[0], fields[4]))


def read_trust_store(grid_root: str, vo: str) -> Iterator[Record]:
    """The child's side; an empty ``vo`` is any VO."""
    yield asdict(TrustStoreReader(grid_root, vo or None).read())


def _load_crl(data: bytes) -> x509.CertificateRevocationList:
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_crl(data)
    return x509.load_der_x509_crl(data)


def _authority(
    alias: str,
    wants_crl: bool,
    crls: list[tuple[str, x509.CertificateRevocationList]],
    now: datetime,
) -> Authority:
    if not crls:
        return Authority(alias, wants_crl, None, None)
    # after a CA rollover two CRLs may share an issuer: the newest one counts
    name, crl = max(
        crls, key=lambda pair: pair[1].next_update_utc or datetime.min.replace(tzinfo=UTC)
    )
    left = None if crl.next_update_utc is None else (crl.next_update_utc - now).total_seconds()
    return Authority(alias, wants_crl, name, left)


@dataclass(frozen=True)
class Proxy:
    """The proxy file as read: its chain's end of validity, or why it is not usable."""

    path: str
    problem: str | None = None  # when set, nothing else is known
    seconds_left: float = 0.0
    is_rfc3820: bool = False
    owner: str = ""


def read_proxy(path: str) -> Proxy:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return Proxy(path, problem=f"cannot read proxy {path}: {reason(exc)}")
    try:
        chain = x509.load_pem_x509_certificates(data)
    except ValueError:
        return Proxy(path, problem=f"proxy {path} holds no PEM certificate")
    for child, parent in itertools.pairwise(chain):
        if name_key(child.issuer) != name_key(parent.subject):
            return Proxy(
                path,
                problem=f"proxy {path} is not a certificate chain: {grid_dn(parent.subject)} "
                f"did not issue {grid_dn(child.subject)}",
            )
    # a proxy cannot outlive the certificates that signed it
    end = min(certificate.not_valid_after_utc for certificate in chain)
    first = chain[0]
    return Proxy(
        path,
        seconds_left=(end - datetime.now(UTC)).total_seconds(),
        is_rfc3820=any(e.oid == PROXY_CERT_INFO for e in first.extensions),
        owner=grid_dn(first.issuer),
    )


def read_proxy_file(path: str) -> Iterator[Record]:
    """The child's side of ``read_proxy``."""
    yield asdict(read_proxy(path))


@dataclass(frozen=True)
class Shutdown:
    """When MJF says the VM goes away, or why that is not known."""

    seconds_left: float | None
    source: str


def read_shutdown(args: argparse.Namespace, timeout: float) -> Shutdown:
    """The earlier of machine ``shutdowntime`` and job ``shutdowntime_job`` (DOMAIN.md 3)."""
    try:
        features = discover_features(args, timeout)
        times = {
            "shutdowntime": features.get_int("machine", "shutdowntime"),
            "shutdowntime_job": features.get_int("job", "shutdowntime_job"),
        }
    except (mjf.MJFError, ValueError) as exc:
        return Shutdown(None, f"MJF unreadable: {reason(exc)}")
    if features.machine is None and features.job is None:
        return Shutdown(None, "no MJF found")
    known = {key: value for key, value in times.items() if value is not None}
    if not known:
        return Shutdown(None, "MJF has no shutdowntime")
    when, key = min((value, key) for key, value in known.items())
    return Shutdown(when - datetime.now(UTC).timestamp(), f"MJF {key}")


# --- resources: hand the facts over as metrics ------------------------------------------------


class TrustStoreResource(nagiosplugin.Resource):  # type: ignore[misc]
    def __init__(self, grid_root: str, reading: Child, deadline: Deadline) -> None:
        self.grid_root = grid_root
        self.reading = reading
        self.deadline = deadline

    def probe(self) -> Iterator[nagiosplugin.Metric]:
        outcome = self.reading.outcome(self.deadline)
        what = f"trust store under {self.grid_root}"
        if outcome.hung is not None:
            yield nagiosplugin.Metric(what, str(outcome.hung), context="hung")
            return
        if not outcome.complete or not outcome.records:
            yield nagiosplugin.Metric(what, failure(outcome), context="unreadable")
            return
        store = TrustStore.from_record(outcome.records[0])
        yield nagiosplugin.Metric("CAs", store, context="cas")
        for authority in store.authorities:
            yield nagiosplugin.Metric(f"CRL {authority.alias}", authority, context="crl")
        stale = sum(
            1
            for a in store.authorities
            if (a.crl_file is None and a.wants_crl)
            or (a.seconds_left is not None and a.seconds_left <= 0)
        )
        yield nagiosplugin.Metric("stale_crls", stale, min=0, context="stale_crls")
        if store.unparsable:
            yield nagiosplugin.Metric("unparsable", store.unparsable, context="unparsable")
        yield nagiosplugin.Metric("vomsdir", store, context="vomsdir")
        yield nagiosplugin.Metric("vomses", store, context="vomses")
        yield nagiosplugin.Metric("setup scripts", store.setup_scripts, context="setup")


def failure(outcome: Outcome) -> str:
    """Why a measurement that did not hang has no result."""
    return reason(outcome.error) if outcome.error is not None else outcome.problem()


class ProxyResource(nagiosplugin.Resource):  # type: ignore[misc]
    def __init__(
        self,
        path: str | None,
        proxy: Child | None,
        shutdown: Pending[Shutdown] | None,
        deadline: Deadline,
    ) -> None:
        self.path = path
        self.proxy = proxy
        self.shutdown = shutdown
        self.deadline = deadline

    def probe(self) -> Iterator[nagiosplugin.Metric]:
        if self.proxy is None or self.shutdown is None or self.path is None:
            yield nagiosplugin.Metric("proxy", None, context="proxy")
            return
        outcome = self.proxy.outcome(self.deadline)
        if outcome.hung is not None:
            proxy = Proxy(self.path, problem=f"proxy {self.path} {outcome.hung}")
        elif not outcome.complete or not outcome.records:
            proxy = Proxy(self.path, problem=f"cannot read proxy {self.path}: {failure(outcome)}")
        else:
            proxy = Proxy(**outcome.records[0])
        try:
            shutdown = self.shutdown.result(self.deadline)
        except Hung as exc:
            shutdown = Shutdown(None, f"MJF {exc}")
        yield nagiosplugin.Metric("proxy", (proxy, shutdown), context="proxy")


# --- contexts: the judgement ------------------------------------------------------------------


class Headlined(nagiosplugin.Context):  # type: ignore[misc]
    """A context whose metric is named in the status line when all is well."""

    def headline(self, metric: nagiosplugin.Metric) -> str:
        raise NotImplementedError


class HungContext(nagiosplugin.Context):  # type: ignore[misc]
    def evaluate(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Result:
        return self.result_cls(nagiosplugin.Critical, f"{metric.name} {metric.value}", metric)


class UnreadableContext(nagiosplugin.Context):  # type: ignore[misc]
    """The probe could not read what it was to judge: it cannot tell."""

    def evaluate(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Result:
        return self.result_cls(
            nagiosplugin.Unknown, f"cannot read the {metric.name}: {metric.value}", metric
        )


class CAsContext(Headlined):
    """No CA at all: nothing can be verified."""

    def evaluate(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Result:
        store: TrustStore = metric.value
        number = len(store.authorities)
        if number:
            return self.result_cls(
                nagiosplugin.Ok, f"{count(number, 'CA')} in {store.certificates}", metric
            )
        why = f" ({store.certificates_error})" if store.certificates_error else ""
        return self.result_cls(nagiosplugin.Critical, f"no CA in {store.certificates}{why}", metric)

    def headline(self, metric: nagiosplugin.Metric) -> str:
        return f"{count(len(metric.value.authorities), 'CA')}, CRLs current"

    def performance(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Performance:
        return nagiosplugin.Performance("cas", len(metric.value.authorities), crit="1:", min=0)


class CRLContext(nagiosplugin.Context):  # type: ignore[misc]
    """The EGI security probes' rule: a CRL past nextUpdate is CRITICAL, close to it WARNING."""

    def __init__(self, name: str, warn_hours: float) -> None:
        super().__init__(name)
        self.warn_seconds = warn_hours * 3600

    def evaluate(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Result:
        ca: Authority = metric.value
        state, text = self._judge(ca)
        return self.result_cls(state, text, metric)

    def _judge(self, ca: Authority) -> tuple[nagiosplugin.state.ServiceState, str]:
        if ca.crl_file is None:
            if ca.wants_crl:
                return (
                    nagiosplugin.Critical,
                    f"CRL of {ca.alias} missing ({ca.alias}.crl_url but no CRL)",
                )
            return nagiosplugin.Ok, f"CA {ca.alias}: no .crl_url, no CRL expected"
        if ca.seconds_left is None:
            return nagiosplugin.Warn, f"CRL of {ca.alias} ({ca.crl_file}) has no nextUpdate"
        if ca.seconds_left <= 0:
            return (
                nagiosplugin.Critical,
                f"CRL of {ca.alias} ({ca.crl_file}) past nextUpdate {hours(-ca.seconds_left)} ago",
            )
        text = f"CRL of {ca.alias} ({ca.crl_file}) nextUpdate in {hours(ca.seconds_left)}"
        if ca.seconds_left < self.warn_seconds:
            return nagiosplugin.Warn, f"{text} (< {hours(self.warn_seconds)})"
        return nagiosplugin.Ok, text


class TallyContext(nagiosplugin.Context):  # type: ignore[misc]
    """Perfdata only: the items counted are judged one by one by another context."""

    def evaluate(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Result:
        return self.result_cls(nagiosplugin.Ok, f"{metric.name}={metric.value}", metric)

    def performance(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Performance:
        return nagiosplugin.Performance(metric.name, metric.value, min=metric.min)


class UnparsableContext(nagiosplugin.Context):  # type: ignore[misc]
    def evaluate(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Result:
        files = ", ".join(metric.value)
        return self.result_cls(nagiosplugin.Warn, f"unparsable in the trust store: {files}", metric)


class VomsdirContext(Headlined):
    """Without the VO's .lsc files no VOMS attribute can be verified."""

    def evaluate(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Result:
        store: TrustStore = metric.value
        if store.vomsdir_files is None:
            return self.result_cls(
                nagiosplugin.Critical, f"{store.vomsdir} missing ({store.vomsdir_error})", metric
            )
        if not store.vomsdir_files:
            return self.result_cls(nagiosplugin.Critical, f"{store.vomsdir} is empty", metric)
        listed = ", ".join(store.vomsdir_files)
        return self.result_cls(nagiosplugin.Ok, f"{store.vomsdir}: {listed}", metric)

    def headline(self, metric: nagiosplugin.Metric) -> str:
        store: TrustStore = metric.value
        files = count(len(store.vomsdir_files or []), "file")
        return f"vomsdir {os.path.basename(store.vomsdir)}: {files}"


class VomsesContext(Headlined):
    def __init__(self, name: str, vo: str | None) -> None:
        super().__init__(name)
        self.vo = vo

    def evaluate(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Result:
        store: TrustStore = metric.value
        which = f"for VO {self.vo}" if self.vo else "for any VO"
        if store.vomses_entries is None:
            return self.result_cls(nagiosplugin.Warn, f"no vomses at {store.vomses}", metric)
        if not store.vomses_entries:
            return self.result_cls(
                nagiosplugin.Warn, f"no vomses entry {which} in {store.vomses}", metric
            )
        entries = count(store.vomses_entries, "vomses entry", "vomses entries")
        return self.result_cls(nagiosplugin.Ok, f"{entries} {which} in {store.vomses}", metric)

    def headline(self, metric: nagiosplugin.Metric) -> str:
        return count(metric.value.vomses_entries, "vomses entry", "vomses entries")


class SetupScriptContext(Headlined):
    def __init__(self, name: str, grid_root: str) -> None:
        super().__init__(name)
        self.grid_root = grid_root

    def evaluate(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Result:
        scripts: list[str] = metric.value
        if not scripts:
            patterns = ", ".join(SETUP_GLOBS)
            return self.result_cls(
                nagiosplugin.Warn,
                f"no WN/UI setup script under {self.grid_root} ({patterns})",
                metric,
            )
        more = f" and {len(scripts) - 1} more" if len(scripts) > 1 else ""
        return self.result_cls(nagiosplugin.Ok, f"setup script {scripts[0]}{more}", metric)

    def headline(self, metric: nagiosplugin.Metric) -> str:
        return "setup script found"


class ProxyContext(Headlined):
    """The proxy must be a chain, valid, and outlive the VM (or the warning margin)."""

    def __init__(self, name: str, warn_hours: float) -> None:
        super().__init__(name)
        self.warn_seconds = warn_hours * 3600

    def evaluate(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Result:
        if metric.value is None:
            return self.result_cls(nagiosplugin.Ok, "no --proxy given: proxy not checked", metric)
        proxy, shutdown = metric.value
        state, text = self._judge(proxy, shutdown)
        return self.result_cls(state, text, metric)

    def _judge(
        self, proxy: Proxy, shutdown: Shutdown
    ) -> tuple[nagiosplugin.state.ServiceState, str]:
        if proxy.problem is not None:
            return nagiosplugin.Critical, proxy.problem
        left = proxy.seconds_left
        if left <= 0:
            return nagiosplugin.Critical, f"proxy {proxy.path} expired {hours(-left)} ago"
        kind = "RFC 3820 proxy" if proxy.is_rfc3820 else "certificate (not an RFC 3820 proxy)"
        text = f"{kind} {proxy.path} of {proxy.owner} valid for {hours(left)}"
        if shutdown.seconds_left is None:
            text += (
                f"; VM shutdown time unknown ({shutdown.source}): "
                f"judged against {hours(self.warn_seconds)} only"
            )
        elif left < shutdown.seconds_left:
            return (
                nagiosplugin.Warn,
                f"proxy expires {hours(shutdown.seconds_left - left)} before the VM's shutdown "
                f"({shutdown.source} in {hours(shutdown.seconds_left)}); {text}",
            )
        else:
            text += (
                f", beyond the VM's shutdown ({shutdown.source} in {hours(shutdown.seconds_left)})"
            )
        if left < self.warn_seconds:
            return nagiosplugin.Warn, f"proxy expires within {hours(self.warn_seconds)}; {text}"
        return nagiosplugin.Ok, text

    def headline(self, metric: nagiosplugin.Metric) -> str:
        if metric.value is None:
            return "no proxy checked"
        return f"proxy valid for {hours(metric.value[0].seconds_left)}"

    def performance(
        self, metric: nagiosplugin.Metric, resource: Any
    ) -> nagiosplugin.Performance | None:
        if metric.value is None or metric.value[0].problem is not None:
            return None
        proxy, shutdown = metric.value
        warn = max(self.warn_seconds, shutdown.seconds_left or 0) / 3600
        return nagiosplugin.Performance(
            "proxy_hours_left", round(proxy.seconds_left / 3600, 2), warn=f"{warn:.2f}:", crit="0:"
        )


class MiddlewareSummary(nagiosplugin.Summary):  # type: ignore[misc]
    def ok(self, results: nagiosplugin.Results) -> str:
        return "; ".join(
            r.metric.contextobj.headline(r.metric)
            for r in results
            if isinstance(r.metric.contextobj, Headlined)
        )

    def problem(self, results: nagiosplugin.Results) -> str:
        problems = sorted(
            (r for r in results if r.state != nagiosplugin.Ok), key=lambda r: -int(r.state)
        )
        named = "; ".join(r.hint for r in problems[:SUMMARY_PROBLEMS])
        more = len(problems) - SUMMARY_PROBLEMS
        return f"{named}; and {more} more" if more > 0 else named

    def verbose(self, results: nagiosplugin.Results) -> list[str]:
        """Every check, OK ones included; tallies are perfdata only."""
        return [
            f"{str(r.state).upper()}: {r.hint}"
            for r in results
            if not isinstance(r.metric.contextobj, TallyContext)
        ]


# --- the command line ---------------------------------------------------------------------------


def parser() -> ProbeArgumentParser:
    p = ProbeArgumentParser(
        SERVICE,
        prog="check_wn_middleware",
        description="Check the grid trust store, VOMS files and setup scripts under the "
        "grid root, and the VM's X.509 proxy.",
    )
    p.add_argument(
        "--grid-root",
        default=DEFAULT_GRID_ROOT,
        metavar="DIR",
        help="where grid.cern.ch is (default %(default)s)",
    )
    p.add_argument("--vo", help="VO whose vomsdir and vomses entry must exist (default: any VO)")
    p.add_argument("--proxy", metavar="FILE", help="X.509 proxy to check (default: none)")
    p.add_argument(
        "--crl-warn-hours",
        type=positive_float,
        default=9.0,
        metavar="HOURS",
        help="WARNING when a CRL's nextUpdate is closer (default %(default)s)",
    )
    p.add_argument(
        "--proxy-warn-hours",
        type=positive_float,
        default=6.0,
        metavar="HOURS",
        help="WARNING when the proxy expires sooner (default %(default)s)",
    )
    add_mjf_arguments(p)
    return p


def build_check(args: argparse.Namespace) -> nagiosplugin.Check:
    # every part starts at once, so that a hung one costs the others nothing
    deadline = Deadline(args.timeout).share(PART_SHARE)
    store = Child(read_trust_store, args.grid_root, args.vo or "")
    proxy: Child | None = None
    shutdown: Pending[Shutdown] | None = None
    if args.proxy:
        proxy = Child(read_proxy_file, args.proxy)
        shutdown = Pending(lambda: read_shutdown(args, min(5.0, deadline.remaining())))
    return nagiosplugin.Check(
        TrustStoreResource(args.grid_root, store, deadline),
        ProxyResource(args.proxy, proxy, shutdown, deadline),
        HungContext("hung"),
        UnreadableContext("unreadable"),
        CAsContext("cas"),
        CRLContext("crl", args.crl_warn_hours),
        TallyContext("stale_crls"),
        UnparsableContext("unparsable"),
        VomsdirContext("vomsdir"),
        VomsesContext("vomses", args.vo),
        SetupScriptContext("setup", args.grid_root),
        ProxyContext("proxy", args.proxy_warn_hours),
        MiddlewareSummary(),
    )


def main(argv: Sequence[str] | None = None) -> NoReturn:
    args = parser().parse_args(argv)
    run(SERVICE, lambda: build_check(args), args.timeout)
