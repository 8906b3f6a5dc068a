"""vmsam's configuration: one TOML file whose keys are a contract with site admins.

Read leniently (``read_settings``, what the VM side uses): a value that cannot be used
falls back to its key's default and becomes one ``Problem``, so one typo never silences a
site; a file that cannot be read or parsed leaves every default and says why. Read strictly
(``load_settings``, what the server side uses): the first error is a ``ConfigError``.

Keys may be added, never renamed (docs/configuration.md, generated from
``vmsam.shared.config_reference``, describes every one). A value may be a Vac/Vcycle
``##user_data_...##`` pattern; an empty value, or a pattern left unsubstituted, means
"discover it". Precedence: command-line flag > environment variable > file > default.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from vmsam.shared.errors import ConfigError

if TYPE_CHECKING:
    from typing import Literal, TypeVar

    Severity = Literal["error", "warning", "pattern"]
    _Item = TypeVar("_Item")

__all__ = [
    "CHOICES",
    "DEFAULT_CONFIG",
    "DEFAULT_DESTINATION",
    "FORMATS",
    "VM_SECTIONS",
    "ApiSettings",
    "BrokerSettings",
    "ConfigError",
    "Configuration",
    "ConsumerSettings",
    "Destination",
    "DiscoverySettings",
    "ExtraProbe",
    "OutputSettings",
    "PathSettings",
    "ProbeSettings",
    "Problem",
    "RecomputationSettings",
    "SamplingSettings",
    "Settings",
    "VMSettings",
    "load_settings",
    "parse_broker_url",
    "read_settings",
    "split_commands",
    "with_overrides",
]

DEFAULT_CONFIG = "/etc/vmsam/vmsam.toml"
DEFAULT_DESTINATION = "/queue/grid.probe.metricOutput.EGEE.vmsam"


class VMSettings(NamedTuple):
    """Who this VM is; an empty value is discovered where it can be (vmsam.vm.context)."""

    space: str = ""
    site: str = ""
    uuid: str = ""
    hostname: str = ""
    machinetype: str = ""
    vo: str = ""
    fqan: str = ""
    service_type: str = ""
    manager_version: str = ""


class SamplingSettings(NamedTuple):
    fraction: float = 0.25


class PathSettings(NamedTuple):
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
    # local joboutputs staging directories, used when nothing names one:
    # /var/spool/joboutputs, then legacy Vac <= 0.19 /etc/machineoutputs
    joboutputs_dirs: tuple[str, ...] = ("/var/spool/joboutputs", "/etc/machineoutputs")


class DiscoverySettings(NamedTuple):
    """Network locations asked when nothing local answers; ``network = false`` never asks."""

    network: bool = True
    vac_url: str = "http://169.254.169.253"
    openstack_url: str = "http://169.254.169.254"


class ExtraProbe(NamedTuple):
    """One site plugin of ``[probes] extra``: its command line as written (split with shell
    rules when it runs) and the test name chosen for it ("" = from the executable's name)."""

    command: str
    name: str = ""
    # its place in the list as written (1-based), to name it in reports
    entry: int = 0


class ProbeSettings(NamedTuple):
    timeout: float = 30.0
    budget: float = 90.0
    repositories: tuple[str, ...] = ()
    extra: tuple[ExtraProbe, ...] = ()
    # empty: the four built-in tests are critical
    critical: tuple[str, ...] = ()


# the encodings a destination may take (vmsam.shared.messages): WLCG's key/value record and
# MONIT's JSON document
FORMATS = ("wlcg", "monit")


class Destination(NamedTuple):
    """One queue or topic the VM publishes to and the encoding its consumers read."""

    name: str
    format: str = "wlcg"


class BrokerSettings(NamedTuple):
    urls: tuple[str, ...] = ()
    destination: str = DEFAULT_DESTINATION
    # several destinations, each with its format; empty: ``destination`` alone, in wlcg
    destinations: tuple[Destination, ...] = ()
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
    # signing each message (vmsam.vm.signing): auto, yes or no, and the credential
    # off unless asked for: a signed body is S/MIME, which only a consumer that verifies
    # (vmsam consume, APEL-style) reads; the standard WLCG record must reach every other
    sign: str = "no"
    sign_cert: str = ""
    sign_key: str = ""

    def targets(self) -> tuple[Destination, ...]:
        """Where every result is published: ``destinations``, else ``destination``."""
        return self.destinations or (Destination(self.destination),)


class ConsumerSettings(NamedTuple):
    destination: str = DEFAULT_DESTINATION
    db: str = ""
    # verifying signed messages (vmsam.server.trust); no ca_dir: nothing is verified
    ca_dir: str = ""
    allow_list: str = ""
    unsigned: str = "flag"


class VacmonSettings(NamedTuple):
    """``vmsam vacmon``, the VacMon-compatible listener (docs/configuration.md)."""

    listen: str = "127.0.0.1:8884"
    # the largest datagram taken; a machine_status is about 1 kB
    max_bytes: float = 16384.0
    # how long one "nothing running" report of a factory holds (it reports every few minutes)
    idle_hold: float = 600.0
    # a time further ahead than this is absurd (clocks drift, a year ahead is not drift)
    future_slack: float = 3600.0


class OutputSettings(NamedTuple):
    shutdown_on_critical: bool = False


class ApiSettings(NamedTuple):
    token: str = ""
    token_file: str = ""
    cors_origins: tuple[str, ...] = ()
    groups: str = ""


class RecomputationSettings(NamedTuple):
    # seconds of silence of the whole store that make a broker-outage candidate
    outage: float = 3600.0


class Settings(NamedTuple):
    vm: VMSettings = VMSettings()
    sampling: SamplingSettings = SamplingSettings()
    paths: PathSettings = PathSettings()
    discovery: DiscoverySettings = DiscoverySettings()
    probes: ProbeSettings = ProbeSettings()
    broker: BrokerSettings = BrokerSettings()
    consumer: ConsumerSettings = ConsumerSettings()
    outputs: OutputSettings = OutputSettings()
    api: ApiSettings = ApiSettings()
    recomputations: RecomputationSettings = RecomputationSettings()
    vacmon: VacmonSettings = VacmonSettings()


# the sections the VM side reads; [consumer], [api] and [recomputations] never affect a VM
VM_SECTIONS = ("vm", "sampling", "paths", "discovery", "probes", "broker", "outputs")


class Problem(NamedTuple):
    """One thing wrong with (or to note about) the configuration, naming its key.

    ``error``: the value was not used (its default applies), ``warning``: it is used but
    something about it will not work as written, ``pattern``: a ``##user_data_...##``
    pattern left for Vac/Vcycle to fill in the VM (not a fault).
    """

    severity: Severity
    key: str  # "[probes] timeout", "[future]"; "" for the file as a whole
    message: str
    source: str = ""
    # the message without what happens instead ("; the default 30 applies"), for the
    # strict reading, which does not go on
    reason: str = ""

    def __str__(self) -> str:
        where = " ".join(part for part in (self.source + ":", self.key + ":") if len(part) > 1)
        return f"{where} {self.message}" if where else self.message


class Configuration(NamedTuple):
    """Settings read leniently, with every problem found on the way.

    ``unusable`` says why the file could not be used at all (unreadable, not TOML): the
    settings are then all defaults, and nothing may be published under them.
    """

    source: str
    settings: Settings
    problems: tuple[Problem, ...] = ()
    unusable: str = ""

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "warning")

    def patterned(self, key: str) -> bool:
        """Whether ``key`` ("[broker] ssl") holds a pattern left for Vac/Vcycle to fill."""
        return _patterned(self.problems, key)


