"""check_wn_cvmfs on cvmfs trees: plain directories, real tmpfs mounts, a FUSE mount that hangs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from probes import _cvmfs_config
from tests.conftest import requires_root, run_probe
from tests.nagios import PluginOutput
from tests.probes.hangfs import HangingMount
from vmsam.demo.simulate import VMLayout
from vmsam.demo.simulate import cvmfs as simulated_cvmfs
from vmsam.demo.simulate._mounts import Mounter

SCRIPT = "check_wn_cvmfs"
LHCB = ("lhcb.cern.ch", "lhcb-condb.cern.ch", "grid.cern.ch")
GOOD_ATTRIBUTES = {
    "revision": "4711",
    "version": "2.11.2.0",
    "nioerr": "0",
    "usedfd": "40",
    "maxfd": "1000",
    "nclg": "5",
    "expires": "3",
    "ncleanup24": "0",
    "host": "http://stratum-one.invalid/cvmfs/x",
    "proxy": "DIRECT",
}


class Tree:
    """A cvmfs root of plain directories listed in a mounts table of its own."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cvmfs = root / "cvmfs"
        self.config = root / "etc-cvmfs"
        self.scratch = root / "scratch"
        self.mounts = root / "mounts"
        self.cvmfs.mkdir()
        self.config.mkdir()
        self.scratch.mkdir()
        self.mounts.write_text(f"overlay / overlay rw 0 0\n/dev/vdb {self.scratch} ext4 rw 0 0\n")
        self.configure(f"CVMFS_CACHE_BASE={self.scratch}/cvmfs\nCVMFS_QUOTA_LIMIT=11000\n")

    def repository(
        self, name: str, attributes: dict[str, str | None] | None = None, *, listed: bool = True
    ) -> Path:
        path = self.cvmfs / name
        path.mkdir()
        (path / "README").write_text(name)
        for key, value in {**GOOD_ATTRIBUTES, **(attributes or {})}.items():
            if value is not None:
                os.setxattr(path, f"user.{key}", value.encode())
        if listed:
            self.list_mount(path)
        return path

    def list_mount(self, path: Path, fstype: str = "fuse") -> None:
        with self.mounts.open("a") as table:
            table.write(f"cvmfs2 {path} {fstype} ro,nosuid,nodev 0 0\n")

    def configure(self, text: str, name: str = "default.local") -> None:
        target = self.config / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def args(self, *repositories: str) -> list[str]:
        args = [
            "--cvmfs-root",
            str(self.cvmfs),
            "--mounts-file",
            str(self.mounts),
            "--cvmfs-config-dir",
            str(self.config),
            "--scratch",
            str(self.scratch),
            "--timeout",
            "5",
        ]
        for name in repositories:
            args += ["--repo", name]
        return args


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return Tree(tmp_path)


def lhcb_tree(tree: Tree, **faulty: str | None) -> list[str]:
    """The lhcb repositories, the first one with ``faulty`` attributes."""
    tree.repository(LHCB[0], faulty)
    for name in LHCB[1:]:
        tree.repository(name)
    return [*tree.args(), "--vo", "lhcb"]


def problems(output: PluginOutput) -> list[str]:
    return [line for line in output.long_output if not line.startswith("OK:")]


# --- healthy ------------------------------------------------------------------------------


def test_healthy_tree_is_ok_with_perfdata_per_repository(tree: Tree) -> None:
    out = run_probe(SCRIPT, lhcb_tree(tree))
    assert (out.service, out.state) == ("WN-CVMFS", "OK"), out.text
    assert "3 repositories mounted and healthy" in out.summary
    assert "lhcb.cern.ch r4711" in out.summary
    for name in LHCB:
        perf = out.perfdata
        assert perf[f"{name}_revision"].value == 4711
        assert perf[f"{name}_nioerr"].value == 0
        assert perf[f"{name}_nioerr"].uom == "c"
        assert perf[f"{name}_fd"].value == 4.0
        assert perf[f"{name}_fd"].uom == "%"
        assert perf[f"{name}_fd"].warn == "~:80"
        assert perf[f"{name}_cache"].uom == "%"
        assert perf[f"{name}_cache"].warn == "~:95"
        assert f"OK: {name} mounted (fuse) at {tree.cvmfs / name}, 1 entry at its root" in (
            out.long_output
        )
    assert problems(out) == []
    text = out.text
    assert "proxy DIRECT" in text
    assert "version 2.11.2.0" in text
    assert "quota 11000 MB" in text
    assert "not created yet" in text


