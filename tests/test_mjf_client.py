"""The MJF client against real directories and real Vac-style HTTP servers on loopback."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.net import free_port
from vmsam.demo.simulate.mjf import MJFServer, write_features
from vmsam.vm.mjf import (
    DirectoryFeatures,
    Features,
    HTTPFeatures,
    MJFError,
    MJFTimeout,
    discover,
    open_features,
)

MACHINE = {"total_cpu": "8", "hs06": "84.0", "shutdowntime": "2000000000"}
JOB = {"allocated_cpu": "4", "job_id": "abc-123", "wall_limit_secs": "3600"}


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    machine, job = tmp_path / "mf", tmp_path / "jf"
    write_features(machine, MACHINE)
    write_features(job, JOB)
    return machine, job


@pytest.fixture
def server(dirs: tuple[Path, Path]) -> Iterator[MJFServer]:
    with MJFServer(*dirs) as running:
        yield running


def refused_url() -> str:
    """A loopback URL where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"


# --- directories -------------------------------------------------------------------------


def test_directory_values_are_stripped_and_absent_keys_are_none(dirs: tuple[Path, Path]) -> None:
    machine = open_features(str(dirs[0]))
    assert isinstance(machine, DirectoryFeatures)
    assert (dirs[0] / "total_cpu").read_text() == "8\n"
    assert machine.get("total_cpu") == "8"
    assert machine.get("hs06") == "84.0"
    assert machine.get("jobslots") is None


def test_directory_keys_list_files_only(dirs: tuple[Path, Path]) -> None:
    (dirs[0] / "subdir").mkdir()
    (dirs[0] / ".hidden").write_text("x")
    assert open_features(str(dirs[0]) + "/").keys() == sorted(MACHINE)


def test_missing_directory_is_an_error_not_an_absent_key(tmp_path: Path) -> None:
    features = open_features(str(tmp_path / "nowhere"))
    with pytest.raises(MJFError, match="no such directory"):
        features.get("total_cpu")
    with pytest.raises(MJFError):
        features.keys()


def test_unreadable_key_is_an_error(dirs: tuple[Path, Path]) -> None:
    (dirs[0] / "grace_secs").mkdir()
    with pytest.raises(MJFError, match="grace_secs"):
        open_features(str(dirs[0])).get("grace_secs")


def test_key_names_cannot_escape_the_directory(dirs: tuple[Path, Path]) -> None:
    with pytest.raises(ValueError, match="key"):
        open_features(str(dirs[0])).get("../jf/job_id")


@pytest.mark.parametrize("location", ["etc/machinefeatures", "ftp://host/mf", ""])
def test_open_features_rejects_other_locations(location: str) -> None:
    with pytest.raises(MJFError, match="not a directory path or http"):
        open_features(location)


# --- HTTP --------------------------------------------------------------------------------


def test_http_values_are_fetched_by_name_and_404_is_absent(server: MJFServer) -> None:
    machine = open_features(server.machinefeatures_url)
    assert isinstance(machine, HTTPFeatures)
    assert machine.get("total_cpu") == "8"
    assert machine.get("jobslots") is None
    assert "/machinefeatures/total_cpu" in server.requests
    assert "/machinefeatures/jobslots" in server.requests


def test_http_redirects_are_followed(server: MJFServer) -> None:
    moved = open_features(server.url + "/moved/jobfeatures")
    assert moved.get("job_id") == "abc-123"
    assert server.requests[-2:] == ["/moved/jobfeatures/job_id", "/jobfeatures/job_id"]


def test_http_keys_come_from_the_index_links(server: MJFServer) -> None:
    assert open_features(server.jobfeatures_url + "/").keys() == sorted(JOB)


def test_http_index_of_a_set_that_is_not_served_is_an_error(server: MJFServer) -> None:
    with pytest.raises(MJFError, match="404"):
        open_features(server.url + "/nothing").keys()


def test_connection_refused_is_an_error_but_not_a_timeout() -> None:
    with pytest.raises(MJFError) as caught:
        open_features(refused_url() + "/machinefeatures", timeout=2).get("total_cpu")
    assert not isinstance(caught.value, MJFTimeout)


