"""The VMs of the demo: their simulated trees, the real ``vmsam init-hook`` run in each, and
the messages it spooled, moved to the VM's simulated boot time and collected.

The probes judge the trees against the real clock: each tree is built now, and each VM's
MJF is written just before its hook runs. Only the results are moved in time afterwards:
every message's ``timestamp`` becomes the simulated boot time plus the seconds the probe
took after the hook started, in the collected spool and in the VM's joboutputs alike.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vmsam.demo import scenario
from vmsam.demo.scenario import Boot, TreeState
from vmsam.demo.simulate import (
    Mounter,
    SimulatedVM,
    VMLayout,
    can_mount,
    cvmfs,
    grid,
    scratch,
    write_config,
)
from vmsam.demo.simulate.mjf import job_features, machine_features, write_features
from vmsam.shared.messages import decode, encode, format_timestamp
from vmsam.vm.joboutputs import RESULTS_FILE
from vmsam.vm.runner import plugin_path
from vmsam.vm.spool import Spool

# what would point a hook at other MJF, joboutputs or configuration than its VM's own
_MJF_VARIABLES = ("MACHINEFEATURES", "JOBFEATURES", "JOBOUTPUTS", "VMSAM_CONFIG")
HOOK_TIMEOUT = 180.0
SHIFT_NOTE = (
    "vmsam demo: the probes ran at {real}; the timestamps of these results were moved to"
    " the simulated boot time {boot}"
)


def build_tree(root: Path, state: TreeState) -> SimulatedVM:
    """One simulated VM tree in ``state``, shared by every VM of that state (each VM has its
    own MJF, joboutputs and spool beside it). MJF is not part of the tree."""
    layout = VMLayout(root, vo=scenario.VO, space=state.space)
    root.mkdir(parents=True, exist_ok=True)
    mounter = Mounter(root, real=can_mount())
    vm = SimulatedVM(layout, state.cvmfs_ok and state.scratch_ok, mounter)
    try:
        vm.probe_args["check_wn_cvmfs"] = cvmfs.simulate(layout, mounter, healthy=state.cvmfs_ok)
        vm.probe_args["check_wn_middleware"] = grid.simulate(layout, mounter, healthy=True)
        size = scratch.SIZE_BYTES if state.scratch_ok else scenario.SMALL_SCRATCH_BYTES
        vm.probe_args["check_wn_scratch"] = scratch.simulate(
            layout, mounter, healthy=True, size_bytes=size
        )
    except BaseException:
        mounter.close()
        raise
    return vm


@contextmanager
def built_trees(root: Path, states: list[TreeState]) -> Iterator[dict[TreeState, SimulatedVM]]:
    """Every tree built under ``root``; all unmounted again on the way out, however left."""
    with ExitStack() as stack:
        built = {}
        for state in states:
            built[state] = stack.enter_context(build_tree(root / state.name, state))
        yield built


@dataclass(frozen=True)
class BootOutcome:
    boot: Boot
    sampled: bool
    statuses: dict[str, str]  # test -> status, for a sampled VM
    messages: int  # collected, with the simulated time
    problem: str = ""  # what went wrong running the hook, if anything


def _moved(moment: datetime, real_start: datetime, boot_at: datetime) -> datetime:
    """``moment`` (real) as the same time after the boot as after the hook's start."""
    return boot_at + max(moment - real_start, timedelta(0))


def _shift(body: str, real_start: datetime, boot_at: datetime) -> str:
    result = decode(body)
    return encode(replace(result, timestamp=_moved(result.timestamp, real_start, boot_at)))