def test_repo_option_overrides_the_vo_list(tree: Tree) -> None:
    tree.repository("cms.cern.ch")
    out = run_probe(SCRIPT, [*tree.args("cms.cern.ch"), "--vo", "lhcb"])
    assert out.state == "OK", out.text
    assert out.summary == "1 repository mounted and healthy: cms.cern.ch r4711"
    assert "lhcb.cern.ch" not in out.text


def test_vo_without_a_list_needs_grid_and_checks_its_own_repository_only_when_mounted(
    tree: Tree,
) -> None:
    tree.repository("grid.cern.ch")
    out = run_probe(SCRIPT, [*tree.args(), "--vo", "dune"])
    assert out.state == "OK", out.text
    assert "OK: dune.cern.ch not mounted, not required for this VO" in out.long_output

    tree.repository("dune.cern.ch", {"nioerr": "2"})
    out = run_probe(SCRIPT, [*tree.args(), "--vo", "dune"])
    assert out.state == "WARNING", out.text
    assert "dune.cern.ch had 2 I/O errors" in out.summary


# --- CRITICAL -----------------------------------------------------------------------------


def test_missing_repository_is_critical(tree: Tree) -> None:
    tree.repository("lhcb.cern.ch")
    tree.repository("grid.cern.ch")
    out = run_probe(SCRIPT, [*tree.args(), "--vo", "lhcb"])
    assert out.state == "CRITICAL", out.text
    assert out.summary.startswith("lhcb-condb.cern.ch not mounted at")
    assert "no such directory" in out.summary
    assert "lhcb-condb.cern.ch_revision" not in out.perfdata
    assert out.perfdata["lhcb.cern.ch_revision"].value == 4711


def test_directory_that_is_not_a_mount_is_critical(tree: Tree) -> None:
    tree.repository("lhcb.cern.ch", listed=False)
    out = run_probe(SCRIPT, tree.args("lhcb.cern.ch"))
    assert out.state == "CRITICAL", out.text
    assert out.summary == f"lhcb.cern.ch not mounted at {tree.cvmfs / 'lhcb.cern.ch'}"


def test_a_mount_that_cannot_be_listed_is_critical(tree: Tree) -> None:
    target = tree.cvmfs / "lhcb.cern.ch"
    target.write_text("not a directory")
    tree.list_mount(target)
    out = run_probe(SCRIPT, tree.args("lhcb.cern.ch"))
    assert out.state == "CRITICAL", out.text
    assert "lhcb.cern.ch cannot be listed: Not a directory" in out.summary


def test_a_missing_cvmfs_root_makes_every_repository_critical(tree: Tree) -> None:
    args = tree.args("lhcb.cern.ch", "grid.cern.ch")
    args[args.index("--cvmfs-root") + 1] = str(tree.root / "nowhere")
    out = run_probe(SCRIPT, args)
    assert out.state == "CRITICAL"
    assert "lhcb.cern.ch not mounted" in out.summary
    assert "grid.cern.ch not mounted" in out.summary


