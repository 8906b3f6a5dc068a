"""VM context discovery, each source in its order (docs/configuration.md, [vm] and [paths]),
with real directories and loopback HTTP servers standing in for Vac's and OpenStack's
metadata services."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support.net import free_port
from vmsam.demo.simulate.mjf import MJFServer, job_features, machine_features, write_features
from vmsam.shared.config import Settings, with_overrides
from vmsam.vm.context import VAC, VCYCLE, discover_context

UUID = "5b1a3b5e-2f4a-4c61-9b7e-0d3c2a1f9e88"
OTHER_UUID = "0f6c1f7e-8a0e-4d39-a1f2-6b7c8d9e0a1b"


class MetadataServer:
    """OpenStack's metadata service on 127.0.0.1: only ``meta_data.json``, as given."""

    def __init__(self, document: object) -> None:
        self.document = document
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                if self.path != "/openstack/latest/meta_data.json":
                    self.send_error(404)
                    return
                body = json.dumps(server.document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> MetadataServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._thread.join()
        self._httpd.server_close()


@pytest.fixture
def closed_url() -> str:
    """A loopback URL where nothing listens: connections are refused at once."""
    return f"http://127.0.0.1:{free_port()}"


def make_settings(
    tmp_path: Path,
    *,
    vm: Mapping[str, str] | None = None,
    paths: Mapping[str, object] | None = None,
    discovery: Mapping[str, object] | None = None,
) -> Settings:
    """Settings that look only inside ``tmp_path`` and, by default, ask no network."""
    (tmp_path / "etc").mkdir(exist_ok=True)
    return with_overrides(
        Settings(),
        vm=vm or {},
        paths={
            "etc_dir": str(tmp_path / "etc"),
            "joboutputs_dirs": [str(tmp_path / "spool-joboutputs"), str(tmp_path / "mo")],
            **(paths or {}),
        },
        discovery={"network": False, **(discovery or {})},
    )


def features(tmp_path: Path, job: dict[str, str] | None = None) -> dict[str, str]:
    """Machine and job feature directories as Vac writes them; their [paths] settings."""
    now = int(time.time())
    write_features(tmp_path / "mf", machine_features(now))
    write_features(tmp_path / "jf", job_features(now, UUID) if job is None else job)
    return {"machinefeatures": str(tmp_path / "mf"), "jobfeatures": str(tmp_path / "jf")}


def test_everything_configured_is_taken_as_it_is(tmp_path: Path) -> None:
    vm = {
        "space": "vac01.tier2.example.ac.uk",
        "site": "UKI-EXAMPLE",
        "uuid": OTHER_UUID,
        "hostname": "vm17.example.ac.uk",
        "machinetype": "lhcb-pilot",
        "vo": "lhcb",
        "fqan": "/lhcb/Role=pilot",
        "service_type": "org.example.flavour",
        "manager_version": "Vac 03.01",
    }
    paths = {**features(tmp_path), "joboutputs": str(tmp_path / "out")}
    context = discover_context(make_settings(tmp_path, vm=vm, paths=paths), environ={})
    assert context.space == "vac01.tier2.example.ac.uk"
    assert context.site == "UKI-EXAMPLE"
    assert context.uuid == OTHER_UUID  # configuration before jobfeatures job_id
    assert context.hostname == "vm17.example.ac.uk"
    assert context.machinetype == "lhcb-pilot"
    assert context.vo == "lhcb"
    assert context.fqan == "/lhcb/Role=pilot"
    assert context.service_type == "org.example.flavour"
    assert context.manager_version == "Vac 03.01"
    assert context.machinefeatures == str(tmp_path / "mf")
    assert context.jobfeatures == str(tmp_path / "jf")
    assert context.joboutputs == str(tmp_path / "out")
    assert context.problems == ()
    assert context.publishable() is None
    assert context.sources["uuid"] == "configuration"
    assert context.features.machine is not None
    assert context.features.machine.get("total_cpu") == "8"


def test_uuid_from_jobfeatures_job_id(tmp_path: Path) -> None:
    context = discover_context(make_settings(tmp_path, paths=features(tmp_path)), environ={})
    assert context.uuid == UUID
    assert context.sources["uuid"] == "jobfeatures job_id"


def test_uuid_from_openstack_metadata_after_jobfeatures(tmp_path: Path) -> None:
    job = {"allocated_cpu": "1"}
    with MetadataServer({"uuid": OTHER_UUID, "meta": {}}) as openstack:
        settings = make_settings(
            tmp_path,
            paths=features(tmp_path, job),
            discovery={"network": True, "openstack_url": openstack.url, "vac_url": openstack.url},
        )
        context = discover_context(settings, environ={})
    assert context.uuid == OTHER_UUID
    assert context.sources["uuid"] == "OpenStack metadata uuid"
    # a job_id, when present, comes first
    with MetadataServer({"uuid": OTHER_UUID}) as openstack:
        settings = make_settings(
            tmp_path,
            paths=features(tmp_path),
            discovery={"network": True, "openstack_url": openstack.url, "vac_url": openstack.url},
        )
        assert discover_context(settings, environ={}).uuid == UUID


def test_no_network_discovery_asks_no_server(tmp_path: Path) -> None:
    with MetadataServer({"uuid": OTHER_UUID}) as openstack:
        settings = make_settings(
            tmp_path,
            discovery={"network": False, "openstack_url": openstack.url, "vac_url": openstack.url},
        )
        context = discover_context(settings, environ={})
    assert openstack.requests == []
    assert context.uuid is None
    assert any(p.startswith("no VM UUID") for p in context.problems)


def test_vcycle_bug_uuid_in_jobstart_secs_is_taken_and_noted(tmp_path: Path) -> None:
    job = job_features(int(time.time()), UUID)
    del job["job_id"]
    job["jobstart_secs"] = UUID + "\n"
    context = discover_context(make_settings(tmp_path, paths=features(tmp_path, job)), environ={})
    assert context.uuid == UUID
    assert context.sources["uuid"] == "jobfeatures jobstart_secs"
    assert any("Vcycle" in p and "jobstart_secs" in p for p in context.problems)


def test_a_number_in_jobstart_secs_is_not_a_uuid(tmp_path: Path) -> None:
    job = job_features(int(time.time()), UUID)
    del job["job_id"]
    context = discover_context(make_settings(tmp_path, paths=features(tmp_path, job)), environ={})
    assert context.uuid is None
    assert not any("Vcycle" in p for p in context.problems)


def test_vcycle_mjf_url_gives_the_space_and_site(tmp_path: Path, closed_url: str) -> None:
    url = f"{closed_url.replace('http:', 'https:')}/machines/vcycle.example.ac.uk/vm-42"
    settings = make_settings(tmp_path, paths={"machinefeatures": f"{url}/machinefeatures"})
    context = discover_context(settings, environ={})
    assert context.space == "vcycle.example.ac.uk"
    assert context.site == "example.ac.uk"
    assert context.sources["space"].startswith("Vcycle URL")
    # the same from $JOBFEATURES
    context = discover_context(
        make_settings(tmp_path), environ={"JOBFEATURES": f"{url}/jobfeatures"}
    )
    assert context.space == "vcycle.example.ac.uk"
    # a configured space wins
    settings = make_settings(
        tmp_path,
        vm={"space": "mine.example.org"},
        paths={"machinefeatures": f"{url}/machinefeatures"},
    )
    assert discover_context(settings, environ={}).space == "mine.example.org"


def test_a_vcycle_vm_found_through_openstack_metadata(tmp_path: Path, closed_url: str) -> None:
    """Vcycle: nothing configured but the VO; MJF and joboutputs are OpenStack meta keys
    (here on a server that refuses connections), the UUID is OpenStack's."""
    base = f"{closed_url.replace('http:', 'https:')}/machines/vc.example.org/vm-7"
    document = {
        "uuid": OTHER_UUID,
        "meta": {
            "machinefeatures": f"{base}/machinefeatures",
            "jobfeatures": f"{base}/jobfeatures",
            "joboutputs": f"{base}/joboutputs",
        },
    }
    with MetadataServer(document) as openstack:
        settings = make_settings(
            tmp_path,
            vm={"vo": "lhcb", "manager_version": "Vcycle 3.0"},
            discovery={"network": True, "openstack_url": openstack.url, "vac_url": closed_url},
        )
        context = discover_context(settings, environ={}, timeout=2)
    assert context.machinefeatures == f"{base}/machinefeatures"
    assert context.jobfeatures == f"{base}/jobfeatures"
    assert context.joboutputs == f"{base}/joboutputs"
    assert context.sources["joboutputs"] == "OpenStack metadata"
    assert context.uuid == OTHER_UUID
    assert context.space == "vc.example.org"
    assert context.site == "example.org"
    assert context.service_type == VCYCLE
    assert any(p.startswith("jobfeatures unreadable") for p in context.problems)
    assert context.publishable() is None


def test_mjf_from_a_vac_metadata_server(tmp_path: Path, closed_url: str) -> None:
    paths = features(tmp_path)
    with MJFServer(Path(paths["machinefeatures"]), Path(paths["jobfeatures"])) as vac:
        settings = make_settings(
            tmp_path, discovery={"network": True, "vac_url": vac.url, "openstack_url": closed_url}
        )
        context = discover_context(settings, environ={})
    assert context.machinefeatures == vac.machinefeatures_url
    assert context.jobfeatures == vac.jobfeatures_url
    assert context.sources["machinefeatures"] == "vac"
    assert context.uuid == UUID


def test_mjf_from_the_environment_and_from_etc(tmp_path: Path) -> None:
    paths = features(tmp_path)
    environ = {"MACHINEFEATURES": paths["machinefeatures"], "JOBFEATURES": paths["jobfeatures"]}
    context = discover_context(make_settings(tmp_path), environ=environ)
    assert context.machinefeatures == paths["machinefeatures"]
    assert context.sources["jobfeatures"] == "environment"
    now = int(time.time())
    write_features(tmp_path / "etc" / "machinefeatures", machine_features(now))
    write_features(tmp_path / "etc" / "jobfeatures", job_features(now, OTHER_UUID))
    context = discover_context(make_settings(tmp_path), environ={})
    assert context.jobfeatures == str(tmp_path / "etc" / "jobfeatures")
    assert context.uuid == OTHER_UUID


def test_a_location_that_is_not_a_path_or_url_is_reported_not_fatal(tmp_path: Path) -> None:
    paths = features(tmp_path)
    settings = make_settings(
        tmp_path, paths={"machinefeatures": "ftp://x/mf", "jobfeatures": paths["jobfeatures"]}
    )
    context = discover_context(settings, environ={"MACHINEFEATURES": "relative/dir"})
    assert context.machinefeatures is None
    assert context.jobfeatures == paths["jobfeatures"]
    assert context.uuid == UUID
    assert any("ftp://x/mf" in p for p in context.problems)
    assert any("$MACHINEFEATURES" in p for p in context.problems)


@pytest.mark.parametrize(
    ("version", "expected", "problem"),
    [
        ("Vac 03.01", VAC, False),
        ("vcycle 3.2.1", VCYCLE, False),
        ("Vcycle", VCYCLE, False),
        ("OpenNebula 6", VAC, True),
        ("", VAC, True),
    ],
)
def test_service_type_from_the_manager_version(
    tmp_path: Path, version: str, expected: str, problem: bool
) -> None:
    settings = make_settings(tmp_path, vm={"manager_version": version})
    context = discover_context(settings, environ={})
    assert context.service_type == expected
    assert any("service type" in p for p in context.problems) is problem


def test_joboutputs_in_order(tmp_path: Path, closed_url: str) -> None:
    local, legacy = tmp_path / "spool-joboutputs", tmp_path / "mo"
    legacy.mkdir()
    configured = {"joboutputs": "/configured/out"}
    with MetadataServer({"meta": {"joboutputs": "https://h/machines/s/m/joboutputs"}}) as meta:
        network = {"network": True, "openstack_url": meta.url, "vac_url": closed_url}

        def found(paths: Mapping[str, object], environ: dict[str, str]) -> str | None:
            settings = make_settings(tmp_path, paths=paths, discovery=network)
            return discover_context(settings, environ=environ).joboutputs

        assert found(configured, {"JOBOUTPUTS": "/env/out"}) == "/configured/out"
        assert found({}, {"JOBOUTPUTS": "/env/out"}) == "/env/out"
        assert found({}, {}) == "https://h/machines/s/m/joboutputs"
    settings = make_settings(tmp_path)
    assert discover_context(settings, environ={}).joboutputs == str(legacy)
    local.mkdir()
    assert discover_context(settings, environ={}).joboutputs == str(local)


def test_site_falls_back_to_the_space_minus_its_first_label(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, vm={"space": "vac01.tier2.example.ac.uk"})
    context = discover_context(settings, environ={})
    assert context.site == "tier2.example.ac.uk"
    assert context.sources["site"] == "space name"
    context = discover_context(make_settings(tmp_path, vm={"space": "localspace"}), environ={})
    assert context.site is None
    assert any(p.startswith("no site name") for p in context.problems)


def test_fqan_defaults_to_the_vo(tmp_path: Path) -> None:
    context = discover_context(make_settings(tmp_path, vm={"vo": "atlas"}), environ={})
    assert context.fqan == "/atlas"


def test_nothing_found_is_listed_and_nothing_published(tmp_path: Path) -> None:
    context = discover_context(make_settings(tmp_path), environ={})
    assert context.hostname == socket.getfqdn()
    for missing in (context.space, context.site, context.uuid, context.vo, context.fqan):
        assert missing is None
    assert context.machinetype is None
    assert context.machinefeatures is None
    assert context.jobfeatures is None
    assert context.joboutputs is None
    assert context.service_type == VAC
    problems = "\n".join(context.problems)
    for word in (
        "no space name",
        "no site name",
        "no VM UUID",
        "no VO",
        "no machinetype",
        "no machinefeatures",
        "no jobfeatures",
        "no joboutputs",
        "no manager version",
    ):
        assert word in problems
    assert all("\n" not in p for p in context.problems)
    reason = context.publishable()
    assert reason is not None
    assert "VO" in reason
    assert "space" in reason


def test_publishable_needs_both_vo_and_space(tmp_path: Path) -> None:
    only_space = make_settings(tmp_path, vm={"space": "a.example.org"})
    reason = discover_context(only_space, environ={}).publishable()
    assert reason is not None
    assert "VO" in reason
    assert "space" not in reason
    only_vo = make_settings(tmp_path, vm={"vo": "lhcb"})
    reason = discover_context(only_vo, environ={}).publishable()
    assert reason is not None
    assert "space" in reason
    assert "VO" not in reason


def test_silent_metadata_servers_do_not_hold_discovery(tmp_path: Path) -> None:
    with MJFServer(hang=True) as silent:
        settings = make_settings(
            tmp_path,
            discovery={"network": True, "vac_url": silent.url, "openstack_url": silent.url},
        )
        started = time.monotonic()
        context = discover_context(settings, environ={}, timeout=0.5)
        elapsed = time.monotonic() - started
    assert elapsed < 15  # three asks of at most 0.5 s each, with generous slack
    assert context.uuid is None
    uuid_problem = next(p for p in context.problems if p.startswith("no VM UUID"))
    assert "meta_data.json" in uuid_problem


def test_metadata_that_is_not_an_object_is_a_problem(tmp_path: Path, closed_url: str) -> None:
    with MetadataServer(["not", "an", "object"]) as openstack:
        settings = make_settings(
            tmp_path,
            discovery={"network": True, "openstack_url": openstack.url, "vac_url": closed_url},
        )
        context = discover_context(settings, environ={})
    assert context.uuid is None
    assert any("not a JSON object" in p for p in context.problems)
