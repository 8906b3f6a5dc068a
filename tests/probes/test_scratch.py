"""check_wn_scratch against real filesystems: tmpfs and loop-mounted ext4 (as root), a plain
directory, a read-only remount, a FUSE mount that hangs. Every output goes through the
Nagios grammar (run_probe)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import requires_root, run_probe
from tests.nagios import PluginOutput
from tests.probes.hangfs import HangingMount
from vmsam.demo.simulate import VMLayout
from vmsam.demo.simulate import scratch as simulated_scratch
from vmsam.demo.simulate._mounts import Mounter

SCRIPT = "check_wn_scratch"
MiB = 2**20
SIZE = 64 * MiB


class Mounts:
    """Real mounts made by a test, taken down again afterwards."""

    def __init__(self) -> None:
        self.made: list[Path] = []

    def tmpfs(self, path: Path, *options: str) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        opts = ",".join(options or (f"size={SIZE}",))
        subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], check=True)
        self.made.append(path)
        return path

    def close(self) -> None:
        for path in reversed(self.made):
            subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


@pytest.fixture
def mounts() -> Iterator[Mounts]:
    made = Mounts()
    yield made
    made.close()


class FakeVM:
    """A healthy scratch at ``root/scratch`` (the caller mounts it, or not) with its tables."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.scratch = root / "scratch"
        self.swaps = root / "swaps"
        self.cvmfs = root / "etc-cvmfs"
        self.jobfeatures = root / "jobfeatures"

    def furnish(self) -> FakeVM:
        self.scratch.mkdir(parents=True, exist_ok=True)
        self.scratch.chmod(0o1777)
        (self.scratch / "tmp").mkdir(exist_ok=True)
        (self.scratch / "tmp").chmod(0o1777)
        (self.scratch / "swapfile").write_bytes(b"\0" * 4096)
        self.list_swap(self.scratch / "swapfile")
        (self.scratch / "cvmfs-cache").mkdir(exist_ok=True)
        self.cvmfs.mkdir(parents=True, exist_ok=True)
        (self.cvmfs / "default.conf").write_text("CVMFS_CACHE_BASE=/var/lib/cvmfs\n")
        (self.cvmfs / "default.local").write_text(
            f'# CernVM puts the cache on scratch\nCVMFS_CACHE_BASE="{self.scratch}/cvmfs-cache"\n'
            "CVMFS_QUOTA_LIMIT=11000\n"
        )
        return self

    def list_swap(self, *entries: Path | str, kind: str = "file") -> None:
        lines = ["Filename\tType\tSize\tUsed\tPriority"]
        lines += [f"{entry}\t{kind}\t4\t0\t-2" for entry in entries]
        self.swaps.write_text("\n".join(lines) + "\n")

    def args(
        self, *extra: str, min_size_gb: str | None = "0.01", jobfeatures: str | None = None
    ) -> list[str]:
        args = [
            "--path",
            str(self.scratch),
            "--swaps-file",
            str(self.swaps),
            "--cvmfs-config-dir",
            str(self.cvmfs),
            "--write-mb",
            "1",
            "--no-discovery",
            "--jobfeatures",
            jobfeatures or str(self.jobfeatures),
        ]
        if min_size_gb is not None:
            args += ["--min-size-gb", min_size_gb]
        return [*args, *extra]

    def run(self, *extra: str, min_size_gb: str | None = "0.01") -> PluginOutput:
        return run_probe(SCRIPT, self.args(*extra, min_size_gb=min_size_gb))


@pytest.fixture
def vm(tmp_path: Path, mounts: Mounts) -> FakeVM:
    """A healthy scratch: its own 64 MiB tmpfs, furnished as on a CernVM pilot."""
    fake = FakeVM(tmp_path)
    mounts.tmpfs(fake.scratch)
    return fake.furnish()


def fill_to(path: Path, free_fraction: float) -> None:
    """Write real data until about ``free_fraction`` of the filesystem is left available."""
    vfs = os.statvfs(path)
    excess = vfs.f_bavail * vfs.f_frsize - int(free_fraction * vfs.f_blocks * vfs.f_frsize)
    with (path / "ballast").open("wb") as ballast:
        while excess > 0:
            chunk = min(excess, MiB)
            ballast.write(b"\xaa" * chunk)
            excess -= chunk


