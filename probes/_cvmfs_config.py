"""The cvmfs client configuration, read in the client's own order.

Later files override earlier ones: default.conf, default.d/*.conf, default.local, then for
one repository domain.d/<domain>.{conf,local} and config.d/<repo>.{conf,local}. The
configuration repository (CVMFS_CONFIG_REPOSITORY) is not read: it lives under a FUSE
mount, and these files are local.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from probes._system import normalise

DEFAULT_CONFIG_DIR = "/etc/cvmfs"

_SETTING = re.compile(r"^\s*(?:export\s+)?(CVMFS_[A-Z0-9_]+)=(.*)$")


class ClientConfig:
    def __init__(self, config_dir: Path) -> None:
        self.config_dir = config_dir

    def problem(self) -> str | None:
        """Why the configuration directory is not one, if it is not: without it every file
        is absent and the cache would look merely unconfigured."""
        if self.config_dir.is_dir():
            return None
        if self.config_dir.exists():
            return f"{self.config_dir} is not a directory"
        return f"{self.config_dir} does not exist"

    def files(self, repository: str | None = None) -> list[Path]:
        """The files that may set values, in order; without a repository, the ones that
        apply to all repositories."""
        base = self.config_dir
        common = [
            base / "default.conf",
            *sorted((base / "default.d").glob("*.conf")),
            base / "default.local",
        ]
        if repository is None:
            return common
        domain = repository.partition(".")[2]
        return [
            *common,
            base / "domain.d" / f"{domain}.conf",
            base / "domain.d" / f"{domain}.local",
            base / "config.d" / f"{repository}.conf",
            base / "config.d" / f"{repository}.local",
        ]

    def settings(self, repository: str | None = None) -> dict[str, str]:
        """The ``CVMFS_*`` values; an existing file that cannot be read raises OSError."""
        found: dict[str, str] = {}
        for path in self.files(repository):
            if path.is_file():
                found.update(parse_settings(path.read_text(encoding="utf-8", errors="replace")))
        return found

    def cache(self, repository: str | None = None) -> CacheSetting | None:
        """Where the cache is and its quota; None when CVMFS_CACHE_BASE is not set."""
        settings = self.settings(repository)
        base = settings.get("CVMFS_CACHE_BASE", "").strip()
        if not base:
            return None
        quota = settings.get("CVMFS_QUOTA_LIMIT", "").strip()
        return CacheSetting(normalise(base), int(quota) if re.fullmatch(r"-?\d+", quota) else None)


def parse_settings(text: str) -> dict[str, str]:
    """``CVMFS_*`` assignments of a shell-syntax configuration file."""
    found = {}
    for line in text.splitlines():
        match = _SETTING.match(line)
        if not match:
            continue
        value = match.group(2).split(" #", 1)[0].strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        found[match.group(1)] = value
    return found


@dataclass(frozen=True)
class CacheSetting:
    base: str
    quota_mb: int | None