def _restamp_joboutputs(joboutputs: Path, real_start: datetime, boot: Boot) -> list[str]:
    """The messages of the VM's joboutputs, moved to the boot time there too, so that every
    copy of a result says the same time (ingesting any of them stores the same result)."""
    results_file = joboutputs / RESULTS_FILE
    document = json.loads(results_file.read_text())
    shifted = [_shift(body, real_start, boot.at) for body in document["messages"]]
    document["messages"] = shifted
    for entry in document["results"]:
        moment = datetime.strptime(entry["timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        entry["timestamp"] = format_timestamp(_moved(moment, real_start, boot.at))
    document["notes"].append(
        SHIFT_NOTE.format(real=format_timestamp(real_start), boot=format_timestamp(boot.at))
    )
    results_file.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    for index, body in enumerate(shifted):
        (joboutputs / f"vmsam-message-{index}.txt").write_text(body)
    return shifted


class Fleet:
    """Runs each boot's hook in a VM directory of its own under ``root``, against the tree
    of its state, and collects its messages into ``collected``."""

    def __init__(self, root: Path, trees: dict[TreeState, SimulatedVM], collected: Spool) -> None:
        self.root = root
        self.trees = trees
        self.collected = collected
        self._environment = {k: v for k, v in os.environ.items() if k not in _MJF_VARIABLES}

    def directory(self, boot: Boot) -> Path:
        return self.root / scenario.short(boot.space) / f"{boot.at:%Y-%m-%d}" / boot.name

    def config(self, boot: Boot) -> Path:
        """The VM's own directory: its vmsam.toml, MJF (unless missing), joboutputs and
        spool; everything else is the shared tree of its state."""
        tree = self.trees[boot.tree]
        home = self.directory(boot)
        etc = home / "etc"
        etc.mkdir(parents=True, exist_ok=True)
        if boot.mjf:
            # as Vac writes them when the VM starts: against the real clock
            now = int(datetime.now(UTC).timestamp())
            write_features(etc / "machinefeatures", machine_features(now))
            write_features(etc / "jobfeatures", job_features(now, boot.uuid))
        joboutputs = home / "joboutputs"
        joboutputs.mkdir(parents=True, exist_ok=True)
        layout = replace(tree.layout, hostname=boot.hostname, uuid=boot.uuid)
        # no [paths] machinefeatures: the hook finds MJF in its etc directory, or none
        paths: dict[str, Path | str] = {
            "machinefeatures": "",
            "jobfeatures": "",
            "etc_dir": etc,
            "joboutputs": joboutputs,
            "spool": home / "spool",
        }
        return write_config(
            SimulatedVM(layout, tree.healthy, tree.mounter),
            fraction=scenario.FRACTION,
            machinetype=boot.machinetype,
            uuid=boot.uuid,
            paths=paths,
            config_file=home / "vmsam.toml",
            # the demo moves each spooled result to its simulated boot time afterwards,
            # which no signature would survive
            sign="no",
        )

    def run(self, boot: Boot) -> BootOutcome:
        config = self.config(boot)
        home = self.directory(boot)
        real_start = datetime.now(UTC).replace(microsecond=0)
        done = subprocess.run(
            [plugin_path("vmsam"), "init-hook", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=HOOK_TIMEOUT,
            env=self._environment,
            check=False,
        )
        (home / "console.log").write_text(done.stdout + done.stderr)
        results_file = home / "joboutputs" / RESULTS_FILE
        if done.returncode != 0 or not results_file.is_file():
            return BootOutcome(boot, False, {}, 0, f"init-hook exit {done.returncode}")
        document = json.loads(results_file.read_text())
        if not document["sampled"]:
            return BootOutcome(boot, False, {}, 0)
        _restamp_joboutputs(home / "joboutputs", real_start, boot)
        spool = Spool(home / "spool")
        count = 0
        for element in spool.claim():
            self.collected.add(_shift(element.body, real_start, boot.at))
            spool.remove(element.name)  # as if sent: the VM's spool drains
            count += 1
        statuses = {entry["test"]: entry["status"] for entry in document["results"]}
        return BootOutcome(boot, True, statuses, count)


@dataclass
class FleetReport:
    outcomes: list[BootOutcome] = field(default_factory=list)

    @property
    def sampled(self) -> list[BootOutcome]:
        return [outcome for outcome in self.outcomes if outcome.sampled]

    @property
    def messages(self) -> int:
        return sum(outcome.messages for outcome in self.outcomes)

    @property
    def problems(self) -> list[str]:
        return [f"{o.boot.name}: {o.problem}" for o in self.outcomes if o.problem]


def run_all(
    fleet: Fleet,
    schedule: list[Boot],
    *,
    workers: int,
    progress: Callable[[BootOutcome], None],
) -> FleetReport:
    """Every boot's hook, ``workers`` at a time, in boot order; ``progress`` is told of each
    as it ends. On an interrupt, the hooks still running are let finish (they take seconds)
    and no new one starts."""
    report = FleetReport()

    def collect(finished: set[Future[BootOutcome]]) -> None:
        for future in finished:
            outcome = future.result()
            report.outcomes.append(outcome)
            progress(outcome)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vm") as pool:
        running: set[Future[BootOutcome]] = set()
        try:
            for boot in schedule:
                # a short queue: an interrupt leaves little to cancel
                if len(running) >= 2 * workers:
                    finished, running = wait(running, return_when=FIRST_COMPLETED)
                    collect(finished)
                running.add(pool.submit(fleet.run, boot))
            collect(running)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    report.outcomes.sort(key=lambda outcome: outcome.boot.at)
    return report