def use_inodes_until(path: Path, free: int) -> None:
    (path / "many").mkdir()
    index = 0
    while os.statvfs(path).f_favail > free:
        (path / "many" / str(index)).touch()
        index += 1


def listing(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*")}


# --- the simulated VM ----------------------------------------------------------------------


def write_cvmfs_config(layout: VMLayout) -> None:
    # what the cvmfs part of a simulated VM writes before scratch is mounted
    layout.cvmfs_config_dir.mkdir(parents=True, exist_ok=True)
    (layout.cvmfs_config_dir / "default.local").write_text(
        f"CVMFS_CACHE_BASE={layout.scratch}/cvmfs-cache\n"
    )


@requires_root
def test_simulated_healthy_scratch_on_loop_ext4_is_ok_with_perfdata(tmp_path: Path) -> None:
    layout = VMLayout(tmp_path)
    write_cvmfs_config(layout)
    mounter = Mounter(tmp_path, real=True)
    try:
        out = run_probe(SCRIPT, simulated_scratch.simulate(layout, mounter, healthy=True))
    finally:
        mounter.close()
    assert (out.state, out.service) == ("OK", "WN-SCRATCH"), out.text
    assert "its own filesystem" in out.summary
    assert out.perfdata["size"].uom == "B"
    # a sparse image of a real VM's size: over the default minimum of 40 GB, without MJF
    assert 40e9 <= out.perfdata["size"].value <= simulated_scratch.SIZE_BYTES
    assert out.perfdata["size"].crit == "40000000000:"
    assert out.perfdata["free"].uom == "%"
    assert (out.perfdata["free"].warn, out.perfdata["free"].crit) == ("10:", "5:")
    assert out.perfdata["free"].value > 90
    assert out.perfdata["inodes_free"].uom == "%"
    assert out.perfdata["write_MBps"].uom == ""
    assert out.perfdata["write_MBps"].value > 0
    # every check is listed, OK ones included
    assert len(out.long_output) == 9
    assert all(line.startswith("OK: ") for line in out.long_output)
    assert any("ext4 on /dev/loop" in line for line in out.long_output)
    assert any("cvmfs-cache is on scratch" in line for line in out.long_output)
    assert any("swapfile" in line for line in out.long_output)


@requires_root
def test_simulated_unhealthy_scratch_is_critical_with_every_fault_named(tmp_path: Path) -> None:
    layout = VMLayout(tmp_path)
    write_cvmfs_config(layout)
    mounter = Mounter(tmp_path, real=True)
    try:
        out = run_probe(SCRIPT, simulated_scratch.simulate(layout, mounter, healthy=False))
    finally:
        mounter.close()
    assert out.state == "CRITICAL", out.text
    assert "is not a mount point" in out.summary
    assert "mode 0755, not 1777" in out.summary
    assert "tmp is missing" in out.summary
    assert "no swap file" in out.summary


def test_simulated_scratch_without_mount_rights_has_the_roots_device(tmp_path: Path) -> None:
    layout = VMLayout(tmp_path)
    write_cvmfs_config(layout)
    mounter = Mounter(tmp_path, real=False)
    out = run_probe(SCRIPT, simulated_scratch.simulate(layout, mounter, healthy=True))
    assert out.state == "CRITICAL", out.text
    assert f"{layout.scratch} has the same device as /" in out.summary
    # listed in the private mounts table, so the string comparison alone would pass
    assert "not a mount point" not in out.text


# --- placement and size --------------------------------------------------------------------


@requires_root
def test_healthy_tmpfs_scratch_is_ok(vm: FakeVM) -> None:
    before = listing(vm.scratch)
    out = vm.run()
    assert out.state == "OK", out.text
    assert out.perfdata["size"].value == SIZE
    assert out.perfdata["size"].crit == "10000000:"
    assert "tmpfs on tmpfs" in out.text
    # the write test leaves nothing behind
    assert listing(vm.scratch) == before


def test_plain_directory_is_critical(tmp_path: Path) -> None:
    fake = FakeVM(tmp_path).furnish()
    out = fake.run()
    assert out.state == "CRITICAL", out.text
    assert f"{fake.scratch} is not a mount point" in out.summary


@requires_root
def test_bind_mount_from_the_root_filesystem_is_critical(tmp_path: Path) -> None:
    fake = FakeVM(tmp_path).furnish()
    source = tmp_path / "elsewhere"
    source.mkdir()
    subprocess.run(["mount", "--bind", str(source), str(fake.scratch)], check=True)
    try:
        out = fake.run("--root-path", str(tmp_path))
    finally:
        subprocess.run(["umount", "-l", str(fake.scratch)], check=False)
    assert out.state == "CRITICAL", out.text
    assert f"has the same device as {tmp_path}" in out.summary


@requires_root
def test_too_small_is_critical(vm: FakeVM) -> None:
    out = vm.run(min_size_gb="1")
    assert out.state == "CRITICAL", out.text
    assert "too small: size 67.1 MB, at least 1.0 GB required (--min-size-gb)" in out.summary
    assert out.perfdata["size"].crit == "1000000000:"


@requires_root
def test_minimum_size_from_mjf_scratch_limit_bytes(vm: FakeVM) -> None:
    vm.jobfeatures.mkdir()
    (vm.jobfeatures / "scratch_limit_bytes").write_text(f"{SIZE + 1}\n")
    out = vm.run(min_size_gb=None)
    assert out.state == "CRITICAL", out.text
    assert "(MJF scratch_limit_bytes)" in out.summary
    assert out.perfdata["size"].crit == f"{SIZE + 1}:"

    (vm.jobfeatures / "scratch_limit_bytes").write_text(f"{SIZE}\n")
    out = vm.run(min_size_gb=None)
    assert out.state == "OK", out.text
    assert any("(MJF scratch_limit_bytes)" in line for line in out.long_output)

    # the option wins over MJF
    out = vm.run(min_size_gb="0.1")
    assert out.state == "CRITICAL", out.text
    assert "(--min-size-gb)" in out.summary


@requires_root
@pytest.mark.parametrize(
    ("limit", "said"),
    [
        (None, "MJF unavailable"),
        ("", "no scratch_limit_bytes in"),
        ("lots", "'lots' is not a positive integer"),
    ],
)
def test_without_a_usable_mjf_limit_the_default_40_gb_applies(
    vm: FakeVM, limit: str | None, said: str
) -> None:
    if limit is not None:
        vm.jobfeatures.mkdir()
        if limit:
            (vm.jobfeatures / "scratch_limit_bytes").write_text(limit)
    out = vm.run(min_size_gb=None)
    assert out.state == "CRITICAL", out.text
    assert "at least 40.0 GB required (default, " in out.summary
    assert said in out.summary
    assert out.perfdata["size"].crit == "40000000000:"


@requires_root
def test_mjf_server_that_never_answers_costs_only_the_mjf_limit(vm: FakeVM) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()  # accepts connections, never answers
        url = f"http://127.0.0.1:{server.getsockname()[1]}/jobfeatures"
        started = time.monotonic()
        out = run_probe(SCRIPT, vm.args("-t", "3", min_size_gb=None, jobfeatures=url))
        elapsed = time.monotonic() - started
    assert out.state == "CRITICAL", out.text
    assert "at least 40.0 GB required (default, MJF unavailable: " in out.summary
    assert "did not answer within" in out.summary
    # everything else was still measured
    assert out.perfdata["write_MBps"].value > 0
    assert elapsed < 8


# --- free space and inodes -----------------------------------------------------------------


@requires_root
@pytest.mark.parametrize(
    ("left", "state", "said"),
    [(0.08, "WARNING", "below 10%"), (0.03, "CRITICAL", "below 5%")],
)
def test_nearly_full(vm: FakeVM, left: float, state: str, said: str) -> None:
    fill_to(vm.scratch, left)
    out = vm.run()
    assert out.state == state, out.text
    assert "free space" in out.summary
    assert said in out.summary
    assert out.perfdata["free"].value == pytest.approx(left * 100, abs=1)
    # the write test still fits and is not what failed
    assert out.perfdata["write_MBps"].value > 0


@requires_root
def test_free_thresholds_are_options(vm: FakeVM) -> None:
    fill_to(vm.scratch, 0.30)
    out = vm.run("--warn-free-pct", "40", "--crit-free-pct", "20")
    assert out.state == "WARNING", out.text
    assert "below 40%" in out.summary
    assert (out.perfdata["free"].warn, out.perfdata["free"].crit) == ("40:", "20:")


@requires_root
@pytest.mark.parametrize(
    ("free", "state", "said"),
    [(15, "WARNING", "below 10%"), (5, "CRITICAL", "below 5%")],
)
def test_inodes_nearly_exhausted(
    tmp_path: Path, mounts: Mounts, free: int, state: str, said: str
) -> None:
    fake = FakeVM(tmp_path)
    mounts.tmpfs(fake.scratch, f"size={SIZE}", "nr_inodes=200")
    fake.furnish()
    use_inodes_until(fake.scratch, free)
    out = fake.run()
    assert out.state == state, out.text
    assert f"free inodes {free / 2:.1f}% ({free} of 200), {said}" in out.summary
    assert out.perfdata["inodes_free"].value == pytest.approx(free / 2)
    assert out.perfdata["free"].value > 90


# --- permissions, swap, cvmfs cache --------------------------------------------------------


@requires_root
def test_wrong_mode_is_warning(vm: FakeVM) -> None:
    vm.scratch.chmod(0o755)
    out = vm.run()
    assert out.state == "WARNING", out.text
    assert f"{vm.scratch} has mode 0755, not 1777" in out.summary


@requires_root
def test_tmp_with_wrong_mode_is_warning(vm: FakeVM) -> None:
    (vm.scratch / "tmp").chmod(0o777)
    out = vm.run()
    assert out.state == "WARNING", out.text
    assert f"{vm.scratch}/tmp has mode 0777, not 1777" in out.summary


@requires_root
def test_no_tmp_is_warning(vm: FakeVM) -> None:
    (vm.scratch / "tmp").rmdir()
    out = vm.run()
    assert out.state == "WARNING", out.text
    assert f"{vm.scratch}/tmp is missing" in out.summary


@requires_root
def test_tmp_symlink_is_warning(vm: FakeVM, tmp_path: Path) -> None:
    (vm.scratch / "tmp").rmdir()
    (vm.scratch / "tmp").symlink_to(tmp_path)
    out = vm.run()
    assert out.state == "WARNING", out.text
    assert "tmp is a symlink, not a directory" in out.summary


@requires_root
def test_no_swap_is_warning(vm: FakeVM) -> None:
    vm.list_swap()
    out = vm.run()
    assert out.state == "WARNING", out.text
    assert f"no swap file on {vm.scratch} (swap in use: none)" in out.summary


@requires_root
def test_swap_elsewhere_is_warning(vm: FakeVM) -> None:
    vm.list_swap("/dev/vda2", kind="partition")
    out = vm.run()
    assert out.state == "WARNING", out.text
    assert "(swap in use: /dev/vda2)" in out.summary


@requires_root
def test_swap_file_reached_through_a_symlink_counts(vm: FakeVM, tmp_path: Path) -> None:
    link = tmp_path / "swap-link"
    link.symlink_to(vm.scratch / "swapfile")
    vm.list_swap(link)
    out = vm.run()
    assert out.state == "OK", out.text


@requires_root
def test_unreadable_swaps_table_is_unknown(vm: FakeVM) -> None:
    vm.swaps.unlink()
    out = vm.run()
    assert out.state == "UNKNOWN", out.text
    assert "cannot tell: swaps table unreadable" in out.summary


@requires_root
def test_cvmfs_cache_not_on_scratch_is_warning(vm: FakeVM, tmp_path: Path) -> None:
    (vm.cvmfs / "default.local").unlink()
    out = vm.run()
    assert out.state == "WARNING", out.text
    assert f"cvmfs cache /var/lib/cvmfs is not on {vm.scratch}" in out.summary


@requires_root
def test_cvmfs_default_local_overrides_default_d(vm: FakeVM, tmp_path: Path) -> None:
    (vm.cvmfs / "default.d").mkdir()
    (vm.cvmfs / "default.d" / "50-site.conf").write_text(
        f"export CVMFS_CACHE_BASE='{tmp_path}/cache'  # moved away\n"
    )
    # default.local (on scratch) is read after default.d
    assert vm.run().state == "OK"

    (vm.cvmfs / "default.local").unlink()
    out = vm.run()
    assert out.state == "WARNING", out.text
    assert f"cvmfs cache {tmp_path}/cache is not on" in out.summary


@requires_root
def test_a_repositorys_own_cvmfs_configuration_is_not_the_scratch_probes(
    vm: FakeVM, tmp_path: Path
) -> None:
    # config.d moves one repository's cache; check_wn_cvmfs judges that per repository
    for directory in ("config.d", "domain.d"):
        (vm.cvmfs / directory).mkdir()
    (vm.cvmfs / "config.d" / "lhcb.cern.ch.conf").write_text(f"CVMFS_CACHE_BASE={tmp_path}/cache\n")
    (vm.cvmfs / "domain.d" / "cern.ch.local").write_text(f"CVMFS_CACHE_BASE={tmp_path}/cache\n")
    out = vm.run()
    assert out.state == "OK", out.text
    assert any("cvmfs-cache is on scratch" in line for line in out.long_output)


@requires_root
def test_cvmfs_cache_not_configured_is_said_not_warned(vm: FakeVM) -> None:
    for config in vm.cvmfs.iterdir():
        config.unlink()
    out = vm.run()
    assert out.state == "OK", out.text
    assert any("cvmfs cache not configured" in line for line in out.long_output)


# --- write test ----------------------------------------------------------------------------


@requires_root
def test_read_only_scratch_fails_the_write_test(vm: FakeVM) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(vm.scratch)], check=True)
    out = vm.run()
    assert out.state == "CRITICAL", out.text
    assert "write test of 1 MB failed: Read-only file system" in out.summary
    assert "write_MBps" not in out.perfdata


