"""``make demo`` works and shows what it promises: both VMs, the store, the A/R."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path


def test_demo_runs_both_vms_and_the_monitoring_side():
    done = subprocess.run(
        [str(Path(sys.executable).parent / "vmsam"), "demo"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "Traceback" not in out + done.stderr
    assert "stored 8, duplicates 0, dead letters 0" in out
    summary = out[out.index("=== summary ===") :]
    rows = dict(re.findall(r"^(cvmfs|middleware|scratch|mjf)\s+(\w+\s+\w+)", summary, re.M))
    assert set(rows) == {"cvmfs", "middleware", "scratch", "mjf"}
    for test, states in rows.items():
        healthy, broken = states.split()
        assert broken == "CRITICAL", test
        if os.geteuid() == 0:  # real mounts: the healthy VM is healthy throughout
            assert healthy == "OK", test
    assert re.search(r"vac01\.tier2\.hep\.manchester\.ac\.uk\s+uk\.ac\.gridpp\.vac\s+OK", out)
    assert re.search(r"vac02\.tier2\.hep\.manchester\.ac\.uk\s+uk\.ac\.gridpp\.vac\s+CRITICAL", out)
    # the healthy space makes the site available (OR of spaces); the broken one is down
    site = out[out.index("--site tier2.hep.manchester.ac.uk") :]
    assert re.search(r"\d{4}-\d\d-\d\d\s+100\.00000\s+100\.00000", site)