def _patterned(problems: Iterable[Problem], key: str) -> bool:
    return any(p.key == key and p.severity == "pattern" for p in problems)


# Vac and Vcycle replace the patterns they know; one still present was not supplied.
_PATTERN = re.compile(r"##user_data_\w*##")
_WORDS = re.compile(r"[\s,]+")
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
# (minimum, maximum, minimum excluded) of the numbers that have limits beyond "finite, >= 0"
_LIMITS: dict[tuple[str, str], tuple[float, float, bool]] = {
    ("sampling", "fraction"): (0.0, 1.0, False),
    ("probes", "timeout"): (0.0, math.inf, True),
    ("probes", "budget"): (0.0, math.inf, True),
    # under a minute, every quiet moment of a small deployment would be an outage
    ("recomputations", "outage"): (60.0, 31 * 86400.0, False),
    # a UDP datagram carries at most 65507 bytes
    ("vacmon", "max_bytes"): (512.0, 65507.0, False),
    ("vacmon", "idle_hold"): (1.0, 86400.0, False),
    ("vacmon", "future_slack"): (0.0, 7 * 86400.0, False),
}
# the strings that take one of a few words
CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("broker", "sign"): ("auto", "yes", "no"),
    ("consumer", "unsigned"): ("accept", "flag", "reject"),
}
_ENVIRONMENT = {"VMSAM_DB": ("consumer", "db"), "VMSAM_API_TOKEN": ("api", "token")}
_BROKER_URL = re.compile(
    r"^(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<host>[^\s:/\[\]]+)):(?P<port>\d{1,5})$"
)
_EXTRA_KEYS = {"command", "name"}
_DESTINATION_KEYS = {"name", "format"}


