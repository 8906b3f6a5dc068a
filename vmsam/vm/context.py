"""Who this VM is: the names the hook tests and publishes under (docs/configuration.md, [vm]).

Each value comes from the configuration first (where Vac/Vcycle substitute the
``##user_data_...##`` patterns), then from what the VM finds itself, in the order each key's
entry in docs/configuration.md gives. Nothing here raises: what cannot be found is one line
in ``VMContext.problems``, and the hook does what it still can.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

from vmsam.shared.config import Settings
from vmsam.vm import mjf

__all__ = ["VAC", "VCYCLE", "VMContext", "discover_context"]

VAC = "uk.ac.gridpp.vac"
VCYCLE = "uk.ac.gridpp.vcycle"
_MANAGERS = {"vac": VAC, "vcycle": VCYCLE}

# Vcycle serves a VM's MJF and joboutputs under its space, the space's only other source.
_VCYCLE_URL = re.compile(
    r"^https?://[^/]+/machines/(?P<space>[^/]+)/[^/]+/(?:machinefeatures|jobfeatures|joboutputs)/?$"
)
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)


class VMContext(NamedTuple):
    """What the VM knows about itself; None where it could not be found."""

    space: str | None
    site: str | None
    uuid: str | None
    hostname: str
    machinetype: str | None
    vo: str | None
    fqan: str | None
    service_type: str
    manager_version: str | None
    machinefeatures: str | None
    jobfeatures: str | None
    joboutputs: str | None
    problems: tuple[str, ...]
    # where each found value came from ("configuration", "jobfeatures job_id", ...)
    sources: Mapping[str, str] = MappingProxyType({})
    # the feature sets found, so the hook reads vmsam_fraction without discovering again
    features: mjf.Features = mjf.Features(machine=None, job=None)

    def publishable(self) -> str | None:
        """None when results can be published; else why not (no VO, or no space name)."""
        missing = []
        if not self.vo:
            missing.append("no VO ([vm] vo)")
        if not self.space:
            # an empty hostName would be rejected by every consumer
            missing.append("no space name ([vm] space)")
        return f"not publishing: {' and '.join(missing)}" if missing else None


def discover_context(
    settings: Settings, *, environ: Mapping[str, str] | None = None, timeout: float = 5.0
) -> VMContext:
    """Find the VM's context; ``timeout`` bounds each network read (network discovery asks
    the link-local servers with at most ``mjf.DISCOVERY_TIMEOUT``)."""
    return _Discovery(settings, os.environ if environ is None else environ, timeout).run()


class _Discovery:
    """One discovery: the sources asked so far and what they did not give."""

    def __init__(self, settings: Settings, environ: Mapping[str, str], timeout: float) -> None:
        self.settings = settings
        self.vm = settings.vm
        self.environ = environ
        self.timeout = timeout
        self.problems: list[str] = []
        self.sources: dict[str, str] = {}
        self._metadata: dict[str, object] | None = None
        self._metadata_problem = ""

    def run(self) -> VMContext:
        features = self._features()
        machinefeatures = features.machine.location if features.machine else None
        jobfeatures = features.job.location if features.job else None
        uuid = self._uuid(features.job)
        joboutputs = self._joboutputs()
        space = self._space(machinefeatures, jobfeatures, joboutputs)
        vo = self._configured("vo", "no VO: set [vm] vo (usually a ##user_data_option_...##)")
        return VMContext(
            space=space,
            site=self._site(space),
            uuid=uuid,
            hostname=self._hostname(),
            machinetype=self._configured(
                "machinetype", "no machinetype: set [vm] machinetype (##user_data_machinetype##)"
            ),
            vo=vo,
            fqan=self._fqan(vo),
            service_type=self._service_type(),
            manager_version=self.vm.manager_version or None,
            machinefeatures=machinefeatures,
            jobfeatures=jobfeatures,
            joboutputs=joboutputs,
            problems=tuple(self.problems),
            sources=dict(self.sources),
            features=features,
        )

    def _found(self, name: str, value: str, source: str) -> str:
        self.sources[name] = source
        return value

    def _configured(self, name: str, problem: str) -> str | None:
        value: str = getattr(self.vm, name)
        if value:
            return self._found(name, value, "configuration")
        self.problems.append(problem)
        return None

    def _features(self) -> mjf.Features:
        paths, discovery = self.settings.paths, self.settings.discovery
        given = {"machinefeatures": paths.machinefeatures, "jobfeatures": paths.jobfeatures}
        environ = dict(self.environ)
        # a location that is neither a path nor a URL would stop mjf.discover for both sets
        for name, location in given.items():
            if location and not _is_location(location):
                self.problems.append(f"[paths] {name} {location!r} is not a path or URL: ignored")
                given[name] = ""
            variable = name.upper()
            if environ.get(variable) and not _is_location(environ[variable]):
                self.problems.append(f"${variable} {environ.pop(variable)!r} is not a path or URL")
        features = mjf.discover(
            given["machinefeatures"] or None,
            given["jobfeatures"] or None,
            environ=environ,
            etc_dir=paths.etc_dir,
            discovery=discovery.network,
            vac_url=discovery.vac_url,
            openstack_url=discovery.openstack_url,
            timeout=self.timeout,
        )
        for name, found in (("machinefeatures", features.machine), ("jobfeatures", features.job)):
            if found is None:
                tried = f"[paths] {name}, ${name.upper()}, {os.path.join(paths.etc_dir, name)}"
                if discovery.network:
                    tried += ", Vac and OpenStack metadata"
                self.problems.append(f"no {name} (tried {tried})")
            else:
                self.sources[name] = found.found_by
        return features

    def _uuid(self, job: mjf.FeatureSet | None) -> str | None:
        if self.vm.uuid:
            return self._found("uuid", self.vm.uuid, "configuration")
        tried = ["[vm] uuid"]
        if job is not None:
            tried.append("jobfeatures job_id")
            try:
                job_id = job.get("job_id")
                if job_id:
                    return self._found("uuid", job_id, "jobfeatures job_id")
                start = job.get("jobstart_secs")
            except mjf.MJFError as exc:
                self.problems.append(f"jobfeatures unreadable: {exc}")
            else:
                if start and _UUID.match(start):
                    self.problems.append(
                        "jobfeatures job_id is missing and jobstart_secs holds a UUID "
                        "(the Vcycle 03.x bug): taken as the VM UUID"
                    )
                    return self._found("uuid", start, "jobfeatures jobstart_secs")
        if self.settings.discovery.network:
            tried.append("OpenStack metadata")
            uuid = self._openstack().get("uuid")
            if isinstance(uuid, str) and uuid.strip():
                return self._found("uuid", uuid.strip(), "OpenStack metadata uuid")
        self.problems.append(f"no VM UUID (tried {', '.join(tried)}){self._metadata_problem}")
        return None

    def _joboutputs(self) -> str | None:
        if self.settings.paths.joboutputs:
            return self._found("joboutputs", self.settings.paths.joboutputs, "configuration")
        if self.environ.get("JOBOUTPUTS"):
            return self._found("joboutputs", self.environ["JOBOUTPUTS"], "environment")
        if self.settings.discovery.network:
            meta = self._openstack().get("meta")
            published = meta.get("joboutputs") if isinstance(meta, dict) else None
            if isinstance(published, str) and published.strip():
                return self._found("joboutputs", published.strip(), "OpenStack metadata")
        for directory in self.settings.paths.joboutputs_dirs:
            if os.path.isdir(directory):
                return self._found("joboutputs", directory, "local directory")
        tried = ["[paths] joboutputs", "$JOBOUTPUTS"]
        if self.settings.discovery.network:
            tried.append("OpenStack metadata")
        tried.extend(self.settings.paths.joboutputs_dirs)
        self.problems.append(f"no joboutputs (tried {', '.join(tried)})")
        return None

    def _space(self, *locations: str | None) -> str | None:
        if self.vm.space:
            return self._found("space", self.vm.space, "configuration")
        for location in locations:
            match = _VCYCLE_URL.match(location or "")
            if match:
                return self._found("space", match["space"], f"Vcycle URL {location}")
        self.problems.append("no space name: set [vm] space (##user_data_space##)")
        return None

    def _site(self, space: str | None) -> str | None:
        if self.vm.site:
            return self._found("site", self.vm.site, "configuration")
        # Vac's own fallback: the space name minus its first label
        if space and "." in space.strip("."):
            return self._found("site", space.strip(".").split(".", 1)[1], "space name")
        self.problems.append("no site name: set [vm] site (##user_data_site##)")
        return None

    def _hostname(self) -> str:
        if self.vm.hostname:
            return self._found("hostname", self.vm.hostname, "configuration")
        import socket  # only when the configuration does not name the host

        return self._found("hostname", socket.getfqdn(), "socket.getfqdn()")

    def _fqan(self, vo: str | None) -> str | None:
        if self.vm.fqan:
            return self._found("fqan", self.vm.fqan, "configuration")
        return self._found("fqan", f"/{vo}", "default /<vo>") if vo else None

    def _service_type(self) -> str:
        if self.vm.service_type:
            return self._found("service_type", self.vm.service_type, "configuration")
        version = self.vm.manager_version
        manager = version.split()[0].lower() if version.strip() else ""
        if manager in _MANAGERS:
            return self._found("service_type", _MANAGERS[manager], f"manager version {version}")
        said = f"manager version {version!r} unknown" if version else "no manager version"
        self.problems.append(f"{said} ([vm] manager_version): service type {VAC} assumed")
        return self._found("service_type", VAC, "default")

    def _openstack(self) -> dict[str, object]:
        """OpenStack's meta_data.json, asked once; empty when there is none."""
        import httpx  # only when network discovery is asked for

        if self._metadata is None:
            self._metadata = {}
            base = self.settings.discovery.openstack_url.rstrip("/")
            url = f"{base}/openstack/latest/meta_data.json"
            try:
                with httpx.Client(
                    timeout=min(self.timeout, mjf.DISCOVERY_TIMEOUT), follow_redirects=True
                ) as client:
                    response = client.get(url)
                response.raise_for_status()
                document = response.json()
            except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
                reason = (str(exc) or type(exc).__name__).splitlines()[0]
                self._metadata_problem = f"; {url}: {reason}"
            else:
                if isinstance(document, dict):
                    self._metadata = document
                else:
                    self._metadata_problem = f"; {url}: not a JSON object"
        return self._metadata


def _is_location(value: str) -> bool:
    return value.startswith(("/", "http://", "https://"))