# --- WARNING, one rule at a time ----------------------------------------------------------


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({"nioerr": "3"}, "lhcb.cern.ch had 3 I/O errors since mount (above 0)"),
        ({"usedfd": "850"}, "lhcb.cern.ch uses 85.0% of its file descriptors (above 80)"),
        (
            {"nclg": "101"},
            "lhcb.cern.ch has 101 catalogs loaded, 10.1% of maxfd 1000 (above 10)",
        ),
        ({"ncleanup24": "25"}, "lhcb.cern.ch cleaned its cache 25 times in 24 h (above 24)"),
        ({"expires": "-2"}, "lhcb.cern.ch root catalog expires in -2 minutes (below 0)"),
        ({"proxy": None}, "lhcb.cern.ch attribute user.proxy: missing"),
        ({"maxfd": None}, "lhcb.cern.ch attribute user.maxfd: missing"),
        ({"revision": "abc"}, "lhcb.cern.ch attribute user.revision: not a number: 'abc'"),
    ],
)
def test_each_soft_rule_warns_alone(
    tree: Tree, attributes: dict[str, str | None], expected: str
) -> None:
    out = run_probe(SCRIPT, lhcb_tree(tree, **attributes))
    assert out.state == "WARNING", out.text
    assert out.summary == expected
    assert problems(out) == [f"WARNING: {expected}"]


def test_a_fixed_root_catalog_never_expires(tree: Tree) -> None:
    out = run_probe(SCRIPT, lhcb_tree(tree, expires="never (fixed root catalog)"))
    assert out.state == "OK", out.text
    assert "expires never (fixed root catalog)" in out.text


def test_limits_at_the_threshold_are_still_ok(tree: Tree) -> None:
    out = run_probe(SCRIPT, lhcb_tree(tree, usedfd="800", nclg="100", ncleanup24="24", expires="0"))
    assert out.state == "OK", out.text
    assert out.perfdata["lhcb.cern.ch_fd"].value == 80.0


def test_thresholds_are_options(tree: Tree) -> None:
    args = lhcb_tree(tree, nioerr="3", usedfd="850", nclg="101", ncleanup24="30", expires="5")
    relaxed = [
        "--nioerr-warn",
        "5",
        "--fd-warn-pct",
        "90",
        "--nclg-factor",
        "5",
        "--ncleanup24-warn",
        "48",
    ]
    out = run_probe(SCRIPT, [*args, *relaxed])
    assert out.state == "OK", out.text
    assert out.perfdata["lhcb.cern.ch_fd"].warn == "~:90"
    assert out.perfdata["lhcb.cern.ch_nioerr"].warn == "~:5"

    out = run_probe(SCRIPT, [*args, *relaxed, "--expires-warn", "4"])
    assert out.state == "WARNING"
    assert out.summary == (
        "lhcb-condb.cern.ch root catalog expires in 3 minutes (below 4) - "
        "grid.cern.ch root catalog expires in 3 minutes (below 4)"
    )


def test_cache_not_on_scratch_warns_for_the_repository_configured_so(tree: Tree) -> None:
    tree.configure(f"CVMFS_CACHE_BASE={tree.root}/var-lib-cvmfs\n", "config.d/lhcb.cern.ch.local")
    out = run_probe(SCRIPT, lhcb_tree(tree))
    assert out.state == "WARNING", out.text
    assert [line.split(" cache ")[0] for line in problems(out)] == ["WARNING: lhcb.cern.ch"]
    assert f"not on scratch {tree.scratch}" in out.summary


def test_later_configuration_files_override_earlier_ones(tree: Tree) -> None:
    tree.configure("CVMFS_CACHE_BASE=/var/lib/cvmfs\nCVMFS_QUOTA_LIMIT=4000\n", "default.conf")
    out = run_probe(SCRIPT, lhcb_tree(tree))
    assert out.state == "OK", out.text
    assert "quota 11000 MB" in out.text
    assert "/var/lib/cvmfs" not in out.text


def test_without_cache_configuration_the_cache_check_is_skipped(tree: Tree) -> None:
    (tree.config / "default.local").unlink()
    out = run_probe(SCRIPT, lhcb_tree(tree))
    assert out.state == "OK", out.text
    assert "OK: lhcb.cern.ch has no CVMFS_CACHE_BASE configured, cache check skipped" in (
        out.long_output
    )
    assert "lhcb.cern.ch_cache" not in out.perfdata


def test_cache_on_the_root_filesystem_is_fine_without_scratch_option(tree: Tree) -> None:
    tree.configure(f"CVMFS_CACHE_BASE={tree.root}/var-lib-cvmfs\n")
    args = lhcb_tree(tree)
    at = args.index("--scratch")
    del args[at : at + 2]
    out = run_probe(SCRIPT, args)
    assert out.state == "OK", out.text


