"""Machine/Job Features (HEPiX MJF, HSF-TN-2016-02): find them and read their keys.

A feature set is a directory (one file per key) or a URL (one resource per key, ``404``
meaning absent, as Vac's metadata server does). Values are stripped of whitespace.

VM side: imports only the standard library and httpx. Nothing here may hang: every HTTP
call carries a timeout, and a source that cannot be read raises ``MJFError``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple

from vmsam.shared.errors import MJFError, MJFTimeout

if TYPE_CHECKING:
    import ssl

    import httpx

__all__ = [
    "DISCOVERY_TIMEOUT",
    "DirectoryFeatures",
    "FeatureSet",
    "Features",
    "HTTPFeatures",
    "MJFError",
    "MJFTimeout",
    "discover",
    "open_features",
]

# Discovery asks link-local addresses that do not exist on most machines: a connect there
# hangs until the timeout, so it gets a short one of its own.
DISCOVERY_TIMEOUT = 2.0
# Grid services (Vcycle's MJF server) present certificates from the IGTF trust store.
GRID_CA_DIR = "/etc/grid-security/certificates"


class FeatureSet:
    """One of machinefeatures / jobfeatures."""

    def __init__(self, location: str) -> None:
        self.location = location
        # how discover() found it ("option", "environment", "/etc", "vac", "openstack")
        self.found_by = "given"

    def get(self, key: str) -> str | None:
        """The stripped value; None when the key is absent; MJFError when unreadable."""
        raise NotImplementedError

    def keys(self) -> list[str]:
        """The keys present, sorted."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.location!r})"


def _check_key(key: str) -> None:
    if not key or "/" in key or key in {".", ".."}:
        raise ValueError(f"not an MJF key name: {key!r}")


class DirectoryFeatures(FeatureSet):
    """A local directory, one file per key."""

    def get(self, key: str) -> str | None:
        _check_key(key)
        try:
            data = (Path(self.location) / key).read_bytes()
        except FileNotFoundError:
            if not os.path.isdir(self.location):
                raise MJFError(f"{self.location}: no such directory") from None
            return None
        except OSError as exc:
            raise MJFError(f"{self.location}/{key}: {exc.strerror or exc}") from exc
        return data.decode("utf-8", errors="replace").strip()

    def keys(self) -> list[str]:
        try:
            with os.scandir(self.location) as entries:
                return sorted(e.name for e in entries if e.is_file() and not e.name.startswith("."))
        except OSError as exc:
            raise MJFError(f"{self.location}: {exc.strerror or exc}") from exc


