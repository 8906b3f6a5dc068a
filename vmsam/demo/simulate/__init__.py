"""A simulated pilot VM in a directory: what ``make demo`` and the tests point the probes at.

Each part of a VM (cvmfs, the grid trust store, /scratch, MJF) is built by a module of its
own whose ``simulate(layout, mounter, healthy=...)`` fills its part of the tree and returns
the probe's command-line arguments that point at it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vmsam.demo.simulate._mounts import Mounter, can_mount

__all__ = ["Mounter", "SimulatedVM", "VMLayout", "build_vm", "can_mount", "write_config"]


@dataclass(frozen=True)
class VMLayout:
    """Where each part of a simulated VM lives, mirroring a real CernVM under ``root``."""

    root: Path
    vo: str = "lhcb"
    uuid: str = "5b1a3b5e-2f4a-4c61-9b7e-0d3c2a1f9e88"
    space: str = "vac01.tier2.hep.manchester.ac.uk"
    hostname: str = "vac01-07.tier2.hep.manchester.ac.uk"

    @property
    def cvmfs_root(self) -> Path:
        return self.root / "cvmfs"

    @property
    def grid_root(self) -> Path:
        return self.cvmfs_root / "grid.cern.ch"

    @property
    def cvmfs_config_dir(self) -> Path:
        return self.root / "etc" / "cvmfs"

    @property
    def scratch(self) -> Path:
        return self.root / "scratch"

    @property
    def machinefeatures(self) -> Path:
        return self.root / "etc" / "machinefeatures"

    @property
    def jobfeatures(self) -> Path:
        return self.root / "etc" / "jobfeatures"

    @property
    def joboutputs(self) -> Path:
        return self.root / "var" / "spool" / "joboutputs"

    @property
    def proxy(self) -> Path:
        return self.root / "root" / "x509proxy.pem"

    @property
    def swaps_file(self) -> Path:
        return self.root / "proc-swaps"

    @property
    def spool(self) -> Path:
        return self.root / "var" / "spool" / "vmsam" / "outgoing"

    @property
    def config_file(self) -> Path:
        return self.root / "etc" / "vmsam" / "vmsam.toml"


@dataclass
class SimulatedVM:
    layout: VMLayout
    healthy: bool
    mounter: Mounter
    probe_args: dict[str, list[str]] = field(default_factory=dict)

    def close(self) -> None:
        self.mounter.close()

    def __enter__(self) -> SimulatedVM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join(f'"{value}"' for value in values) + "]"


def write_config(
    vm: SimulatedVM,
    *,
    broker_urls: list[str] | None = None,
    destination: str | None = None,
    fraction: float = 1.0,
    timeout: float = 20.0,
    budget: float = 60.0,
    extra: list[str] | None = None,
    critical: list[str] | None = None,
    shutdown_on_critical: bool = False,
    machinetype: str = "simulated",
    uuid: str = "",
    paths: Mapping[str, Path | str] | None = None,
    config_file: Path | None = None,
    sign: str = "auto",
) -> Path:
    """A vmsam.toml for the hook inside this simulated VM, as a site admin would write it.

    Network discovery is off: a simulated VM must never ask 169.254.169.25x. ``paths``
    replaces ``[paths]`` entries (an empty string leaves the key to discovery), so that
    several VMs can share one simulated tree with joboutputs, spool and MJF of their own;
    ``config_file`` is where to write it (default ``layout.config_file``); ``sign`` is
    ``[broker] sign`` (``auto`` signs with the VM's simulated proxy).
    """
    layout = vm.layout
    entries: dict[str, Path | str] = {
        "cvmfs_root": layout.cvmfs_root,
        "grid_root": layout.grid_root,
        "scratch": layout.scratch,
        "machinefeatures": layout.machinefeatures,
        "jobfeatures": layout.jobfeatures,
        "joboutputs": layout.joboutputs,
        "spool": layout.spool,
        "proxy": layout.proxy,
        "mounts_file": vm.mounter.mounts_file,
        "swaps_file": layout.swaps_file,
        "cvmfs_config_dir": layout.cvmfs_config_dir,
        "etc_dir": layout.root / "etc",
        **(paths or {}),
    }
    lines = [
        "[vm]",
        f'space = "{layout.space}"',
        f'vo = "{layout.vo}"',
        f'hostname = "{layout.hostname}"',
        f'machinetype = "{machinetype}"',
        *([f'uuid = "{uuid}"'] if uuid else []),
        'manager_version = "Vac 3.2"',
        "[sampling]",
        f"fraction = {fraction}",
        "[paths]",
        *(f'{key} = "{value}"' for key, value in entries.items()),
        "[discovery]",
        "network = false",
        "[probes]",
        f"timeout = {timeout}",
        f"budget = {budget}",
        f"extra = {_toml_list(extra or [])}",
        f"critical = {_toml_list(critical or [])}",
        "[broker]",
        f"urls = {_toml_list(broker_urls or [])}",
        *([f'destination = "{destination}"'] if destination else []),
        f'sign = "{sign}"',
        "[outputs]",
        f"shutdown_on_critical = {'true' if shutdown_on_critical else 'false'}",
    ]
    target = config_file or layout.config_file
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(lines) + "\n")
    return target


def build_vm(layout: VMLayout, *, healthy: bool, real_mounts: bool | None = None) -> SimulatedVM:
    """Build a whole simulated VM; ``probe_args`` maps each probe's script to its arguments.

    ``real_mounts`` defaults to whether this process may mount (root).
    """
    from . import cvmfs, grid, mjf, scratch

    layout.root.mkdir(parents=True, exist_ok=True)
    mounter = Mounter(layout.root, real=can_mount() if real_mounts is None else real_mounts)
    vm = SimulatedVM(layout, healthy, mounter)
    try:
        # cvmfs first: the grid trust store lives inside the grid.cern.ch repository
        vm.probe_args["check_wn_cvmfs"] = cvmfs.simulate(layout, mounter, healthy=healthy)
        vm.probe_args["check_wn_middleware"] = grid.simulate(layout, mounter, healthy=healthy)
        vm.probe_args["check_wn_mjf"] = mjf.simulate(layout, mounter, healthy=healthy)
        vm.probe_args["check_wn_scratch"] = scratch.simulate(layout, mounter, healthy=healthy)
    except BaseException:
        mounter.close()
        raise
    return vm