def test_settings_parser_handles_shell_syntax() -> None:
    text = (
        "# comment\n"
        "export CVMFS_CACHE_BASE='/scratch/cvmfs'  # on scratch\n"
        'CVMFS_HTTP_PROXY="http://squid:3128;DIRECT"\n'
        "NOT_CVMFS=1\n"
        "CVMFS_QUOTA_LIMIT=11000\n"
    )
    assert _cvmfs_config.parse_settings(text) == {
        "CVMFS_CACHE_BASE": "/scratch/cvmfs",
        "CVMFS_HTTP_PROXY": "http://squid:3128;DIRECT",
        "CVMFS_QUOTA_LIMIT": "11000",
    }


# --- bad arguments ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--repo", "../etc"],
        ["--repo", "lhcb.cern.ch", "--repo", "lhcb.cern.ch"],
        ["--vo", "LHCb Prod"],
        ["--vo", "lhcb", "--timeout", "-1"],
        ["--vo", "lhcb", "--fd-warn-pct", "many"],
        ["--vo", "lhcb", "--no-such-option"],
    ],
)
def test_bad_arguments_are_unknown(args: list[str]) -> None:
    out = run_probe(SCRIPT, args)
    assert (out.exit_code, out.state) == (3, "UNKNOWN")
    assert out.summary.startswith("bad arguments:")


def test_unreadable_mounts_table_is_unknown(tree: Tree) -> None:
    tree.repository("lhcb.cern.ch")
    args = tree.args("lhcb.cern.ch")
    args[args.index("--mounts-file") + 1] = str(tree.root / "no-mounts")
    out = run_probe(SCRIPT, args)
    assert out.state == "UNKNOWN"
    assert "No such file or directory" in out.summary


# --- real mounts --------------------------------------------------------------------------


@pytest.fixture
def mounter(tmp_path: Path) -> Iterator[Mounter]:
    mounter = Mounter(tmp_path, real=True)
    yield mounter
    mounter.close()


@requires_root
def test_simulated_healthy_vm_is_ok(tmp_path: Path, mounter: Mounter) -> None:
    layout = VMLayout(tmp_path)
    args = simulated_cvmfs.simulate(layout, mounter, healthy=True)
    mounter.ext4_image(layout.scratch, 64 * 1024 * 1024)  # as the scratch part does, later
    out = run_probe(SCRIPT, args)
    assert out.state == "OK", out.text
    assert "OK: grid.cern.ch mounted (tmpfs)" in out.text
    assert f"measured at {layout.scratch})" in out.text
    assert out.perfdata["lhcb.cern.ch_revision"].value > 0


@requires_root
def test_simulated_unhealthy_vm_keeps_grid_writable(tmp_path: Path, mounter: Mounter) -> None:
    layout = VMLayout(tmp_path)
    out = run_probe(SCRIPT, simulated_cvmfs.simulate(layout, mounter, healthy=False))
    assert out.state == "CRITICAL"
    assert out.summary.startswith("lhcb-condb.cern.ch not mounted")
    assert "WARNING: lhcb.cern.ch had 7 I/O errors since mount (above 0)" in out.long_output
    assert "WARNING: lhcb.cern.ch uses 96.5% of its file descriptors (above 80)" in (
        out.long_output
    )
    (layout.grid_root / "etc" / "grid-security").mkdir(parents=True)
    assert "OK: grid.cern.ch mounted (tmpfs)" in out.text


@pytest.mark.parametrize("vo", ["cms", "dune"])
@pytest.mark.parametrize("healthy", [True, False])
def test_simulation_without_root_uses_its_own_mounts_table(
    tmp_path: Path, vo: str, healthy: bool
) -> None:
    mounter = Mounter(tmp_path, real=False)
    layout = VMLayout(tmp_path, vo=vo)
    out = run_probe(SCRIPT, simulated_cvmfs.simulate(layout, mounter, healthy=healthy))
    if healthy:
        assert out.state == "OK", out.text
        assert "2 repositories mounted and healthy" in out.summary
    else:
        assert out.state == "CRITICAL", out.text
        assert out.summary.startswith(f"{vo}.cern.ch not mounted")
        assert "WARNING: grid.cern.ch had 7 I/O errors since mount (above 0)" in out.long_output
    assert (layout.grid_root / ".cvmfsdirtab").exists()


