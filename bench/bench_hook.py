"""Wall time of ``vmsam init-hook`` on a simulated healthy VM, against the interpreter start.

Three figures in the same run, each the median of N runs of a fresh process:
- ``python -c pass``: the floor any Python hook pays;
- an unsampled VM (fraction 0): the decision only, which every VM boot pays;
- a sampled VM: the four probes in parallel plus spooling and confirmed publishing to a
  private ActiveMQ.

The goals (issue: start-up at Python's own cost) are printed beside the figures: unsampled
at most 3x ``python -c pass``, sampled at most 3 s. vmsam's modules are byte-compiled first,
as installing a wheel does: an editable install under ``PYTHONDONTWRITEBYTECODE`` would
otherwise compile them on every run and time the compiler.

    .venv/bin/python bench/bench_hook.py [-n 7]
"""

from __future__ import annotations

import argparse
import compileall
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.support.activemq import ActiveMQ
from vmsam.demo.simulate import VMLayout, build_vm, write_config

BIN = Path(sys.executable).parent


def timed(command: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"{command} failed: {done.stdout}{done.stderr}")
    return times


def show(name: str, times: list[float], floor: float | None = None, goal: str = "") -> float:
    median = statistics.median(times)
    ratio = f"  ({median / floor:5.1f} x python -c pass)" if floor else ""
    print(
        f"{name:<38} median {median * 1000:8.1f} ms  min {min(times) * 1000:8.1f} ms"
        f"  max {max(times) * 1000:8.1f} ms{ratio}{'  ' + goal if goal else ''}"
    )
    return median


def verdict(met: bool) -> str:
    return "goal met" if met else "GOAL MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=7)
    args = parser.parse_args()
    root = Path(__file__).resolve().parent.parent
    for package in ("vmsam", "probes"):
        compileall.compile_dir(root / package, quiet=1)
    with (
        tempfile.TemporaryDirectory(prefix="vmsam-bench-") as workdir,
        ActiveMQ() as broker,
        build_vm(VMLayout(Path(workdir) / "vm"), healthy=True) as vm,
    ):
        floor = show("python -c pass", timed([sys.executable, "-c", "pass"], args.runs))
        unsampled = write_config(vm, fraction=0.0, broker_urls=[broker.address])
        hook = [str(BIN / "vmsam"), "init-hook", "--config", str(unsampled)]
        times = timed(hook, args.runs)
        ratio = statistics.median(times) / floor
        show("init-hook, unsampled (decision only)", times, floor, f"<= 3x: {verdict(ratio <= 3)}")
        sampled = write_config(
            vm, fraction=1.0, broker_urls=[broker.address], destination="/queue/bench.hook"
        )
        hook = [str(BIN / "vmsam"), "init-hook", "--config", str(sampled)]
        times = timed(hook, args.runs)
        sampled_ok = statistics.median(times) <= 3.0
        show(
            "init-hook, sampled (probes + publish)", times, floor, f"<= 3 s: {verdict(sampled_ok)}"
        )
        print(f"real mounts: {vm.mounter.real}; messages published: {4 * args.runs}")


if __name__ == "__main__":
    main()