def parse_broker_url(url: str) -> tuple[str, int] | None:
    """(host, port) of ``host:port`` or ``[ipv6]:port``; None when it is neither."""
    match = _BROKER_URL.match(url.strip())
    if not match or not 0 < int(match["port"]) < 65536:
        return None
    return match["ipv6"] or match["host"], int(match["port"])


def _supplied(value: str) -> bool:
    return bool(value) and not _PATTERN.search(value)


class _Invalid(Exception):
    """A value that cannot be used; the caller adds where it came from."""


class _Collector:
    """The problems of one reading, each with its source and key."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(
        self, severity: Severity, key: str, reason: str, source: str, *, instead: str = ""
    ) -> None:
        """One problem; ``instead`` says what the lenient reading does about it."""
        message = f"{reason}; {instead}" if instead else reason
        self.problems.append(Problem(severity, key, message, source, reason))

    def patterns(self, key: str, value: object, source: str) -> None:
        texts = value if isinstance(value, list) else [value]
        for text in texts:
            if isinstance(text, str) and (found := _PATTERN.findall(text)):
                shown = ", ".join(dict.fromkeys(found))
                self.add("pattern", key, f"{shown} left for Vac/Vcycle to fill", source)


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


def split_commands(text: str) -> list[str]:
    """The command lines of one string (a user_data option is one line): separated by ';'
    or a newline outside quotes, so ``sh -c 'a; b'`` stays one command line."""
    commands: list[str] = []
    current: list[str] = []
    quote = ""
    escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in ";\n":
            commands.append("".join(current))
            current = []
            continue
        current.append(char)
    commands.append("".join(current))
    return [command.strip() for command in commands]


def _list_items(value: object) -> list[object]:
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        return [value]
    raise _Invalid(f"expected a list or a string, got {_describe(value)}")


def _to_words(value: object) -> tuple[str, ...] | None:
    found: list[str] = []
    for item in _list_items(value):
        if not isinstance(item, str):
            raise _Invalid(f"expected strings in the list, got {_describe(item)}")
        found.extend(p.strip() for p in _WORDS.split(item) if _supplied(p.strip()))
    # a list of unsubstituted patterns was not supplied: the default stands
    return tuple(found) if found else None


def _to_extra(item: object) -> ExtraProbe:
    """One ``[probes] extra`` list item: a command line, or ``{command = ..., name = ...}``."""
    if isinstance(item, str):
        return ExtraProbe(item.strip())
    if not isinstance(item, dict):
        raise _Invalid(f"expected a command line or a table, got {_describe(item)}")
    unknown = set(item) - _EXTRA_KEYS
    if unknown:
        raise _Invalid(f"unknown key(s) {', '.join(sorted(unknown))} (known: command, name)")
    command, name = item.get("command"), item.get("name", "")
    if not isinstance(command, str) or not command.strip():
        raise _Invalid('a table needs command = "<command line>"')
    if not isinstance(name, str):
        raise _Invalid(f"name: expected a string, got {_describe(name)}")
    return ExtraProbe(command.strip(), name.strip())


def _each_item(
    value: object,
    convert: Callable[[object], _Item],
    key: str,
    source: str,
    collector: _Collector,
) -> list[_Item | None]:
    """The items of a list that can be used; each one that cannot is one problem, so one
    bad entry never costs the others."""
    kept: list[_Item | None] = []
    for index, item in enumerate(_list_items(value), 1):
        try:
            kept.append(convert(item))
        except _Invalid as exc:
            collector.add(
                "error", f"{key} #{index}", str(exc), source, instead="this entry is ignored"
            )
            kept.append(None)  # the place stays, so later entries keep their numbers
    return kept


def _to_destination(item: object) -> Destination:
    """One ``[broker] destinations`` item: ``{name = ..., format = ...}``, or a string
    ``<name>`` (wlcg) or ``<format>:<name>`` (a user_data option is one string)."""
    if isinstance(item, str):
        prefix, colon, rest = item.strip().partition(":")
        if colon and prefix.lower() in FORMATS:
            item = {"name": rest, "format": prefix}
        else:
            item = {"name": item}
    if not isinstance(item, dict):
        raise _Invalid(f"expected a table or a string, got {_describe(item)}")
    unknown = set(item) - _DESTINATION_KEYS
    if unknown:
        raise _Invalid(f"unknown key(s) {', '.join(sorted(unknown))} (known: name, format)")
    name, format_ = item.get("name"), item.get("format", "wlcg")
    if not isinstance(name, str) or not name.strip() or any(c.isspace() for c in name.strip()):
        raise _Invalid('a destination needs name = "<queue or topic>", without spaces')
    if not isinstance(format_, str) or format_.strip().lower() not in FORMATS:
        raise _Invalid(f"format: expected one of {', '.join(FORMATS)}, got {_describe(format_)}")
    return Destination(name.strip(), format_.strip().lower())


def _to_destinations(
    value: object, key: str, source: str, collector: _Collector
) -> tuple[Destination, ...] | None:
    found: list[Destination] = []
    for index, destination in enumerate(
        _each_item(value, _to_destination, key, source, collector), 1
    ):
        if destination is None or not _supplied(destination.name):
            continue
        if destination in found:
            message = f"{destination.name} in {destination.format} is listed already"
            collector.add("error", f"{key} #{index}", message, source, instead="ignored")
            continue
        found.append(destination)
    return tuple(found) or None


def _to_extras(
    value: object, key: str, source: str, collector: _Collector
) -> tuple[ExtraProbe, ...] | None:
    extras: list[ExtraProbe | None]
    if isinstance(value, str):
        # one string (a user_data option) may hold several command lines
        extras = [ExtraProbe(line) for line in split_commands(value)]
    else:
        extras = _each_item(value, _to_extra, key, source, collector)
    found = tuple(
        extra._replace(entry=index)
        for index, extra in enumerate(extras, 1)
        if extra is not None and _supplied(extra.command)
    )
    return found or None


def _broker_url(item: object) -> list[str]:
    if not isinstance(item, str):
        raise _Invalid(f"expected a string, got {_describe(item)}")
    urls = [url for url in _WORDS.split(item.strip()) if _supplied(url)]
    for url in urls:
        if parse_broker_url(url) is None:
            raise _Invalid(f"broker URL {_describe(url)} is not host:port")
    return urls


def _to_urls(value: object, key: str, source: str, collector: _Collector) -> tuple[str, ...] | None:
    items = _each_item(value, _broker_url, key, source, collector)
    found = [url for urls in items if urls for url in urls]
    return tuple(found) or None


# the lists whose items are read one by one, each bad item one problem
_LISTS: dict[tuple[str, str], Callable[[object, str, str, _Collector], object]] = {
    ("probes", "extra"): _to_extras,
    ("broker", "urls"): _to_urls,
    ("broker", "destinations"): _to_destinations,
}


def _describe(value: object) -> str:
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return repr(value)


def _shown(default: object) -> str:
    """A default as the sentence that says it applies."""
    if isinstance(default, bool):
        return f"the default {str(default).lower()} applies"
    if isinstance(default, float):
        return f"the default {default:g} applies"
    if isinstance(default, tuple):
        return "the default (none) applies" if not default else f"the default {default} applies"
    return f"the default {default!r} applies" if default else "it is discovered"


def _coerce(
    section: str, key: str, default: object, value: object, *, source: str, collector: _Collector
) -> object:
    """``value`` as the type of ``default``; None when not supplied; _Invalid when garbage.
    Lists keep the items that can be used and report the others."""
    name = f"[{section}] {key}"
    listed = _LISTS.get((section, key))
    if listed is not None:
        return listed(value, name, source, collector)
    if isinstance(default, bool):
        return _to_bool(value)
    if isinstance(default, float):
        number = _to_float(value)
        if number is not None:
            _check_limits(section, key, number)
        return number
    if isinstance(default, tuple):
        return _to_words(value)
    text = _to_str(value)
    choices = CHOICES.get((section, key))
    if text is not None and choices is not None:
        text = text.lower()
        if text not in choices:
            raise _Invalid(f"expected one of {', '.join(choices)}, got {_describe(text)}")
    return text


def _check_limits(section: str, key: str, number: float) -> None:
    low, high, open_low = _LIMITS.get((section, key), (0.0, math.inf, False))
    if number < low or number > high or (open_low and number == low):
        if high == math.inf:
            raise _Invalid(f"expected a number {'>' if open_low else '>='} {low:g}, got {number:g}")
        raise _Invalid(f"expected a number in [{low:g}, {high:g}], got {number:g}")


def _known_keys() -> dict[str, set[str]]:
    defaults = Settings()
    return {section: set(getattr(defaults, section)._fields) for section in Settings._fields}


def _apply(
    settings: Settings,
    values: Mapping[str, Mapping[str, object]],
    source: str,
    collector: _Collector,
) -> Settings:
    """``settings`` with ``values`` (section -> key -> raw value) coerced and applied.

    Values not supplied (empty, unsubstituted patterns, None) leave the current value, and
    so does a value that cannot be used: that is one error in ``collector``, and nothing
    else is affected by it.
    """
    changed: dict[str, Any] = {}
    for section, keys in values.items():
        current = getattr(settings, section)
        updates: dict[str, object] = {}
        for key, raw in keys.items():
            if raw is None:
                continue
            collector.patterns(f"[{section}] {key}", raw, source)
            default = getattr(current, key)
            try:
                coerced = _coerce(section, key, default, raw, source=source, collector=collector)
            except _Invalid as exc:
                collector.add(
                    "error", f"[{section}] {key}", str(exc), source, instead=_shown(default)
                )
                continue
            if coerced is not None:
                updates[key] = coerced
        if updates:
            changed[section] = current._replace(**updates)
    return settings._replace(**changed) if changed else settings


def _read(path: str, explicit: bool) -> dict[str, Any] | None:
    """The parsed file; None when the default file does not exist."""
    import tomllib  # here: a tenth of the interpreter's start-up, paid only with a file

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


def _known_values(
    document: Mapping[str, Any],
    path: str,
    sections: Iterable[str],
    collector: _Collector,
) -> dict[str, dict[str, object]]:
    """The document's known sections and keys among ``sections``. Unknown ones are warnings
    and left out, so a configuration written for a newer vmsam still loads; sections not
    asked for are not looked at at all."""
    known = _known_keys()
    wanted = set(sections)
    values: dict[str, dict[str, object]] = {}
    for section, keys in document.items():
        if section not in known:
            collector.add("warning", f"[{section}]", "unknown section, ignored", path)
            continue
        if section not in wanted:
            continue
        if not isinstance(keys, dict):
            reason = f"expected a table, got {_describe(keys)}"
            collector.add("error", f"[{section}]", reason, path, instead="its defaults apply")
            continue
        for key, value in keys.items():
            if key in known[section]:
                values.setdefault(section, {})[key] = value
            else:
                collector.add("warning", f"[{section}] {key}", "unknown key, ignored", path)
    return values


def _inert(settings: Settings, sections: Iterable[str], source: str, collector: _Collector) -> None:
    """Settings that were set and would have no effect as written: each one said (not when
    the key that would give them effect is a pattern Vac/Vcycle may still fill)."""
    wanted = set(sections)
    broker = settings.broker
    ssl_fixed = not _patterned(collector.problems, "[broker] ssl")
    if "broker" in wanted and not broker.ssl and ssl_fixed:
        for key in ("cert", "key", "ca_dir", "ca_file"):
            if getattr(broker, key):
                message = "unused while [broker] ssl is false (the connection is not encrypted)"
                collector.add("warning", f"[broker] {key}", message, source)
    if "broker" in wanted and broker.password and not broker.user:
        collector.add("warning", "[broker] password", "unused without [broker] user", source)
    network_fixed = not _patterned(collector.problems, "[discovery] network")
    if "discovery" in wanted and not settings.discovery.network and network_fixed:
        defaults = DiscoverySettings()
        for key in ("vac_url", "openstack_url"):
            if getattr(settings.discovery, key) != getattr(defaults, key):
                message = "unused while [discovery] network is false"
                collector.add("warning", f"[discovery] {key}", message, source)
    probes = settings.probes
    if "probes" in wanted and probes.timeout >= probes.budget:
        message = (
            f"{probes.timeout:g} s is not less than [probes] budget {probes.budget:g} s:"
            " probes are cut at the budget instead"
        )
        collector.add("warning", "[probes] timeout", message, source)


def read_settings(
    path: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    sections: Iterable[str] | None = None,
) -> Configuration:
    """The settings from ``path``, else ``$VMSAM_CONFIG``, else /etc/vmsam/vmsam.toml (all
    defaults when that default file does not exist), then the environment overrides
    ``$VMSAM_DB`` (``[consumer] db``) and ``$VMSAM_API_TOKEN`` (``[api] token``).

    Never raises for what the file holds: every problem is in the answer. ``sections``
    limits the reading to those sections (the VM side reads ``VM_SECTIONS``).
    """
    env = os.environ if environ is None else environ
    wanted = tuple(sections) if sections is not None else tuple(_known_keys())
    named = path or env.get("VMSAM_CONFIG") or None
    config_path = named or DEFAULT_CONFIG
    collector = _Collector()
    settings = Settings()
    try:
        document = _read(config_path, explicit=named is not None)
    except ConfigError as exc:
        collector.add("error", "", exc.reason, config_path)
        return Configuration(config_path, settings, tuple(collector.problems), exc.reason)
    if document is not None:
        values = _known_values(document, config_path, wanted, collector)
        settings = _apply(settings, values, config_path, collector)
    overrides: dict[str, dict[str, object]] = {}
    for variable, (section, key) in _ENVIRONMENT.items():
        if section in wanted and env.get(variable):
            overrides.setdefault(section, {})[key] = env[variable]
    settings = _apply(settings, overrides, "environment", collector)
    _inert(settings, wanted, config_path, collector)
    source = config_path if document is not None else "defaults"
    return Configuration(source, settings, tuple(collector.problems))


def load_settings(path: str | None = None, *, environ: Mapping[str, str] | None = None) -> Settings:
    """``read_settings`` for the server side, which must not run on a half-read file:
    ConfigError when a named file is missing or unreadable, is not TOML, or holds a value
    that is not of its key's type or range. Warnings go to the log."""
    configuration = read_settings(path, environ=environ)
    if configuration.unusable:
        raise ConfigError(configuration.source, configuration.unusable)
    for problem in configuration.errors:
        raise _strict(problem)
    if configuration.warnings:
        import logging

        log = logging.getLogger(__name__)
        for problem in configuration.warnings:
            log.warning("%s", problem)
    return configuration.settings


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
    collector = _Collector()
    changed = _apply(settings, sections, "command line", collector)
    for problem in collector.problems:
        if problem.severity == "error":
            raise _strict(problem)
    return changed


def _strict(problem: Problem) -> ConfigError:
    """The error a strict reader raises for ``problem``: its reason, not the fallback."""
    return ConfigError(problem.source, problem.reason or problem.message, problem.key or None)