@requires_root
def test_full_cache_partition_warns(tree: Tree, mounter: Mounter) -> None:
    mounter.tmpfs(tree.scratch, 4 * 1024 * 1024)
    (tree.scratch / "cvmfs").mkdir()
    with (tree.scratch / "cvmfs" / "filler").open("wb") as filler:
        filler.write(b"\0" * (4 * 1024 * 1024 - 64 * 1024))
    out = run_probe(SCRIPT, lhcb_tree(tree))
    assert out.state == "WARNING", out.text
    assert out.perfdata["lhcb.cern.ch_cache"].value > 95
    assert "lhcb.cern.ch cache partition" in out.summary
    assert "% full (above 95)" in out.summary
    assert "not created yet" not in out.text


@pytest.fixture
def hanging(tmp_path: Path) -> Iterator[HangingMount]:
    mount = HangingMount(tmp_path / "cvmfs" / "hung.cern.ch", tmp_path / "hang-now")
    yield mount
    mount.close()
    assert "hung.cern.ch" not in Path("/proc/mounts").read_text()


@requires_root
def test_a_fuse_repository_is_reported_with_its_type(
    tmp_path: Path, mounter: Mounter, hanging: HangingMount
) -> None:
    hanging.start()
    out = run_probe(SCRIPT, hung_args(tmp_path, mounter, "3"))
    assert out.state == "OK", out.text
    assert "OK: hung.cern.ch mounted (fuse" in out.text
    assert out.perfdata["hung.cern.ch_revision"].value == 42


@requires_root
def test_a_hung_repository_is_critical_and_the_others_are_still_judged(
    tmp_path: Path, mounter: Mounter, hanging: HangingMount
) -> None:
    hanging.start()
    hanging.hang()
    args = hung_args(tmp_path, mounter, "3")
    started = time.monotonic()
    out = run_probe(SCRIPT, args, timeout=30)
    elapsed = time.monotonic() - started
    assert elapsed < 8, f"took {elapsed:.1f} s with --timeout 3"
    assert out.state == "CRITICAL", out.text
    assert out.summary == "hung.cern.ch listing did not answer within 2.4 s"
    assert problems(out) == ["CRITICAL: hung.cern.ch listing did not answer within 2.4 s"]
    for name in ("lhcb.cern.ch", "grid.cern.ch"):
        where = tmp_path / "cvmfs" / name
        assert f"OK: {name} mounted (tmpfs) at {where}, 1 entry at its root" in out.long_output
        assert out.perfdata[f"{name}_revision"].value == 4711
    assert "hung.cern.ch_revision" not in out.perfdata


@requires_root
def test_a_hung_cache_partition_is_critical(
    tmp_path: Path, mounter: Mounter, hanging: HangingMount
) -> None:
    hanging.start()
    hanging.hang()
    config = tmp_path / "etc-cvmfs"
    config.mkdir()
    (config / "default.local").write_text(f"CVMFS_CACHE_BASE={hanging.mountpoint}/cache\n")
    args = hung_args(tmp_path, mounter, "3", with_hung=False)
    args[args.index("--cvmfs-config-dir") + 1] = str(config)
    started = time.monotonic()
    out = run_probe(SCRIPT, args, timeout=30)
    assert time.monotonic() - started < 8
    assert out.state == "CRITICAL", out.text
    cache = f"{hanging.mountpoint}/cache"
    assert problems(out) == [
        f"CRITICAL: lhcb.cern.ch cache partition {cache} did not answer within 2.4 s",
        f"CRITICAL: grid.cern.ch cache partition {cache} did not answer within 2.4 s",
    ]
    assert "OK: lhcb.cern.ch revision 4711" in out.long_output


