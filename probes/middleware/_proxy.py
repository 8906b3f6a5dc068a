"""Reading the X.509 proxy (in a child process) and the VM's shutdown time from MJF."""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509

from probes._isolated import Record
from probes._mjf_options import discover_features
from probes._plugin import reason
from probes.middleware._names import grid_dn, name_key
from vmsam.vm import mjf

PROXY_CERT_INFO = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.14")


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
    """The earlier of machine ``shutdowntime`` and job ``shutdowntime_job``."""
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