@requires_root
def test_write_test_failing_midway_removes_its_file(vm: FakeVM) -> None:
    fill_to(vm.scratch, 0.06)
    before = listing(vm.scratch)
    out = vm.run("--write-mb", "8", "--crit-free-pct", "1", "--warn-free-pct", "1")
    assert out.state == "CRITICAL", out.text
    assert "write test of 8 MB failed: No space left on device" in out.summary
    assert listing(vm.scratch) == before


# --- the probe itself ----------------------------------------------------------------------


def test_missing_path_is_critical(tmp_path: Path) -> None:
    out = run_probe(SCRIPT, ["--path", str(tmp_path / "nope"), "--no-discovery"])
    assert out.state == "CRITICAL", out.text
    assert out.summary == f"{tmp_path}/nope does not exist"
    assert out.perfdata == {}


def test_path_that_is_a_file_is_critical(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    out = run_probe(SCRIPT, ["--path", str(tmp_path / "file"), "--no-discovery"])
    assert out.state == "CRITICAL", out.text
    assert "not a directory" in out.summary


@pytest.mark.parametrize(
    "args",
    [
        ["--write-mb", "0"],
        ["--write-mb", "many"],
        ["--min-size-gb", "-1"],
        ["--warn-free-pct", "120"],
        ["--warn-free-pct", "5", "--crit-free-pct", "10"],
        ["--timeout", "0"],
        ["--no-such-option"],
    ],
)
def test_bad_arguments_are_unknown(args: list[str]) -> None:
    out = run_probe(SCRIPT, args)
    assert (out.state, out.exit_code) == ("UNKNOWN", 3)
    assert out.summary.startswith("bad arguments: ")


@requires_root
def test_hung_scratch_is_critical_within_the_timeout(tmp_path: Path) -> None:
    # The probe's child stuck in a request the FUSE daemon has received cannot be killed;
    # it never had the probe's stdout, so the probe exits and its output ends, which is
    # what Nagios (and run_probe) waits for.
    with HangingMount(tmp_path / "scratch", tmp_path / "hang-now") as hanging:
        hanging.hang()
        started = time.monotonic()
        out = run_probe(
            SCRIPT,
            [
                "--path",
                str(hanging.mountpoint),
                "--timeout",
                "3",
                "--min-size-gb",
                "0.01",
                "--no-discovery",
            ],
            timeout=30,
        )
        elapsed = time.monotonic() - started
    assert out.state == "CRITICAL", out.text
    assert out.summary == f"{hanging.mountpoint} did not answer within 2.4 s"
    # nothing else was touched: every other part says it was skipped
    assert sum("not checked: no usable scratch" in line for line in out.long_output) == 4
    assert elapsed < 8, f"took {elapsed:.1f} s with --timeout 3"


# --- thresholds as Nagios ranges -----------------------------------------------------------


@requires_root
def test_short_free_ranges_give_the_results_of_the_old_options(vm: FakeVM) -> None:
    fill_to(vm.scratch, 0.30)
    new = vm.run("-w", "40:", "-c", "20:")
    old = vm.run("--warn-free-pct", "40", "--crit-free-pct", "20")
    assert new.state == old.state == "WARNING", new.text
    assert new.summary == old.summary
    assert (new.perfdata["free"].warn, new.perfdata["free"].crit) == ("40:", "20:")
    # the old options set the inodes' ranges too, the new ones only the free space's
    assert (old.perfdata["inodes_free"].warn, new.perfdata["inodes_free"].warn) == ("40:", "10:")

    out = vm.run("--free-warning", "40:", "--free-critical", "35:")
    assert out.state == "CRITICAL", out.text
    assert "free space" in out.summary and "below 35%" in out.summary


@requires_root
def test_inode_ranges_are_their_own(vm: FakeVM) -> None:
    out = vm.run("--inodes-warning", "@0:100")
    assert out.state == "WARNING", out.text
    assert out.summary.startswith("free inodes ")
    assert out.summary.endswith(", inside 0:100%")


@requires_root
def test_size_ranges_in_gb_judge_the_total_in_bytes(vm: FakeVM) -> None:
    old = vm.run(min_size_gb="1")
    new = vm.run("--size-critical", "1:", min_size_gb=None)
    assert old.state == new.state == "CRITICAL"
    assert "too small: size 67.1 MB, at least 1.0 GB required (--size-critical)" in new.summary
    assert new.perfdata["size"].crit == old.perfdata["size"].crit == "1000000000:"

    out = vm.run("--size-critical", "@0:1", min_size_gb=None)
    assert out.state == "CRITICAL", out.text
    assert out.summary == "size 67.1 MB, critical range @0:1 GB (--size-critical) (inside 0:1 GB)"

    out = vm.run("--size-warning", "0.1:")
    assert out.state == "WARNING", out.text
    assert out.perfdata["size"].warn == "100000000:"
    assert "(below 0.1 GB)" in out.summary


@requires_root
def test_write_speed_ranges(vm: FakeVM) -> None:
    out = vm.run("--write-critical", "1000000000:")
    assert out.state == "CRITICAL", out.text
    assert out.summary.startswith("wrote, synced and read back 1 MB at ")
    assert out.summary.endswith(" MB/s (below 1000000000 MB/s)")
    assert out.perfdata["write_MBps"].crit == "1000000000:"


@pytest.mark.parametrize(
    "args",
    [
        ["-w", "5:abc"],
        ["--inodes-critical", ""],
        ["--free-critical", "20:"],  # would alert before the default warning range 10:
        ["--jobfeatures", "jobfeatures"],
        ["--machinefeatures", "./machinefeatures"],
    ],
)
def test_bad_ranges_and_relative_mjf_locations_are_unknown(args: list[str]) -> None:
    out = run_probe(SCRIPT, ["--no-discovery", *args])
    assert (out.state, out.exit_code) == ("UNKNOWN", 3)
    assert out.summary.startswith("bad arguments: ")
    assert out.long_output == []


# --- rules this probe reports rather than passes --------------------------------------------


@requires_root
def test_a_missing_cvmfs_configuration_directory_is_a_warning(vm: FakeVM, tmp_path: Path) -> None:
    gone = tmp_path / "no-such-config"
    args = vm.args()
    args[args.index("--cvmfs-config-dir") + 1] = str(gone)
    out = run_probe(SCRIPT, args)
    assert out.state == "WARNING", out.text
    assert out.summary == (
        f"cvmfs client configuration {gone} does not exist: cache location not checked"
    )
    assert f"WARNING: {out.summary}" in out.long_output


def test_no_semicolon_in_the_status_line(tmp_path: Path) -> None:
    fake = FakeVM(tmp_path).furnish()
    fake.scratch.chmod(0o755)
    (fake.scratch / "tmp").rmdir()
    out = fake.run()
    assert out.state == "CRITICAL", out.text
    assert "mode 0755, not 1777 and " in out.summary
    assert out.summary.count(" - ") == 1, out.summary
    assert ";" not in out.summary