def hung_args(
    tmp_path: Path, mounter: Mounter, timeout: str, *, with_hung: bool = True
) -> list[str]:
    """lhcb.cern.ch and grid.cern.ch on real tmpfs, and the hangfs one next to them."""
    root = tmp_path / "cvmfs"
    # there, but configuring no cache: a missing directory would be a warning of its own
    (tmp_path / "no-config").mkdir(exist_ok=True)
    for name in ("lhcb.cern.ch", "grid.cern.ch"):
        mounter.tmpfs(root / name, 1024 * 1024)
        (root / name / "README").write_text(name)
        for key, value in GOOD_ATTRIBUTES.items():
            os.setxattr(root / name, f"user.{key}", value.encode())
    return [
        "--cvmfs-root",
        str(root),
        "--repo",
        "lhcb.cern.ch",
        "--repo",
        "grid.cern.ch",
        *(["--repo", "hung.cern.ch"] if with_hung else []),
        "--cvmfs-config-dir",
        str(tmp_path / "no-config"),
        "--timeout",
        timeout,
    ]


@requires_root
def test_hangfs_cleanup_leaves_no_mount_behind(tmp_path: Path) -> None:
    mount = HangingMount(tmp_path / "hung", tmp_path / "hang-now")
    with mount:
        mount.hang()
        waiting = subprocess.Popen(
            ["ls", str(tmp_path / "hung")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(0.5)
        assert waiting.poll() is None, "ls should be stuck on the hung mount"
    assert waiting.wait(timeout=10) != 0
    assert str(tmp_path / "hung") not in Path("/proc/mounts").read_text()
    assert os.listdir(tmp_path / "hung") == []


# --- thresholds as Nagios ranges ----------------------------------------------------------


def test_fd_warning_and_critical_ranges_decide_the_state(tree: Tree) -> None:
    args = lhcb_tree(tree, usedfd="850")
    ranges = ["--fd-warning", "~:50", "--fd-critical", "~:90"]
    out = run_probe(SCRIPT, [*args, *ranges])
    assert out.state == "WARNING", out.text
    assert out.summary == "lhcb.cern.ch uses 85.0% of its file descriptors (above 50)"
    assert (out.perfdata["lhcb.cern.ch_fd"].warn, out.perfdata["lhcb.cern.ch_fd"].crit) == (
        "~:50",
        "~:90",
    )
    out = run_probe(SCRIPT, [*args, "--fd-warning", "~:50", "--fd-critical", "~:84"])
    assert out.state == "CRITICAL", out.text
    assert out.summary == "lhcb.cern.ch uses 85.0% of its file descriptors (above 84)"


def test_an_inverted_range_alerts_inside_it(tree: Tree) -> None:
    args = lhcb_tree(tree, nioerr="3")
    out = run_probe(SCRIPT, [*args, "--nioerr-warning", "@1:5"])
    assert out.state == "WARNING", out.text
    assert out.summary == "lhcb.cern.ch had 3 I/O errors since mount (inside 1:5)"
    assert out.perfdata["lhcb.cern.ch_nioerr"].warn == "@1:5"
    assert out.perfdata["grid.cern.ch_nioerr"].value == 0  # 0 is outside 1:5: fine


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (["--fd-warn-pct", "3"], ["--fd-warning", "~:3"]),
        (["--nioerr-warn", "2"], ["--nioerr-warning", "~:2"]),
        (["--nclg-factor", "200"], ["--nclg-warning", "~:0.5"]),
        (["--ncleanup24-warn", "1"], ["--ncleanup24-warning", "~:1"]),
        (["--expires-warn", "4"], ["--expires-warning", "4:"]),
        (["--cache-warn-pct", "0"], ["--cache-warning", "~:0"]),
    ],
)
def test_old_threshold_options_give_the_results_of_the_ranges_they_stand_for(
    tree: Tree, old: list[str], new: list[str]
) -> None:
    args = lhcb_tree(tree, ncleanup24="2", nioerr="1", nclg="6")
    by_old, by_new = run_probe(SCRIPT, [*args, *old]), run_probe(SCRIPT, [*args, *new])
    assert (by_old.state, steady(by_old.summary)) == (by_new.state, steady(by_new.summary))
    assert without_cache(by_old.perfdata) == without_cache(by_new.perfdata)
    # and the option did change the result
    assert steady(by_old.summary) != steady(run_probe(SCRIPT, args).summary)


