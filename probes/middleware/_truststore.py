"""Reading the trust store, the VOMS files and the setup scripts under a grid root.

The IGTF layout: ``<alias>.pem`` with ``<hash>.N`` a link to it, ``<alias>.crl_url``, and
the CA's CRL in ``<hash>.rN``. A CRL is paired with its CA by its issuer (the
``cryptography`` library has no OpenSSL subject hash); one that cannot be parsed has no
issuer to tell, and is paired by the file name instead.
"""

from __future__ import annotations

import glob
import os
import re
import shlex
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from probes._isolated import Record
from probes._plugin import reason
from probes.middleware._names import NameKey, name_key

# Names of the WN/UI bundles change with every release
SETUP_GLOBS = (
    "umd-*/etc/profile.d/setup-*.sh",
    "*-wn-*/etc/profile.d/setup-*.sh",
    "*-ui-*/etc/profile.d/setup-*.sh",
)
# the library's own messages are long and name its FAQ: a reader needs only what failed
NOT_A_CERTIFICATE = "not a PEM certificate"
NOT_A_CRL = "not a PEM or DER CRL"

_HASH_LINK = re.compile(r"^([0-9a-f]{8})\.([0-9]+)$")
_CRL_FILE = re.compile(r"^([0-9a-f]{8})\.r([0-9]+)$")


@dataclass(frozen=True)
class Authority:
    """A CA of the trust store and what is known of its CRL."""

    alias: str
    wants_crl: bool  # it has an <alias>.crl_url, so fetch-crl must have fetched its CRL
    crl_file: str | None
    seconds_left: float | None  # until the CRL's nextUpdate; None without CRL or nextUpdate
    unparsable_crl: str | None = None  # its <hash>.rN, when that cannot be parsed


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


Crls = dict[NameKey, list[tuple[str, x509.CertificateRevocationList]]]


class _Files:
    """The certificates directory's files parsed: CAs, CRLs by issuer, and the CRL files
    that cannot be parsed."""

    def __init__(self, directory: Path, names: list[str]) -> None:
        self.cas: dict[bytes, tuple[str, x509.Certificate]] = {}
        self.crls: Crls = {}
        self.bad_crls: list[str] = []
        self.unparsable: list[str] = []
        self.alias: dict[str, str] = {}  # a certificate file or link -> its CA's alias
        # <alias>.pem first, so that a <hash>.N copy of the same CA keeps the alias, and
        # links after the files they point to
        for name in sorted(
            names, key=lambda n: (not n.endswith(".pem"), (directory / n).is_symlink())
        ):
            path = directory / name
            if _CRL_FILE.match(name):
                self._add_crl(name, path)
            elif _HASH_LINK.match(name) and path.is_symlink():
                target = os.path.basename(os.readlink(path))
                if target in self.alias:
                    self.alias[name] = self.alias[target]
            elif name.endswith(".pem") or _HASH_LINK.match(name):
                self._add_certificates(name, path)

    def _add_crl(self, name: str, path: Path) -> None:
        try:
            crl = _load_crl(path.read_bytes())
        except ValueError:
            self.bad_crls.append(name)
        else:
            self.crls.setdefault(name_key(crl.issuer), []).append((name, crl))

    def _add_certificates(self, name: str, path: Path) -> None:
        try:
            certificates = x509.load_pem_x509_certificates(path.read_bytes())
        except ValueError:
            self.unparsable.append(f"{name} ({NOT_A_CERTIFICATE})")
            return
        for certificate in certificates:
            key = certificate.fingerprint(hashes.SHA256())
            self.cas.setdefault(key, (name.removesuffix(".pem"), certificate))
        self.alias[name] = self.cas[certificates[0].fingerprint(hashes.SHA256())][0]

    def owner(self, crl_name: str) -> str | None:
        """The alias of the CA whose ``<hash>.N`` goes with ``<hash>.rN`` (else
        ``<hash>.0``)."""
        match = _CRL_FILE.match(crl_name)
        assert match is not None
        digest, index = match.groups()
        return self.alias.get(f"{digest}.{index}") or self.alias.get(f"{digest}.0")


class TrustStoreReader:
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
        found = _Files(Path(store.certificates), names)
        store.unparsable.extend(found.unparsable)
        now = datetime.now(UTC)
        authorities = {
            alias: _authority(
                alias,
                f"{alias}.crl_url" in names,
                found.crls.get(name_key(certificate.subject), []),
                now,
            )
            for alias, certificate in sorted(found.cas.values(), key=lambda pair: pair[0])
        }
        for name in found.bad_crls:
            ca = authorities.get(found.owner(name) or "")
            if ca is not None and ca.crl_file is None and ca.unparsable_crl is None:
                authorities[ca.alias] = Authority(ca.alias, ca.wants_crl, None, None, name)
            else:
                store.unparsable.append(f"{name} ({NOT_A_CRL})")
        store.authorities = list(authorities.values())

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