def _hrefs(html: str) -> list[str]:
    """The link targets of a directory listing (only a VM whose MJF is served over HTTP
    pays for the HTML parser)."""
    from html.parser import HTMLParser

    class Links(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.hrefs: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "a":
                self.hrefs.extend(value for name, value in attrs if name == "href" and value)

    parser = Links()
    parser.feed(html)
    return parser.hrefs


class HTTPFeatures(FeatureSet):
    """A URL: keys fetched by name as ``<url>/<key>``, redirects followed, 404 = absent."""

    def __init__(self, location: str, *, timeout: float = 5.0) -> None:
        import httpx  # only a VM whose MJF is served over HTTP pays for the import

        super().__init__(location.rstrip("/"))
        self.timeout = timeout
        self._client = httpx.Client(
            timeout=timeout,
            follow_redirects=True,
            verify=_ssl_context() if location.startswith("https:") else True,
        )

    def close(self) -> None:
        self._client.close()

    def _fetch(self, url: str) -> httpx.Response | None:
        import httpx

        try:
            response = self._client.get(url)
        except httpx.TimeoutException:
            raise MJFTimeout(self.location, self.timeout) from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise MJFError(f"{url}: {str(exc) or type(exc).__name__}") from exc
        if response.status_code == httpx.codes.NOT_FOUND:
            return None
        if not response.is_success:
            raise MJFError(f"{url}: HTTP {response.status_code} {response.reason_phrase}")
        return response

    def get(self, key: str) -> str | None:
        _check_key(key)
        response = self._fetch(f"{self.location}/{key}")
        return None if response is None else response.text.strip()

    def keys(self) -> list[str]:
        from urllib.parse import unquote, urljoin, urlsplit

        response = self._fetch(self.location + "/")
        if response is None:
            raise MJFError(f"{self.location}: HTTP 404 Not Found")
        base = str(response.url)
        directories = {urlsplit(base).path.rstrip("/"), urlsplit(self.location).path.rstrip("/")}
        found = set()
        for href in _hrefs(response.text):
            path = urlsplit(urljoin(base, href)).path
            parent, _, name = path.rpartition("/")
            if name and parent in directories and not name.startswith("."):
                found.add(unquote(name))
        return sorted(found)


def _ssl_context() -> ssl.SSLContext:
    import ssl

    context = ssl.create_default_context()
    ca_dir = os.environ.get("X509_CERT_DIR") or GRID_CA_DIR
    if os.path.isdir(ca_dir):
        context.load_verify_locations(capath=ca_dir)
    return context


def open_features(location: str, *, timeout: float = 5.0) -> FeatureSet:
    """``/...`` is a directory, ``http(s)://...`` a URL; anything else is an MJFError."""
    if location.startswith("/"):
        return DirectoryFeatures(location.rstrip("/") or "/")
    if location.startswith(("http://", "https://")):
        return HTTPFeatures(location, timeout=timeout)
    raise MJFError(f"not a directory path or http(s) URL: {location!r}")


class Features(NamedTuple):
    """Both feature sets; either may be None when it was not found."""

    machine: FeatureSet | None
    job: FeatureSet | None

    def get(self, which: Literal["machine", "job"], key: str) -> str | None:
        """The value, or None when the set or the key is absent; MJFError when unreadable."""
        features = self.machine if which == "machine" else self.job
        return None if features is None else features.get(key)

    def get_int(self, which: Literal["machine", "job"], key: str) -> int | None:
        """The value as an int; None when absent or not an int; MJFError when unreadable."""
        value = self.get(which, key)
        try:
            return None if value is None else int(value)
        except ValueError:
            return None

    def get_float(self, which: Literal["machine", "job"], key: str) -> float | None:
        """The value as a float; None when absent or not a number; MJFError when unreadable."""
        value = self.get(which, key)
        try:
            return None if value is None else float(value)
        except ValueError:
            return None


def discover(
    machinefeatures: str | None = None,
    jobfeatures: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    etc_dir: str = "/etc",
    discovery: bool = True,
    vac_url: str = "http://169.254.169.253",
    openstack_url: str = "http://169.254.169.254",
    timeout: float = 5.0,
    discovery_timeout: float = DISCOVERY_TIMEOUT,
) -> Features:
    """Find each feature set, first match wins: the arguments, ``$MACHINEFEATURES`` /
    ``$JOBFEATURES``, ``<etc_dir>/machinefeatures`` / ``jobfeatures`` when directories,
    then (with ``discovery``) Vac's metadata server and the OpenStack metadata ``meta`` keys,
    each asked with at most ``discovery_timeout``; ``timeout`` bounds each later read.

    Network discovery that finds nothing (no such server, an error) means not found; a
    location given or found is returned as it is, and reading it tells whether it works.
    """
    env = os.environ if environ is None else environ
    found: dict[str, FeatureSet | None] = {}
    for name, given in (("machinefeatures", machinefeatures), ("jobfeatures", jobfeatures)):
        # empty means "not supplied", as in Vac's user_data substitution
        for found_by, location in (("option", given), ("environment", env.get(name.upper()))):
            if location:
                found[name] = _found(open_features(location, timeout=timeout), found_by)
                break
        else:
            local = os.path.join(etc_dir, name)
            found[name] = None
            if os.path.isdir(local):
                found[name] = _found(DirectoryFeatures(local), etc_dir)

    if discovery:
        short = min(timeout, discovery_timeout)
        for name in _missing(found):
            url = f"{vac_url.rstrip('/')}/{name}"
            answer = _answers(url, short)
            if answer is None:
                break  # no Vac server here: do not wait for it once more
            if answer:
                found[name] = _found(HTTPFeatures(url, timeout=timeout), "vac")
        meta = _openstack_meta(openstack_url, short) if _missing(found) else {}
        for name in _missing(found):
            published = meta.get(name)
            if isinstance(published, str) and published:
                try:
                    found[name] = _found(open_features(published, timeout=timeout), "openstack")
                except MJFError:
                    continue
    return Features(machine=found["machinefeatures"], job=found["jobfeatures"])


def _found(features: FeatureSet, found_by: str) -> FeatureSet:
    features.found_by = found_by
    return features


def _missing(found: dict[str, FeatureSet | None]) -> list[str]:
    return [name for name, features in found.items() if features is None]


def _answers(url: str, timeout: float) -> bool | None:
    """Whether ``url`` is a readable directory; None when no server answers at all."""
    import httpx

    try:
        with httpx.Client(timeout=timeout, follow_redirects=True) as client:
            return client.get(url + "/").is_success
    except (httpx.HTTPError, httpx.InvalidURL):
        return None


def _openstack_meta(openstack_url: str, timeout: float) -> dict[str, object]:
    import httpx

    url = f"{openstack_url.rstrip('/')}/openstack/latest/meta_data.json"
    try:
        with httpx.Client(timeout=timeout, follow_redirects=True) as client:
            response = client.get(url)
        if not response.is_success:
            return {}
        meta = response.json().get("meta")
    except (httpx.HTTPError, httpx.InvalidURL, ValueError, AttributeError):
        return {}
    return meta if isinstance(meta, dict) else {}
