"""vmsam's configuration: one TOML file whose keys are a contract with site admins.

Keys may be added, never renamed (ARCHITECTURE.md). A value may be a Vac/Vcycle
``##user_data_...##`` pattern; an empty value, or a pattern left unsubstituted, means
"discover it". Precedence: command-line flag > environment variable > file > default.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DEFAULT_CONFIG",
    "DEFAULT_DESTINATION",
    "ApiSettings",
    "BrokerSettings",
    "ConfigError",
    "ConsumerSettings",
    "DiscoverySettings",
    "OutputSettings",
    "PathSettings",
    "ProbeSettings",
    "SamplingSettings",
    "Settings",
    "VMSettings",
    "load_settings",
    "with_overrides",
]

DEFAULT_CONFIG = "/etc/vmsam/vmsam.toml"
DEFAULT_DESTINATION = "/queue/grid.probe.metricOutput.EGEE.vmsam"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VMSettings:
    """Who this VM is; every empty value is discovered (DOMAIN.md section 2)."""

    space: str = ""
    site: str = ""
    uuid: str = ""
    hostname: str = ""
    machinetype: str = ""
    vo: str = ""
    fqan: str = ""
    service_type: str = ""
    manager_version: str = ""


@dataclass(frozen=True)
class SamplingSettings:
    fraction: float = 0.25


@dataclass(frozen=True)
class PathSettings:
    cvmfs_root: str = "/cvmfs"
    grid_root: str = "/cvmfs/grid.cern.ch"
    scratch: str = "/scratch"
    machinefeatures: str = ""
    jobfeatures: str = ""
    joboutputs: str = ""
    spool: str = "/var/spool/vmsam/outgoing"
    proxy: str = ""
    # the kernel tables and client configuration the probes read; tests point them elsewhere
    mounts_file: str = "/proc/mounts"
    swaps_file: str = "/proc/swaps"
    cvmfs_config_dir: str = "/etc/cvmfs"
    etc_dir: str = "/etc"
    # local joboutputs staging directories, used when nothing names one (DOMAIN.md section 4):
    # /var/spool/joboutputs, then legacy Vac <= 0.19 /etc/machineoutputs
    joboutputs_dirs: tuple[str, ...] = ("/var/spool/joboutputs", "/etc/machineoutputs")


@dataclass(frozen=True)
class DiscoverySettings:
    """Network locations asked when nothing local answers; ``network = false`` never asks."""

    network: bool = True
    vac_url: str = "http://169.254.169.253"
    openstack_url: str = "http://169.254.169.254"


@dataclass(frozen=True)
class ProbeSettings:
    timeout: float = 30.0
    budget: float = 90.0
    repositories: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()
    critical: tuple[str, ...] = ()


@dataclass(frozen=True)
class BrokerSettings:
    urls: tuple[str, ...] = ()
    destination: str = DEFAULT_DESTINATION
    user: str = ""
    password: str = ""
    ssl: bool = False
    cert: str = ""
    key: str = ""
    ca_dir: str = ""
    ca_file: str = ""
    # the STOMP ``host`` header; RabbitMQ reads it as its virtual host (usually "/"), and
    # stomp.py would otherwise send the broker's host name there
    vhost: str = ""


@dataclass(frozen=True)
class ConsumerSettings:
    destination: str = DEFAULT_DESTINATION
    db: str = ""


@dataclass(frozen=True)
class OutputSettings:
    shutdown_on_critical: bool = False


@dataclass(frozen=True)
class ApiSettings:
    token: str = ""


@dataclass(frozen=True)
class Settings:
    vm: VMSettings = field(default_factory=VMSettings)
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    paths: PathSettings = field(default_factory=PathSettings)
    discovery: DiscoverySettings = field(default_factory=DiscoverySettings)
    probes: ProbeSettings = field(default_factory=ProbeSettings)
    broker: BrokerSettings = field(default_factory=BrokerSettings)
    consumer: ConsumerSettings = field(default_factory=ConsumerSettings)
    outputs: OutputSettings = field(default_factory=OutputSettings)
    api: ApiSettings = field(default_factory=ApiSettings)


class ConfigError(Exception):
    """The configuration cannot be used; the message names the file and the key."""

    def __init__(self, source: str, reason: str, key: str | None = None) -> None:
        super().__init__(f"{source}: {key}: {reason}" if key else f"{source}: {reason}")
        self.source = source
        self.key = key
        self.reason = reason


# Vac and Vcycle replace the patterns they know; one still present was not supplied.
_PATTERN = re.compile(r"##user_data_\w*##")
_WORDS = re.compile(r"[\s,]+")
# A command line holds spaces and commas, and a user_data option is one line: several
# command lines given as one string are separated by ';' (or newlines).
_COMMANDS = re.compile(r"[;\n]")
_COMMAND_LISTS = {("probes", "extra")}
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
# (minimum, maximum, minimum excluded) of the numbers that have limits beyond "finite, >= 0"
_LIMITS: dict[tuple[str, str], tuple[float, float, bool]] = {
    ("sampling", "fraction"): (0.0, 1.0, False),
    ("probes", "timeout"): (0.0, math.inf, True),
    ("probes", "budget"): (0.0, math.inf, True),
}
_ENVIRONMENT = {"VMSAM_DB": ("consumer", "db"), "VMSAM_API_TOKEN": ("api", "token")}


def _supplied(value: str) -> bool:
    return bool(value) and not _PATTERN.search(value)


class _Invalid(Exception):
    """A value that cannot be coerced; the caller adds where it came from."""


def _to_str(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _Invalid(f"expected a string, got {_describe(value)}")
    text = str(value).strip()
    return text if _supplied(text) else None


def _to_float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _Invalid(f"expected a number, got {_describe(value)}")
    if isinstance(value, str):
        text = value.strip()
        if not _supplied(text):
            return None
        try:
            value = float(text)
        except ValueError:
            raise _Invalid(f"expected a number, got {_describe(text)}") from None
    number = float(value)
    if not math.isfinite(number):
        raise _Invalid(f"expected a finite number, got {_describe(value)}")
    return number


def _to_bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if not isinstance(value, str):
        raise _Invalid(f"expected true or false, got {_describe(value)}")
    text = value.strip()
    if not _supplied(text):
        return None
    if text.lower() in _TRUE | _FALSE:
        return text.lower() in _TRUE
    raise _Invalid(f"expected true or false, got {_describe(text)}")


def _to_list(value: object, separator: re.Pattern[str]) -> tuple[str, ...] | None:
    if isinstance(value, str):
        items: list[object] = [value]
    elif isinstance(value, list):
        items = value
    else:
        raise _Invalid(f"expected a list or a string, got {_describe(value)}")
    found: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise _Invalid(f"expected strings in the list, got {_describe(item)}")
        found.extend(p.strip() for p in separator.split(item) if _supplied(p.strip()))
    # a list of unsubstituted patterns was not supplied: the default stands
    return tuple(found) if found else None


def _describe(value: object) -> str:
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return repr(value)


def _coerce(section: str, key: str, default: object, value: object) -> object:
    """``value`` as the type of ``default``; None when not supplied; _Invalid when garbage."""
    coerced: object
    if isinstance(default, bool):
        coerced = _to_bool(value)
    elif isinstance(default, float):
        coerced = _to_float(value)
        if coerced is not None:
            _check_limits(section, key, float(coerced))
    elif isinstance(default, tuple):
        separator = _COMMANDS if (section, key) in _COMMAND_LISTS else _WORDS
        coerced = _to_list(value, separator)
    else:
        coerced = _to_str(value)
    return coerced


def _check_limits(section: str, key: str, number: float) -> None:
    low, high, open_low = _LIMITS.get((section, key), (0.0, math.inf, False))
    if number < low or number > high or (open_low and number == low):
        if high == math.inf:
            raise _Invalid(f"expected a number {'>' if open_low else '>='} {low:g}, got {number:g}")
        raise _Invalid(f"expected a number in [{low:g}, {high:g}], got {number:g}")


def _known_keys() -> dict[str, set[str]]:
    defaults = Settings()
    return {
        section.name: {key.name for key in dataclasses.fields(getattr(defaults, section.name))}
        for section in dataclasses.fields(Settings)
    }


def _apply(settings: Settings, values: Mapping[str, Mapping[str, object]], source: str) -> Settings:
    """``settings`` with ``values`` (section -> key -> raw value) coerced and applied;
    values not supplied (empty, unsubstituted patterns, None) leave the current value."""
    changed: dict[str, Any] = {}
    for section, keys in values.items():
        current = getattr(settings, section)
        updates: dict[str, object] = {}
        for key, raw in keys.items():
            if raw is None:
                continue
            try:
                coerced = _coerce(section, key, getattr(current, key), raw)
            except _Invalid as exc:
                raise ConfigError(source, str(exc), f"[{section}] {key}") from None
            if coerced is not None:
                updates[key] = coerced
        if updates:
            changed[section] = dataclasses.replace(current, **updates)
    return dataclasses.replace(settings, **changed) if changed else settings


def _read(path: str, explicit: bool) -> dict[str, Any] | None:
    """The parsed file; None when the default file does not exist."""
    try:
        with open(path, "rb") as stream:
            return tomllib.load(stream)
    except FileNotFoundError:
        if explicit:
            raise ConfigError(path, "no such file") from None
        return None
    except IsADirectoryError:
        raise ConfigError(path, "is a directory, not a TOML file") from None
    except OSError as exc:
        raise ConfigError(path, f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(path, "not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, f"not valid TOML: {exc}") from None


def _known_values(document: Mapping[str, Any], path: str) -> dict[str, dict[str, object]]:
    """The document's known sections and keys; unknown ones are warned about and left out,
    so a configuration written for a newer vmsam still loads."""
    known = _known_keys()
    values: dict[str, dict[str, object]] = {}
    for section, keys in document.items():
        if section not in known:
            log.warning("%s: unknown section [%s] ignored", path, section)
            continue
        if not isinstance(keys, dict):
            raise ConfigError(path, f"expected a table, got {_describe(keys)}", f"[{section}]")
        for key, value in keys.items():
            if key in known[section]:
                values.setdefault(section, {})[key] = value
            else:
                log.warning("%s: unknown key %s in [%s] ignored", path, key, section)
    return values


def load_settings(path: str | None = None, *, environ: Mapping[str, str] | None = None) -> Settings:
    """The settings from ``path``, else ``$VMSAM_CONFIG``, else /etc/vmsam/vmsam.toml
    (all defaults when that default file does not exist), then the environment overrides
    ``$VMSAM_DB`` (``[consumer] db``) and ``$VMSAM_API_TOKEN`` (``[api] token``).

    ConfigError when a named file is missing or unreadable, is not TOML, or holds a value
    that is not of its key's type or range.
    """
    env = os.environ if environ is None else environ
    named = path or env.get("VMSAM_CONFIG") or None
    config_path = named or DEFAULT_CONFIG
    settings = Settings()
    document = _read(config_path, explicit=named is not None)
    if document is not None:
        settings = _apply(settings, _known_values(document, config_path), config_path)
    overrides: dict[str, dict[str, object]] = {}
    for variable, (section, key) in _ENVIRONMENT.items():
        if env.get(variable):
            overrides.setdefault(section, {})[key] = env[variable]
    return _apply(settings, overrides, "environment")


def with_overrides(settings: Settings, **sections: Mapping[str, object]) -> Settings:
    """``settings`` with command-line values applied, as ``with_overrides(s, consumer={"db":
    url})``. Values get the file's rules (strings coerced, empty or None = not given).

    ConfigError for a value of the wrong type or range; TypeError for an unknown key.
    """
    known = _known_keys()
    for section, keys in sections.items():
        unknown = set(keys) - known.get(section, set())
        if unknown:
            raise TypeError(f"no such setting: [{section}] {', '.join(sorted(unknown))}")
    return _apply(settings, sections, "command line")
