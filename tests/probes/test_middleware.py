"""check_wn_middleware against real trust stores, CRLs and proxies made with cryptography."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.conftest import requires_root, run_probe
from tests.nagios import PluginOutput
from tests.probes.hangfs import HangingMount
from vmsam.demo.simulate import VMLayout, grid
from vmsam.demo.simulate import mjf as simulated_mjf
from vmsam.demo.simulate._mounts import Mounter
from vmsam.demo.simulate.grid import HOUR, CertificateAuthority, GridRoot

SCRIPT = "check_wn_middleware"
VO = "lhcb"


@dataclass
class Tree:
    """A grid root with a healthy trust store, and where a proxy and MJF may go."""

    root: Path
    grid: GridRoot
    proxy: Path
    machinefeatures: Path
    jobfeatures: Path

    def args(self, *extra: str) -> list[str]:
        return ["--grid-root", str(self.root), "--vo", VO, "--no-discovery", *extra]

    def proxy_args(self, lifetime: timedelta, *extra: str) -> list[str]:
        grid.write_proxy(self.proxy, lifetime)
        return self.args("--proxy", str(self.proxy), *extra)

    def mjf_args(self, *, shutdowntime: float | None, shutdowntime_job: float | None) -> list[str]:
        now = time.time()
        machine = {"total_cpu": "8"}
        job = {"allocated_cpu": "8"}
        if shutdowntime is not None:
            machine["shutdowntime"] = str(int(now + shutdowntime))
        if shutdowntime_job is not None:
            job["shutdowntime_job"] = str(int(now + shutdowntime_job))
        simulated_mjf.write_features(self.machinefeatures, machine)
        simulated_mjf.write_features(self.jobfeatures, job)
        return [
            "--machinefeatures",
            str(self.machinefeatures),
            "--jobfeatures",
            str(self.jobfeatures),
        ]


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    root = tmp_path / "cvmfs" / "grid.cern.ch"
    store = GridRoot(root)
    for alias in ("CERN-Root-2", "CERN-GridCA"):
        store.add_ca(CertificateAuthority.create(alias), crl_next_update=grid.now() + 72 * HOUR)
    store.add_lsc(VO, "voms-lhcb-auth.cern.ch", CertificateAuthority.create("CERN-GridCA"))
    store.add_vomses(VO, "voms-lhcb-auth.cern.ch")
    store.add_setup_script()
    return Tree(
        root,
        store,
        tmp_path / "root" / "x509proxy.pem",
        tmp_path / "etc" / "machinefeatures",
        tmp_path / "etc" / "jobfeatures",
    )


def middleware(args: list[str], *, timeout: float = 60) -> PluginOutput:
    output = run_probe(SCRIPT, args, timeout=timeout)
    assert output.service == "WN-MIDDLEWARE"
    return output


def line_with(output: PluginOutput, text: str) -> str:
    matches = [line for line in output.long_output if text in line]
    assert matches, f"no long output line has {text!r}:\n{output.text}"
    return matches[0]


# --- the simulated VM ---------------------------------------------------------------------------


@pytest.mark.parametrize("healthy", [True, False])
def test_simulated_vm(tmp_path: Path, healthy: bool) -> None:
    layout = VMLayout(tmp_path / "vm")
    layout.root.mkdir()
    mounter = Mounter(layout.root, real=False)
    args = grid.simulate(layout, mounter, healthy=healthy)
    simulated_mjf.simulate(layout, mounter, healthy=True)

    output = middleware(args)

    if healthy:
        assert output.state == "OK", output.text
        assert output.perfdata["cas"].value == 3
        assert output.perfdata["stale_crls"].value == 0
        assert 47 < output.perfdata["proxy_hours_left"].value <= 48
        assert "3 CAs" in output.summary
        # every check is in long output, one line each, OK ones included
        assert sum(line.startswith("OK: CRL of ") for line in output.long_output) == 3
        assert line_with(output, "beyond the VM's shutdown (MJF shutdowntime_job")
    else:
        assert output.state == "CRITICAL", output.text
        assert output.perfdata["stale_crls"].value == 2
        assert output.perfdata["proxy_hours_left"].value < 0
        assert line_with(output, "CRL of CERN-GridCA").startswith("CRITICAL:")
        assert "missing" in line_with(output, "CRL of UKeScienceCA-2B")
        assert line_with(output, "no vomses entry for VO lhcb").startswith("WARNING:")
        assert "expired" in line_with(output, "x509proxy.pem")


# --- the trust store ----------------------------------------------------------------------------


def test_healthy_tree_without_proxy_is_ok(tree: Tree) -> None:
    output = middleware(tree.args())
    assert output.state == "OK", output.text
    assert output.perfdata["cas"].value == 2
    assert output.perfdata["cas"].crit == "1:"
    assert "proxy_hours_left" not in output.perfdata
    assert line_with(output, "no --proxy given")
    assert line_with(output, "setup script umd-4/etc/profile.d/setup-wn-example.sh")


def test_expired_crl_is_critical(tree: Tree) -> None:
    tree.grid.add_ca(CertificateAuthority.create("Expired-CA"), crl_next_update=grid.now() - HOUR)
    output = middleware(tree.args())
    assert output.state == "CRITICAL"
    assert "CRL of Expired-CA" in output.summary
    assert "past nextUpdate 1.0 h ago" in output.summary
    assert output.perfdata["stale_crls"].value == 1


def test_crl_near_its_next_update_is_a_warning_by_the_threshold(tree: Tree) -> None:
    tree.grid.add_ca(CertificateAuthority.create("Soon-CA"), crl_next_update=grid.now() + 3 * HOUR)
    output = middleware(tree.args())
    assert output.state == "WARNING"
    assert "CRL of Soon-CA" in output.summary
    assert output.perfdata["stale_crls"].value == 0

    assert middleware(tree.args("--crl-warn-hours", "2")).state == "OK"


def test_ca_with_crl_url_but_no_crl_is_critical(tree: Tree) -> None:
    tree.grid.add_ca(CertificateAuthority.create("NoCRL-CA"), crl_next_update=None)
    output = middleware(tree.args())
    assert output.state == "CRITICAL"
    assert "CRL of NoCRL-CA missing" in output.summary
    assert output.perfdata["stale_crls"].value == 1


def test_ca_without_crl_url_needs_no_crl(tree: Tree) -> None:
    tree.grid.add_ca(CertificateAuthority.create("Offline-CA"), crl_next_update=None, crl_url=False)
    output = middleware(tree.args())
    assert output.state == "OK", output.text
    assert output.perfdata["cas"].value == 3
    assert line_with(output, "Offline-CA: no .crl_url")


def test_crls_pair_with_cas_by_issuer_not_by_file_name(tree: Tree) -> None:
    lone = CertificateAuthority.create("Lone-CA")
    tree.grid.add_ca(lone, crl_next_update=None)
    certificates = tree.grid.certificates
    # the CA's own CRL under a wrong name counts; another CA's CRL under its hash does not
    (certificates / "0badc0de.r0").write_bytes(
        lone.crl(grid.now() + 72 * HOUR).public_bytes(serialization.Encoding.PEM)
    )
    assert middleware(tree.args()).state == "OK"

    (certificates / "0badc0de.r0").unlink()
    other = CertificateAuthority.create("Other-CA")
    (certificates / f"{lone.hash}.r0").write_bytes(
        other.crl(grid.now() + 72 * HOUR).public_bytes(serialization.Encoding.PEM)
    )
    output = middleware(tree.args())
    assert output.state == "CRITICAL"
    assert "CRL of Lone-CA missing" in output.summary


def test_der_crl_is_read_too(tree: Tree) -> None:
    ca = CertificateAuthority.create("DER-CA")
    tree.grid.add_ca(ca, crl_next_update=None)
    (tree.grid.certificates / f"{ca.hash}.r0").write_bytes(
        ca.crl(grid.now() - HOUR).public_bytes(serialization.Encoding.DER)
    )
    output = middleware(tree.args())
    assert output.state == "CRITICAL"
    assert "CRL of DER-CA" in output.summary


def test_no_ca_is_critical(tree: Tree) -> None:
    for entry in tree.grid.certificates.iterdir():
        entry.unlink()
    output = middleware(tree.args())
    assert output.state == "CRITICAL"
    assert "no CA in" in output.summary
    assert output.perfdata["cas"].value == 0


def test_missing_grid_root_is_critical(tmp_path: Path) -> None:
    output = middleware(["--grid-root", str(tmp_path / "absent"), "--vo", VO])
    assert output.state == "CRITICAL"
    assert "no CA in" in output.summary
    assert "No such file or directory" in output.summary


def test_unparsable_ca_file_is_a_warning(tree: Tree) -> None:
    (tree.grid.certificates / "Broken-CA.pem").write_text("not a certificate\n")
    output = middleware(tree.args())
    assert output.state == "WARNING"
    assert "Broken-CA.pem" in output.summary


@pytest.mark.parametrize("fault", ["missing", "empty"])
def test_vomsdir_of_the_vo_missing_or_empty_is_critical(tree: Tree, fault: str) -> None:
    vomsdir = tree.grid.vomsdir / VO
    shutil.rmtree(vomsdir)
    if fault == "empty":
        vomsdir.mkdir()
    output = middleware(tree.args())
    assert output.state == "CRITICAL"
    assert f"vomsdir/{VO}" in output.summary
    assert ("is empty" if fault == "empty" else "missing") in output.summary


def test_vomses_without_the_vo_is_a_warning(tree: Tree) -> None:
    shutil.rmtree(tree.grid.vomses)
    output = middleware(tree.args())
    assert output.state == "WARNING"
    assert "no vomses" in output.summary

    tree.grid.add_vomses("dteam", "voms.hellasgrid.gr")
    output = middleware(tree.args())
    assert output.state == "WARNING"
    assert "no vomses entry for VO lhcb" in output.summary


def test_vomses_may_be_a_single_file(tree: Tree) -> None:
    shutil.rmtree(tree.grid.vomses)
    tree.grid.vomses.write_text(
        '"dteam" "voms.hellasgrid.gr" "15004" "/C=GR/O=HellasGrid/CN=voms" "dteam"\n'
        "# a comment\n"
        '"lhcb" "voms2.cern.ch" "15003" "/DC=ch/DC=cern/OU=computers/CN=voms2.cern.ch" "lhcb"\n'
    )
    output = middleware(tree.args())
    assert output.state == "OK", output.text
    assert line_with(output, "1 vomses entry for VO lhcb")


def test_no_setup_script_is_a_warning(tree: Tree) -> None:
    shutil.rmtree(tree.root / "umd-4")
    output = middleware(tree.args())
    assert output.state == "WARNING"
    assert "no WN/UI setup script" in output.summary

    tree.grid.add_setup_script("centos7-umd4-wn-4.0.5/etc/profile.d/setup-c7-wn-example.sh")
    assert middleware(tree.args()).state == "OK"


def test_hung_trust_store_is_critical_within_the_timeout(tree: Tree) -> None:
    # opening a FIFO nobody writes to blocks in the kernel, as a hung cvmfs read does
    os.mkfifo(tree.grid.certificates / "Hung-CA.pem")
    started = time.monotonic()
    output = middleware([*tree.args(), "--timeout", "3"], timeout=30)
    assert time.monotonic() - started < 8
    assert output.state == "CRITICAL"
    assert "trust store under" in output.summary
    assert "did not answer within 2.4 s" in output.summary


@requires_root
def test_grid_root_on_a_hung_fuse_mount_is_critical_within_the_timeout(
    tree: Tree, tmp_path: Path
) -> None:
    # unlike a FIFO, a request a FUSE daemon has received survives even SIGKILL: the probe
    # must still exit and end its output in time (run_probe waits for both)
    args = tree.proxy_args(48 * HOUR)
    with HangingMount(tmp_path / "hung" / "grid.cern.ch", tmp_path / "hang-now") as hanging:
        hanging.hang()
        args[args.index("--grid-root") + 1] = str(hanging.mountpoint)
        started = time.monotonic()
        output = middleware([*args, "--timeout", "3"], timeout=30)
        elapsed = time.monotonic() - started
    assert output.state == "CRITICAL", output.text
    assert output.summary == f"trust store under {hanging.mountpoint} did not answer within 2.4 s"
    # the proxy, elsewhere, is still judged
    assert line_with(output, "RFC 3820 proxy").startswith("OK:")
    assert elapsed < 8, f"took {elapsed:.1f} s with --timeout 3"


# --- the proxy ----------------------------------------------------------------------------------


def test_valid_proxy_without_mjf_is_judged_by_the_threshold(tree: Tree) -> None:
    output = middleware(tree.proxy_args(48 * HOUR))
    assert output.state == "OK", output.text
    assert 47 < output.perfdata["proxy_hours_left"].value <= 48
    assert output.perfdata["proxy_hours_left"].crit == "0:"
    proxy_line = line_with(output, "RFC 3820 proxy")
    assert "/DC=ch/DC=cern/OU=Users/CN=vmsam pilot" in proxy_line
    assert "VM shutdown time unknown" in proxy_line


def test_proxy_within_warn_hours_is_a_warning(tree: Tree) -> None:
    output = middleware(tree.proxy_args(3 * HOUR))
    assert output.state == "WARNING"
    assert "valid for 3.0 h (below 6 h), VM shutdown time unknown" in output.summary

    assert middleware(tree.proxy_args(3 * HOUR, "--proxy-warn-hours", "2")).state == "OK"


def test_proxy_expiring_before_the_vm_shutdown_is_a_warning(tree: Tree) -> None:
    args = tree.proxy_args(20 * HOUR)
    output = middleware([*args, *tree.mjf_args(shutdowntime=30 * 3600, shutdowntime_job=None)])
    assert output.state == "WARNING"
    assert "before the VM's shutdown (MJF shutdowntime in" in output.summary
    # the warning range moves to the shutdown: the proxy must last until then
    assert float(output.perfdata["proxy_hours_left"].warn.rstrip(":")) == pytest.approx(30, abs=0.1)


def test_vm_shutdown_is_the_earlier_of_machine_and_job(tree: Tree) -> None:
    args = tree.proxy_args(20 * HOUR)
    mjf = tree.mjf_args(shutdowntime=30 * 3600, shutdowntime_job=10 * 3600)
    output = middleware([*args, *mjf])
    assert output.state == "OK", output.text
    assert "beyond the VM's shutdown (MJF shutdowntime_job in" in line_with(output, "proxy")


def test_hung_mjf_server_falls_back_to_the_threshold(tree: Tree) -> None:
    args = tree.proxy_args(48 * HOUR)
    with simulated_mjf.MJFServer(tree.machinefeatures, tree.jobfeatures, hang=True) as server:
        output = middleware(
            [
                *args,
                "--timeout",
                "3",
                "--machinefeatures",
                server.machinefeatures_url,
                "--jobfeatures",
                server.jobfeatures_url,
            ],
            timeout=30,
        )
    assert output.state == "OK", output.text
    assert "did not answer within" in line_with(output, "VM shutdown time unknown")


def test_expired_proxy_is_critical(tree: Tree) -> None:
    output = middleware(tree.proxy_args(-2 * HOUR))
    assert output.state == "CRITICAL"
    assert "expired 2.0 h ago" in output.summary
    assert output.perfdata["proxy_hours_left"].value < -1.9


def test_proxy_that_is_not_a_chain_is_critical(tree: Tree) -> None:
    grid.write_proxy(tree.proxy, 48 * HOUR)
    stranger = CertificateAuthority.create("Stranger")
    with tree.proxy.open("ab") as handle:
        handle.write(stranger.certificate.public_bytes(serialization.Encoding.PEM))
    output = middleware(tree.args("--proxy", str(tree.proxy)))
    assert output.state == "CRITICAL"
    assert "is not a certificate chain" in output.summary


@pytest.mark.parametrize("fault", ["garbage", "key only", "missing", "directory", "hung"])
def test_unusable_proxy_is_critical(tree: Tree, fault: str) -> None:
    tree.proxy.parent.mkdir(parents=True, exist_ok=True)
    if fault == "garbage":
        tree.proxy.write_bytes(os.urandom(512))
    elif fault == "key only":
        pem = grid.proxy_pem(48 * HOUR)
        key = pem[pem.index(b"-----BEGIN EC PRIVATE KEY") :]
        tree.proxy.write_bytes(key[: key.index(b"-----BEGIN CERTIFICATE")])
    elif fault == "directory":
        tree.proxy.mkdir()
    elif fault == "hung":
        os.mkfifo(tree.proxy)
    output = middleware([*tree.args("--proxy", str(tree.proxy)), "--timeout", "3"], timeout=30)
    assert output.state == "CRITICAL"
    assert str(tree.proxy) in output.summary
    assert "proxy_hours_left" not in output.perfdata
    expected = {
        "garbage": "holds no PEM certificate",
        "key only": "holds no PEM certificate",
        "missing": "No such file or directory",
        "directory": "Is a directory",
        "hung": "did not answer within",
    }[fault]
    assert expected in output.summary


# --- the command line ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["--crl-warn-hours", "soon"],
        ["--proxy-warn-hours", "-1"],
        ["--no-such-option"],
        ["--timeout", "0"],
    ],
)
def test_bad_arguments_are_unknown(tmp_path: Path, args: list[str]) -> None:
    output = middleware(["--grid-root", str(tmp_path), *args])
    assert output.exit_code == 3
    assert output.state == "UNKNOWN"
    assert "bad arguments" in output.summary


# --- the simulation's own promises --------------------------------------------------------------


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_subject_hash_is_openssls(tmp_path: Path) -> None:
    ca = CertificateAuthority.create("  Mixed Case   CA ")
    pem = tmp_path / "ca.pem"
    pem.write_bytes(ca.certificate.public_bytes(serialization.Encoding.PEM))
    openssl = subprocess.run(
        ["openssl", "x509", "-noout", "-hash", "-in", str(pem)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert ca.hash == openssl.stdout.strip()


def test_simulated_proxy_is_an_rfc3820_proxy_signed_by_its_user() -> None:
    proxy, user = x509.load_pem_x509_certificates(grid.proxy_pem(HOUR))
    assert proxy.issuer == user.subject
    assert proxy.subject.rdns[:-1] == user.subject.rdns
    info = proxy.extensions.get_extension_for_oid(grid.PROXY_CERT_INFO)
    assert info.critical
    proxy.verify_directly_issued_by(user)


# --- unparsable files ----------------------------------------------------------------------------

LIBRARY_TEXT = ("Unable to load", "cryptography", "See https", "MalformedFraming")


def test_an_unparsable_crl_is_reported_as_unparsable_not_missing(tree: Tree) -> None:
    ca = CertificateAuthority.create("Garbled-CA")
    tree.grid.add_ca(ca, crl_next_update=grid.now() + 72 * HOUR)
    (tree.grid.certificates / f"{ca.hash}.r0").write_bytes(b"-----BEGIN X509 CRL-----\nxx\n")
    output = middleware(tree.args())
    assert output.state == "CRITICAL", output.text
    assert output.summary == f"CRL of Garbled-CA ({ca.hash}.r0) unparsable"
    assert line_with(output, "CRL of Garbled-CA").startswith("CRITICAL: ")
    assert "missing" not in output.text
    assert output.perfdata["stale_crls"].value == 1
    assert not any(text in output.text for text in LIBRARY_TEXT), output.text


def test_an_unparsable_crl_of_no_ca_is_a_warning_naming_the_file(tree: Tree) -> None:
    (tree.grid.certificates / "0badc0de.r0").write_bytes(os.urandom(64))
    output = middleware(tree.args())
    assert output.state == "WARNING", output.text
    assert output.summary == "unparsable in the trust store: 0badc0de.r0 (not a PEM or DER CRL)"
    assert output.perfdata["stale_crls"].value == 0


def test_an_unparsable_ca_file_is_said_without_the_librarys_message(tree: Tree) -> None:
    (tree.grid.certificates / "Broken-CA.pem").write_text("not a certificate\n")
    output = middleware(tree.args())
    assert output.summary == "unparsable in the trust store: Broken-CA.pem (not a PEM certificate)"
    assert not any(text in output.text for text in LIBRARY_TEXT), output.text


# --- thresholds as Nagios ranges -----------------------------------------------------------------


def test_crl_ranges_decide_the_state(tree: Tree) -> None:
    # the CRLs have 72 h left
    output = middleware(tree.args("--crl-warning", "80:"))
    assert output.state == "WARNING", output.text
    assert "nextUpdate in 72.0 h (below 80 h)" in output.summary
    output = middleware(tree.args("--crl-warning", "100:", "--crl-critical", "80:"))
    assert output.state == "CRITICAL", output.text
    assert "(below 80 h)" in output.summary
    assert middleware(tree.args("--crl-warning", "@70:75")).state == "WARNING"
    assert middleware(tree.args("--crl-warning", "@60:70")).state == "OK"


def test_the_old_crl_option_means_a_lower_bound(tree: Tree) -> None:
    tree.grid.add_ca(CertificateAuthority.create("Soon-CA"), crl_next_update=grid.now() + 3 * HOUR)
    for hours_left, state in (("4", "WARNING"), ("2", "OK")):
        old = middleware(tree.args("--crl-warn-hours", hours_left))
        new = middleware(tree.args("--crl-warning", f"{hours_left}:"))
        assert old.state == new.state == state, old.text
        assert old.summary == new.summary


def test_proxy_ranges_decide_the_state_and_go_to_perfdata(tree: Tree) -> None:
    output = middleware(tree.proxy_args(48 * HOUR, "--proxy-warning", "50:"))
    assert output.state == "WARNING", output.text
    assert "(below 50 h)" in output.summary
    assert output.perfdata["proxy_hours_left"].warn == "50:"
    output = middleware(
        tree.proxy_args(48 * HOUR, "--proxy-critical", "49:", "--proxy-warning", "50:")
    )
    assert output.state == "CRITICAL", output.text
    assert output.perfdata["proxy_hours_left"].crit == "49:"


@pytest.mark.parametrize(
    "args",
    [
        ["--crl-warning", "soon"],
        ["--crl-warning", "9:5"],
        ["--proxy-critical", "12:"],  # alerts before the default warning range 6:
        ["--jobfeatures", "etc/jobfeatures"],
        ["--machinefeatures", "relative/machinefeatures"],
    ],
)
def test_bad_ranges_and_relative_mjf_locations_are_unknown(tmp_path: Path, args: list[str]) -> None:
    output = middleware(["--grid-root", str(tmp_path), *args])
    assert (output.exit_code, output.state) == (3, "UNKNOWN")
    assert output.summary.startswith("bad arguments:")
    assert output.long_output == []


def test_no_semicolon_in_the_status_line(tmp_path: Path) -> None:
    layout = VMLayout(tmp_path / "vm")
    layout.root.mkdir()
    mounter = Mounter(layout.root, real=False)
    output = middleware(grid.simulate(layout, mounter, healthy=False))
    assert output.state == "CRITICAL", output.text
    assert output.summary.count(" - ") == 3  # three problems named, the rest counted
    assert output.summary.endswith(" - and 1 more")
    assert ";" not in output.summary
    assert all(
        line.split(": ", 1)[0] in {"OK", "WARNING", "CRITICAL"} for line in output.long_output
    )
