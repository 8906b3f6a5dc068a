"""The MJF keys (HSF-TN-2016-02): where each is, what it must parse as, how much it is needed.

Required keys absent or unparsable are CRITICAL, recommended ones absent WARNING; any key
present must parse with its type, and a count or a limit of zero or less cannot be honoured.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Which = Literal["machine", "job"]
Need = Literal["required", "recommended", "optional"]

SET_NAMES: dict[Which, str] = {"machine": "machinefeatures", "job": "jobfeatures"}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
_INT = re.compile(r"[+-]?[0-9]+")


def parse_int(text: str) -> int | None:
    # stricter than int(): no "1_000", no surrounding blanks inside the value
    return int(text) if _INT.fullmatch(text) else None


def parse_float(text: str) -> float | None:
    if "_" in text:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_id(text: str) -> str | None:
    """Printable ASCII without whitespace (the ``job_id`` of HSF-TN-2016-02)."""
    return text if text and all("!" <= char <= "~" for char in text) else None


@dataclass(frozen=True)
class Key:
    which: Which
    name: str
    type_name: str
    parse: Callable[[str], object]
    need: Need = "optional"
    positive: bool = False


def _int(which: Which, name: str, need: Need = "optional", *, positive: bool = False) -> Key:
    return Key(which, name, "an integer", parse_int, need, positive)


def _float(which: Which, name: str, need: Need = "optional") -> Key:
    return Key(which, name, "a number", parse_float, need)


KEYS: tuple[Key, ...] = (
    _int("machine", "total_cpu", "required", positive=True),
    _float("machine", "hs06", "recommended"),
    _int("machine", "shutdowntime"),
    _int("machine", "grace_secs"),
    _int("machine", "jobslots"),
    _int("machine", "phys_cores"),
    _int("machine", "log_cores"),
    _int("job", "allocated_cpu", "required", positive=True),
    _int("job", "wall_limit_secs", "required", positive=True),
    _int("job", "cpu_limit_secs", "required", positive=True),
    _int("job", "jobstart_secs", "required"),
    _float("job", "hs06_job", "recommended"),
    Key("job", "job_id", "printable ASCII without whitespace", parse_id, "recommended"),
    _int("job", "shutdowntime_job"),
    _int("job", "grace_secs_job"),
    _int("job", "max_rss_bytes", positive=True),
    _int("job", "max_swap_bytes"),
    _int("job", "scratch_limit_bytes", positive=True),
    _float("job", "cpufactor_lrms"),
    _int("job", "wall_limit_secs_lrms", positive=True),
    _int("job", "cpu_limit_secs_lrms", positive=True),
    _int("job", "mem_limit_MB", positive=True),
    _int("job", "allocated_CPU", positive=True),
)
KEY_BY_NAME = {key.name: key for key in KEYS}
PERFDATA_KEYS = ("hs06", "allocated_cpu")