def test_never_answering_server_times_out_within_the_timeout(tmp_path: Path) -> None:
    with MJFServer(hang=True) as hung:
        features = open_features(hung.machinefeatures_url, timeout=1)
        started = time.monotonic()
        with pytest.raises(MJFTimeout, match="did not answer within 1 s"):
            features.get("total_cpu")
        assert time.monotonic() - started < 5


class _IndexHandler(BaseHTTPRequestHandler):
    """An index page in the shapes other servers write: absolute, full, query links."""

    def do_GET(self) -> None:
        page = (
            '<a href="../">up</a> <a href="?C=N;O=D">sort</a>'
            '<a href="/mf/total_cpu">total_cpu</a>'
            f'<a href="http://{self.headers["Host"]}/mf/hs06">hs06</a>'
            '<a href="./shutdowntime">shutdowntime</a>'
            '<a href="/elsewhere/job_id">job_id</a> <a href="sub/x">x</a>'
        ).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, *args: object) -> None:
        pass


def test_index_links_of_any_shape_within_the_directory_are_keys() -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _IndexHandler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        host, port = httpd.server_address[:2]
        keys = open_features(f"http://{host!s}:{port}/mf").keys()
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert keys == ["hs06", "shutdowntime", "total_cpu"]


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: str,
    signer: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    return builder.sign(signer, hashes.SHA256())


