"""The consumers under test: ``vmsam consume`` processes (``tests.support.consumer``) on one
queue and one database, verifying signatures against the grid's CA directory and allow-list
with unsigned messages refused (every VM of the soak signs)."""

from __future__ import annotations

import contextlib
import json
import urllib.error
from collections import Counter
from pathlib import Path
from typing import Any

from bench.soak.pki import Grid
from tests.support.consumer import ConsumerProcess, write_config

RECEIVED = "vmsam_consumer_messages_received_total"
CONNECTED = "vmsam_consumer_broker_connected"


class Consumers:
    def __init__(
        self, directory: Path, grid: Grid, *, broker: str, destination: str, db: str, count: int
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.config = write_config(directory / "consumer.toml", [broker], destination, db)
        self.config.write_text(
            self.config.read_text()
            + f"ca_dir = {json.dumps(str(grid.ca_dir))}\n"
            + f"allow_list = {json.dumps(str(grid.allow_list))}\n"
            + 'unsigned = "reject"\n'
        )
        self.running = [ConsumerProcess(self.config) for _ in range(count)]
        self.everyone = list(self.running)  # the killed ones too, for their logs

    def kill(self, index: int) -> None:
        """SIGKILL, as in a crash: what it had not acked is delivered again."""
        self.running[index].kill()

    def restart(self, index: int) -> None:
        process = ConsumerProcess(self.config)
        self.running[index] = process
        self.everyone.append(process)

    def activity(self) -> tuple[int, bool] | None:
        """Messages received by the running consumers, and whether all are subscribed;
        None while one cannot be asked (starting, or died)."""
        total, connected = 0, True
        for process in self.running:
            if not process.alive():
                return None
            try:
                total += int(process.metric(RECEIVED))
                connected &= process.metric(CONNECTED) == 1
            except (OSError, urllib.error.URLError, AssertionError):
                return None
        return total, connected

    def commits(self) -> Counter[str]:
        """The ``commit`` log lines of every consumer process of the run, added up."""
        totals: Counter[str] = Counter()
        for process in self.everyone:
            for event in _events(process, "commit"):
                for key in ("stored", "duplicates", "dead_letters"):
                    totals[key] += int(event[key])
        return totals

    def stop(self) -> list[int]:
        """SIGTERM each: the exit codes (0 when it committed what it held and left)."""
        codes = []
        for process in self.running:
            try:
                codes.append(process.terminate())
            except Exception:  # noqa: BLE001 - a consumer that does not stop is a failed check
                process.kill()
                codes.append(-9)
        return codes

    def close(self) -> None:
        for process in self.running:
            process.kill()


def _events(process: ConsumerProcess, name: str) -> list[dict[str, Any]]:
    """The log's events of ``name``; a line cut by SIGKILL is skipped."""
    found = []
    for line in process.lines():
        with contextlib.suppress(ValueError):
            event = json.loads(line)
            if event.get("event") == name:
                found.append(event)
    return found