def without_cache(perfdata: dict[str, object]) -> dict[str, object]:
    return {label: perf for label, perf in perfdata.items() if "cache" not in label}


def steady(text: str) -> str:
    """``text`` without the cache partition's fill, which other writers to the same disk
    change between two runs."""
    return re.sub(r"partition [\d.]+% full|cache=[\d.]+%", "partition N% full", text)


@pytest.mark.parametrize(
    "args",
    [
        ["--fd-warning", "80:70"],
        ["--fd-warning", "many"],
        ["--cache-critical", "1_0"],
        ["--fd-critical", "~:50"],  # inside the default warning range ~:80: never seen
    ],
)
def test_bad_ranges_are_unknown_with_a_one_line_reason(args: list[str]) -> None:
    out = run_probe(SCRIPT, ["--vo", "lhcb", *args])
    assert (out.exit_code, out.state) == (3, "UNKNOWN")
    assert out.summary.startswith("bad arguments:")
    assert out.long_output == []


def test_help_documents_every_threshold_and_its_default_range() -> None:
    done = subprocess.run(
        [str(Path(sys.executable).parent / SCRIPT), "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    for option, default in [
        ("--revision-warning", "0:"),
        ("--nioerr-warning", "~:0"),
        ("--fd-warning", "~:80"),
        ("--nclg-warning", "~:10"),
        ("--ncleanup24-warning", "~:24"),
        ("--expires-warning", "0:"),
        ("--cache-warning", "~:95"),
    ]:
        assert f"{option} RANGE WARNING range for" in text, option
        assert f"(default {default})" in text, option
    assert "--fd-critical RANGE CRITICAL range for" in text
    assert "@A:B alerts inside" in text


# --- rules this probe reports rather than passes ------------------------------------------


def test_a_negative_revision_is_a_warning(tree: Tree) -> None:
    out = run_probe(SCRIPT, lhcb_tree(tree, revision="-1"))
    assert out.state == "WARNING", out.text
    assert out.summary == "lhcb.cern.ch revision -1 (below 0)"
    assert out.perfdata["lhcb.cern.ch_revision"].value == -1


def test_a_missing_client_configuration_directory_is_a_warning(tree: Tree) -> None:
    args = lhcb_tree(tree)
    gone = tree.root / "no-such-config"
    args[args.index("--cvmfs-config-dir") + 1] = str(gone)
    out = run_probe(SCRIPT, args)
    assert out.state == "WARNING", out.text
    assert out.summary == f"cvmfs client configuration {gone} does not exist: cache not checked"
    assert problems(out) == [f"WARNING: {out.summary}"]
    assert "lhcb.cern.ch_cache" not in out.perfdata


def test_long_output_is_one_state_colon_text_line_per_result(tree: Tree) -> None:
    out = run_probe(SCRIPT, lhcb_tree(tree, nioerr="1", maxfd=None))
    assert out.state == "WARNING", out.text
    states = [line.split(": ", 1)[0] for line in out.long_output]
    assert set(states) == {"OK", "WARNING"}
    # worst first
    assert states == sorted(states, key=lambda s: s != "WARNING")


def test_no_semicolon_in_the_status_line(tree: Tree) -> None:
    args = lhcb_tree(tree, nioerr="1", usedfd="900")
    out = run_probe(SCRIPT, args)
    assert out.state == "WARNING", out.text
    assert out.summary.count(" - ") == 1, out.summary
    assert ";" not in out.summary

    # nor when a path given has one
    args[args.index("--cvmfs-root") + 1] = str(tree.root / "a;b")
    out = run_probe(SCRIPT, args)
    assert out.state == "CRITICAL", out.text
    assert out.summary.count(" - ") == 2, out.summary
    assert ";" not in out.summary
    assert "a,b" in out.summary