@pytest.fixture
def grid_tls(tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    """A server context signed by a test CA, and an IGTF-style directory trusting that CA."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    host_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("Test Grid CA", ca_key, "Test Grid CA", ca_key, ca=True)
    host = _certificate("127.0.0.1", host_key, "Test Grid CA", ca_key, ca=False)
    pem = serialization.Encoding.PEM
    (tmp_path / "host.pem").write_bytes(host.public_bytes(pem))
    (tmp_path / "hostkey.pem").write_bytes(
        host_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    certificates = tmp_path / "certificates"
    certificates.mkdir()
    (certificates / "TestGridCA.pem").write_bytes(ca.public_bytes(pem))
    # the hash link OpenSSL's capath lookup needs; cryptography cannot compute the hash
    subject_hash = subprocess.run(
        ["openssl", "x509", "-subject_hash", "-noout", "-in", str(certificates / "TestGridCA.pem")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (certificates / f"{subject_hash}.0").symlink_to("TestGridCA.pem")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "host.pem", tmp_path / "hostkey.pem")
    return context, certificates


def test_https_trusts_the_grid_ca_directory(
    grid_tls: tuple[ssl.SSLContext, Path],
    dirs: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    context, certificates = grid_tls
    with MJFServer(*dirs, tls=context) as server:
        assert server.url.startswith("https://")
        monkeypatch.setenv("X509_CERT_DIR", str(certificates.parent / "empty"))
        with pytest.raises(MJFError, match="CERTIFICATE_VERIFY_FAILED"):
            open_features(server.machinefeatures_url).get("total_cpu")
        monkeypatch.setenv("X509_CERT_DIR", str(certificates))
        assert open_features(server.machinefeatures_url).get("total_cpu") == "8"


# --- Features ----------------------------------------------------------------------------


def test_get_int_is_none_when_absent_or_not_an_int(dirs: tuple[Path, Path]) -> None:
    features = Features(DirectoryFeatures(str(dirs[0])), None)
    assert features.get_int("machine", "total_cpu") == 8
    assert features.get_int("machine", "hs06") is None
    assert features.get_int("machine", "jobslots") is None
    assert features.get_int("job", "allocated_cpu") is None
    assert features.get_float("machine", "hs06") == 84.0


def test_get_int_raises_when_the_source_is_unreadable() -> None:
    with MJFServer(hang=True) as hung:
        features = Features(open_features(hung.machinefeatures_url, timeout=0.5), None)
        with pytest.raises(MJFError):
            features.get_int("machine", "shutdowntime")


# --- discovery ---------------------------------------------------------------------------


def no_discovery(**kwargs: object) -> Features:
    return discover(discovery=False, **kwargs)  # type: ignore[arg-type]


def test_arguments_come_before_the_environment(dirs: tuple[Path, Path], tmp_path: Path) -> None:
    environ = {"MACHINEFEATURES": str(tmp_path / "env-mf"), "JOBFEATURES": str(tmp_path / "x")}
    found = no_discovery(
        machinefeatures=str(dirs[0]), environ=environ, etc_dir=str(tmp_path / "no-etc")
    )
    assert found.machine is not None and found.machine.location == str(dirs[0])
    assert found.machine.found_by == "option"
    assert found.job is not None and found.job.location == str(tmp_path / "x")
    assert found.job.found_by == "environment"


def test_environment_comes_before_etc(dirs: tuple[Path, Path], tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    write_features(etc / "machinefeatures", {"total_cpu": "1"})
    write_features(etc / "jobfeatures", {"allocated_cpu": "1"})
    environ = {"MACHINEFEATURES": str(dirs[0]), "JOBFEATURES": ""}
    found = no_discovery(environ=environ, etc_dir=str(etc))
    assert found.get("machine", "total_cpu") == "8"
    # empty means not supplied, as in Vac's user_data
    assert found.job is not None and found.job.location == str(etc / "jobfeatures")
    assert found.get("job", "allocated_cpu") == "1"


def test_etc_only_counts_directories(tmp_path: Path) -> None:
    write_features(tmp_path / "machinefeatures", {"total_cpu": "2"})
    (tmp_path / "jobfeatures").write_text("not a directory")
    found = no_discovery(environ={}, etc_dir=str(tmp_path))
    assert found.machine is not None and found.machine.found_by == str(tmp_path)
    assert found.job is None


def test_vac_server_is_found_when_nothing_local(server: MJFServer, tmp_path: Path) -> None:
    found = discover(
        environ={}, etc_dir=str(tmp_path), vac_url=server.url, openstack_url=refused_url()
    )
    assert isinstance(found.machine, HTTPFeatures) and found.machine.found_by == "vac"
    assert found.machine.location == server.machinefeatures_url
    assert found.get_int("job", "allocated_cpu") == 4


def test_openstack_meta_fills_what_vac_lacks(dirs: tuple[Path, Path], tmp_path: Path) -> None:
    with (
        MJFServer(dirs[0], None) as vac,
        MJFServer(meta={"jobfeatures": str(dirs[1]), "machinefeatures": "/wrong"}) as openstack,
    ):
        found = discover(
            environ={}, etc_dir=str(tmp_path), vac_url=vac.url, openstack_url=openstack.url
        )
    assert found.machine is not None and found.machine.found_by == "vac"
    assert found.job is not None and found.job.found_by == "openstack"
    assert found.get("job", "job_id") == "abc-123"
    assert "/openstack/latest/meta_data.json" in openstack.requests


def test_no_discovery_sends_nothing(server: MJFServer, tmp_path: Path) -> None:
    found = discover(
        environ={},
        etc_dir=str(tmp_path),
        discovery=False,
        vac_url=server.url,
        openstack_url=server.url,
    )
    assert found == Features(None, None)
    assert server.requests == []


def test_local_sets_skip_the_network(dirs: tuple[Path, Path], server: MJFServer) -> None:
    discover(str(dirs[0]), str(dirs[1]), environ={}, vac_url=server.url, openstack_url=server.url)
    assert server.requests == []


def test_silent_servers_mean_not_found_within_the_discovery_timeout(tmp_path: Path) -> None:
    with MJFServer(hang=True) as vac, MJFServer(hang=True) as openstack:
        started = time.monotonic()
        found = discover(
            environ={},
            etc_dir=str(tmp_path),
            vac_url=vac.url,
            openstack_url=openstack.url,
            discovery_timeout=0.5,
        )
        elapsed = time.monotonic() - started
    assert found == Features(None, None)
    assert elapsed < 5


def test_unreachable_servers_mean_not_found(tmp_path: Path) -> None:
    found = discover(
        environ={}, etc_dir=str(tmp_path), vac_url=refused_url(), openstack_url=refused_url()
    )
    assert found == Features(None, None)
