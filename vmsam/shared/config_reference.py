"""The configuration reference: a description of every key, and the Markdown page made from
them and from the settings themselves (defaults, types, the sections a VM reads).

    python -m vmsam.shared.config_reference > docs/configuration.md

Kept apart from ``vmsam.shared.config``, which every VM boot imports: nothing here is
loaded unless the reference is asked for. tests/test_docs.py fails when a key has no
description here and when docs/configuration.md differs from ``render()``.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

from vmsam.shared.config import CHOICES, DEFAULT_CONFIG, VM_SECTIONS, Settings

__all__ = [
    "DESCRIPTIONS",
    "ENVIRONMENT",
    "FLAGS",
    "RANGES",
    "SECTIONS",
    "TYPES",
    "defaults_toml",
    "main",
    "render",
]

COMMAND = "python -m vmsam.shared.config_reference > docs/configuration.md"

# what each section is for, and who reads it
SECTIONS: dict[str, str] = {
    "vm": "Who the VM is: the names its results are published under. An empty value is "
    "discovered in the VM where that can be done.",
    "sampling": "Which VMs run the tests.",
    "paths": "Every file and directory the VM side touches. Tests and `make demo` point "
    "them into a fake VM tree.",
    "discovery": "The link-local metadata servers asked when nothing local answers.",
    "probes": "The probes a tested VM runs, their time limits, and which of them are critical.",
    "broker": "The STOMP broker(s): where the VM publishes, and where `vmsam consume` subscribes.",
    "consumer": "The monitoring side's subscription and database.",
    "outputs": "What the hook leaves for the VM factory in `$JOBOUTPUTS`.",
    "api": "The dashboard API (`vmsam serve`).",
    "recomputations": "The candidates for recomputations vmsam proposes from its own records "
    "(`GET /api/v1/recomputations/candidates`, `vmsam recompute candidates`).",
    "vacmon": "`vmsam vacmon`, the VacMon-compatible UDP listener that learns which VMs ran "
    'and which spaces their factories reported idle (docs/availability.md, "No VMs ran"). '
    "Its database is `[consumer] db` (or `--db`, `$VMSAM_DB`).",
}

DESCRIPTIONS: dict[tuple[str, str], str] = {
    # [vm]
    ("vm", "space"): "The Vac/Vcycle space name, published as `hostName` and `serviceURI`: "
    "the endpoint (the CE, for A/R) the results are about. Usually `##user_data_space##`. "
    "Empty: taken from a Vcycle MJF or joboutputs URL (`.../machines/<space>/...`). "
    "Without a space name nothing is published.",
    ("vm", "site"): "The GOCDB site name, published as `siteName`. Usually "
    "`##user_data_site##`. Empty: the space name without its first label (Vac's own rule).",
    ("vm", "uuid"): "The VM's UUID, published as `vmUUID` and hashed for sampling. Vac: "
    "`##user_data_uuid##`. Empty: jobfeatures `job_id`, then a UUID found in jobfeatures "
    "`jobstart_secs` (the Vcycle 03.x bug, with a warning), then OpenStack's metadata.",
    ("vm", "hostname"): "The VM's own host name, published as `gatheredAt`. Usually "
    "`##user_data_machine_hostname##`. Empty: the machine's fully qualified name.",
    ("vm", "machinetype"): "The Vac/Vcycle machinetype, published as `vmMachinetype`. "
    "Usually `##user_data_machinetype##`.",
    ("vm", "vo"): "The VO the tests are for: metric names are `org.<vo>.WN-<test>`, and "
    "`voName`. Required to publish; usually a `##user_data_option_...##` pattern.",
    ("vm", "fqan"): "Published as `voFqan` and appended to `nagiosName`. Empty: `/<vo>`.",
    ("vm", "service_type"): "Published as `serviceFlavour` and `serviceType`. Empty: "
    "`uk.ac.gridpp.vac` or `uk.ac.gridpp.vcycle` from `manager_version`, else "
    "`uk.ac.gridpp.vac` with a warning.",
    ("vm", "manager_version"): "The factory's version string, such as `Vac 4.0` or "
    "`Vcycle 3.1` (`##user_data_manager_version##`); its first word tells Vac from Vcycle.",
    # [sampling]
    ("sampling", "fraction"): "The share of VMs that run the tests. A VM runs them when "
    "the first 8 hex digits of `sha256(uuid)`, divided by 2^32, are below the fraction "
    "(without a UUID: a random draw). A machinefeatures key `vmsam_fraction` holding a "
    "number in [0, 1] takes precedence, so a site can change it without rebuilding images; "
    "`vmsam init-hook --force` tests regardless. `vmsam plan` recommends a value.",
    # [paths]
    ("paths", "cvmfs_root"): "Where the CernVM-FS repositories are mounted "
    "(check_wn_cvmfs `--cvmfs-root`).",
    ("paths", "grid_root"): "The grid middleware tree: the trust store under "
    "`etc/grid-security` and the WN/UI setup scripts (check_wn_middleware `--grid-root`).",
    ("paths", "scratch"): "The scratch partition (check_wn_scratch `--path`); "
    "check_wn_cvmfs also wants the cvmfs cache on it.",
    ("paths", "machinefeatures"): "The `$MACHINEFEATURES` directory or URL. Empty: "
    "`$MACHINEFEATURES`, `<etc_dir>/machinefeatures`, then, with `[discovery] network`, "
    "Vac's metadata server and OpenStack's metadata.",
    ("paths", "jobfeatures"): "The `$JOBFEATURES` directory or URL, found like "
    "`machinefeatures` when empty.",
    ("paths", "joboutputs"): "The `$JOBOUTPUTS` directory or URL (HTTP `PUT`) that "
    "receives `vmsam-results.json` and `shutdown_message`. Empty: `$JOBOUTPUTS`, "
    "OpenStack's metadata, then the first existing directory of `joboutputs_dirs`.",
    ("paths", "spool"): "The durable outgoing spool (a `dirq` directory). Every message is "
    "on disk here before it is sent, and leaves only when a broker confirmed it; "
    "`vmsam send` delivers what is left.",
    ("paths", "proxy"): "The X.509 proxy Vac/Vcycle put into the VM (such as "
    "`/root/x509proxy.pem`); check_wn_middleware checks that it outlives the VM. Empty: "
    "no proxy is checked.",
    ("paths", "mounts_file"): "The mounts table the probes read.",
    ("paths", "swaps_file"): "The swaps table check_wn_scratch reads.",
    ("paths", "cvmfs_config_dir"): "The cvmfs client configuration (the cache's place and quota).",
    ("paths", "etc_dir"): "Where the `machinefeatures` and `jobfeatures` directories are "
    "looked for.",
    ("paths", "joboutputs_dirs"): "Local joboutputs staging directories, tried in order "
    "when nothing else names one (the second is where Vac up to 0.19 put them).",
    # [discovery]
    ("discovery", "network"): "Whether the VM may ask the link-local metadata servers "
    "below. `false`: never; the probes get `--no-discovery`.",
    ("discovery", "vac_url"): "Vac's metadata server (machinefeatures and jobfeatures over HTTP).",
    ("discovery", "openstack_url"): "OpenStack's metadata server (the UUID, and the "
    "machinefeatures, jobfeatures and joboutputs locations Vcycle puts there).",
    # [probes]
    ("probes", "timeout"): "Seconds each probe may take, passed to it as `--timeout`. "
    "The hook kills the probe's process group 2 s later and reports the test UNKNOWN "
    '"timed out after N s". Should be less than `budget`.',
    ("probes", "budget"): "Seconds for the whole hook, probes and publishing together; "
    "the probes get the first three quarters. What is not delivered in time stays in "
    "the spool for `vmsam send`.",
    ("probes", "repositories"): "The CernVM-FS repositories check_wn_cvmfs checks. "
    "Empty: the VO's usual ones ([probes.md](probes.md)).",
    ("probes", "extra"): "The site's own Nagios plugins, each run as one more test. An "
    "item is a command line (split with shell rules) or a table "
    '`{ command = "...", name = "..." }` that names its test. Unnamed, the test is the '
    "executable's name without `check_wn_` or `check_`; a name already taken gets "
    "`-<6 hex digits of the command line>`. An entry that cannot be parsed, found or run "
    "is that test's UNKNOWN result.",
    ("probes", "critical"): "The tests whose CRITICAL result makes the VM ask to be shut "
    "down (`[outputs] shutdown_on_critical`) and `--strict` exit 2. Empty: the four "
    "built-in tests. A name that is no test of the run is reported; when none is left, "
    "the built-ins apply.",
    # [broker]
    ("broker", "urls"): "The brokers as `host:port` or `[ipv6]:port`, tried in order, "
    "failing over to the next; `vmsam consume` uses one of them at a time. One bad entry "
    "is dropped alone. Without any broker the VM publishes nothing (results still reach "
    "joboutputs and syslog).",
    ("broker", "destination"): "The queue or topic the VM publishes to, in the WLCG "
    "key/value format: the default, used when `destinations` is not set.",
    ("broker", "destinations"): "Several destinations, each with its format: a list of "
    '`{ name = "<queue or topic>", format = "wlcg" | "monit" }` (or strings `<name>` and '
    "`monit:<name>`). Every result is published to each, `wlcg` as the key/value record, "
    "`monit` as MONIT's JSON document (docs/messages.md); each copy waits in a spool of its "
    "own until its destination confirmed it. One bad entry is dropped alone. Set, it "
    "replaces `destination`.",
    ("broker", "user"): "STOMP login.",
    ("broker", "password"): "STOMP passcode; unused without `user`.",
    ("broker", "ssl"): "TLS to the broker. `cert`, `key`, `ca_dir` and `ca_file` are used "
    "only when this is true (set while it is false, they are warned about).",
    ("broker", "cert"): "Client certificate file for TLS; may be the VM's proxy file, which "
    "holds its key too.",
    ("broker", "key"): "Client key file for TLS; empty: the key is in `cert`.",
    ("broker", "ca_dir"): "A hashed CA directory (such as "
    "`/etc/grid-security/certificates`) trusted for the broker's certificate. With neither "
    "`ca_dir` nor `ca_file`, the system's default CAs are trusted.",
    ("broker", "ca_file"): "A PEM file of CA certificates trusted for the broker's certificate.",
    ("broker", "vhost"): "The STOMP `host` header. RabbitMQ reads it as its virtual host "
    "(usually `/`) and refuses the broker's host name, which is sent when this is empty.",
    (
        "broker",
        "sign",
    ): "Sign each message (S/MIME, as APEL's SSM does) so that the consumer can tell who sent "
    "it. Off by default: a signed body is S/MIME, which ARGO's and other WLCG consumers do "
    "not read; turn it on where the messages go to `vmsam consume` (or another consumer "
    "that verifies S/MIME). `auto`: when a credential is found (`sign_cert`), else unsigned"
    " with a note; `yes`: the same, but a missing credential is reported as a problem; "
    "`no`: never. A credential that cannot be used never stops publishing: the messages go "
    "unsigned and the hook's notes say why. Messages are signed when spooled, so a spooled "
    "message stays verifiable.",
    ("broker", "sign_cert"): "The certificate file (PEM) messages are signed with; it may "
    "hold the chain (a proxy file holds the proxy, its key and the certificate it was made "
    "from). Empty: `[broker] cert` when set, else `[paths] proxy`.",
    ("broker", "sign_key"): "The private key file (PEM, unencrypted) of `sign_cert`. Empty: "
    "`[broker] key` with `[broker] cert`, else the key in the certificate file.",
    # [consumer]
    ("consumer", "destination"): "What `vmsam consume` subscribes to: a queue, a topic or "
    "an ActiveMQ virtual topic's `/queue/Consumer.<group>.VirtualTopic.<name>`.",
    ("consumer", "db"): "The database of `vmsam consume` and `vmsam serve`: "
    "`sqlite:///<path>` or `postgresql://<user>:<password>@<host>/<database>`. "
    "Empty: `sqlite:///vmsam.db` in the working directory.",
    ("consumer", "ca_dir"): "The CA directory signed messages are verified against (IGTF "
    "layout, such as `/etc/grid-security/certificates`: `<hash>.0`/`<alias>.pem` "
    "certificates, `<hash>.r0` CRLs, read again when they change). Empty: nothing is "
    "verified; a signed message is only unwrapped.",
    ("consumer", "allow_list"): "The allow-list file: which certificate subject may report "
    'for which sites and spaces (docs/messages.md, "Signed messages"); read again '
    "when it changes. Needed with `ca_dir`.",
    ("consumer", "unsigned"): "What happens to an unsigned message when `ca_dir` is set: "
    "`accept` (stored, not flagged), `flag` (stored with `signature` `unsigned`, shown in "
    "the API and the page) or `reject` (dead-lettered).",
    # [outputs]
    ("outputs", "shutdown_on_critical"): "When a critical test is CRITICAL, write "
    "`shutdown_message` (`500 vmsam: <summaries>`) to joboutputs: the VM asks to be shut "
    "down and the factory backs off its machinetype.",
    # [api]
    ("api", "token"): "A bearer token that writes to the API (declaring, correcting and "
    "removing downtimes) and its authenticated reads (`/api/v1/audit`, "
    "`/api/v1/health/details`) need. The audit log names its caller by a fingerprint "
    "(`token-` and 12 hex digits of its SHA-256), never by the token. With neither this "
    "nor `token_file`, writes are refused. Other reads are open.",
    ("api", "token_file"): "A file of bearer tokens, valid besides `token`: one per line, "
    "or `name:token` so that the audit log names the caller; `#` starts a comment line, "
    "blank lines are ignored. A token is at least 16 printable ASCII characters without "
    "spaces; a name is letters, digits and `._@-`. The file is read again whenever it "
    "changes (its size, modification time or inode: one `stat` per authenticated request), "
    "so tokens are rotated without a restart. While it cannot be read or holds a line that "
    "is no token, every write is refused with 503 and the log says why.",
    ("api", "cors_origins"): "Origins (`https://dashboard.example.org`, scheme, host and "
    "port) whose pages may read and write the API from a browser (CORS); `*` for any. "
    "Empty: none, no `Access-Control-Allow-Origin` is ever sent. Credentials (cookies) "
    "are never allowed: a bearer token is sent by the page's script itself.",
    ("api", "groups"): "A groups file (TOML, or JSON by its `.json` suffix): groups of sites "
    "(`kind` tier, federation or country) whose weighted A/R `GET /api/v1/ar/groups` gives "
    '(docs/availability.md, "Groups of sites"). Read once at start; a file that cannot be '
    "used stops `vmsam serve` with exit status 78. Empty: no groups, the route answers 404.",
    # [recomputations]
    ("recomputations", "outage"): "Seconds without any result received by the store (from any "
    "VO or site) that make a broker-outage candidate for a recomputation (60 to 31 days). "
    "An hour: a deployment of a few hundred sites receives results every few seconds, so "
    "an hour of silence is the broker or the consumer, not the sites. A small deployment "
    "whose VMs may all be idle for hours has natural gaps that long: set it above its "
    "longest quiet period. Candidates are only proposed; a person accepts them.",
    ("vacmon", "listen"): "`HOST:PORT` (or `[IPv6]:PORT`) the listener receives datagrams "
    "on; Vac's `vacmon_hostport` (and Vcycle's) points here. VacMon's port is 8884. Use "
    "`0.0.0.0:8884` to hear factories on other hosts (UDP is unauthenticated: restrict the "
    "port to the factories' network).",
    ("vacmon", "max_bytes"): "The largest datagram taken, in bytes; a larger one is rejected "
    "into the dead letters (its first `max_bytes` kept). A `machine_status` is about 1 kB.",
    ("vacmon", "idle_hold"): "Seconds one report of a factory that no VM of a space is running "
    "(`running_machines` 0) holds; overlapping reports make one idle stretch. Vac reports "
    "every few minutes: a hold of about twice that leaves no gap.",
    ("vacmon", "future_slack"): "Seconds ahead of the listener's clock a time in a datagram "
    "may be; one further ahead (or before 2000) is absurd and the datagram is rejected.",
}

# environment variable -> (the key it overrides, or None) and what it is for
ENVIRONMENT: dict[str, tuple[tuple[str, str] | None, str]] = {
    "VMSAM_CONFIG": (
        None,
        f"The configuration file when `--config` is not given (else `{DEFAULT_CONFIG}`).",
    ),
    "VMSAM_DB": (
        ("consumer", "db"),
        "The database URL. `consume` and `serve` take `--db`, then this, then "
        "`[consumer] db`; `ingest`, `ar`, `downtime` and the `db` commands read no "
        "configuration file: `--db`, then this, then `sqlite:///vmsam.db`.",
    ),
    "VMSAM_API_TOKEN": (("api", "token"), "The API's bearer token for writes."),
}

# key -> the command-line flags that override it, and the commands that take them
FLAGS: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {
    ("consumer", "db"): ("--db", ("consume", "serve", "vacmon")),
    ("vacmon", "listen"): ("--listen", ("vacmon",)),
    ("consumer", "destination"): ("--destination", ("consume",)),
}

# the numbers' ranges: (lowest, highest, lowest excluded)
RANGES: dict[tuple[str, str], tuple[float, float, bool]] = {
    ("sampling", "fraction"): (0.0, 1.0, False),
    ("probes", "timeout"): (0.0, math.inf, True),
    ("probes", "budget"): (0.0, math.inf, True),
    ("recomputations", "outage"): (60.0, 31 * 86400.0, False),
    ("vacmon", "max_bytes"): (512.0, 65507.0, False),
    ("vacmon", "idle_hold"): (1.0, 86400.0, False),
    ("vacmon", "future_slack"): (0.0, 7 * 86400.0, False),
}

# the annotation of a field -> its type as the reference names it
TYPES: dict[str, str] = {
    "str": "string",
    "float": "number",
    "bool": "boolean",
    "tuple[str, ...]": "list of strings",
    "tuple[ExtraProbe, ...]": "list of command lines or tables",
    "tuple[Destination, ...]": "list of tables or strings",
}


def _type(section: str, key: str, annotation: str) -> str:
    name = TYPES[annotation]
    if (section, key) in CHOICES:
        name = "one of " + ", ".join(f"`{choice}`" for choice in CHOICES[section, key])
    if (section, key) in RANGES:
        low, high, open_low = RANGES[section, key]
        if high == math.inf:
            name += f", {'>' if open_low else '>='} {low:g}"
        else:
            name += f", {low:g} to {high:g}"
    return name


def _toml(value: object) -> str:
    """A default as TOML writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _fields(section: str) -> list[tuple[str, str, Any]]:
    """(key, annotation, default) of each key of ``section``, in the order of the file."""
    defaults = getattr(Settings(), section)
    annotations = type(defaults).__annotations__
    # under postponed evaluation NamedTuple keeps each annotation as a ForwardRef
    return [
        (key, str(getattr(annotations[key], "__forward_arg__", annotations[key])), default)
        for key, default in zip(defaults._fields, defaults, strict=True)
    ]


def defaults_toml() -> str:
    """A configuration file that sets every key to its default."""
    lines: list[str] = []
    for section in Settings._fields:
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {_toml(default)}" for key, _, default in _fields(section))
        lines.append("")
    return "\n".join(lines)


_INTRO = f"""\
<!-- Generated from vmsam/shared/config_reference.py by `{COMMAND}`.
     Edit the descriptions there, not this file: tests/test_docs.py compares the two. -->

# Configuration reference

vmsam reads one TOML file: `--config FILE`, else `$VMSAM_CONFIG`, else `{DEFAULT_CONFIG}`.
When that default file does not exist every key has its default; a file named by `--config`
or `$VMSAM_CONFIG` must exist. Keys are a contract with site admins: keys may be added,
never renamed.

## Precedence

For every setting: **command-line flag > environment variable > file > built-in default.**
Only a few settings have a flag or a variable (tables below). One more source applies in
the VM: a machinefeatures key `vmsam_fraction` takes precedence over `[sampling] fraction`.

## Values left for Vac/Vcycle: `##user_data_...##`

Any value may be a Vac/Vcycle pattern such as `"##user_data_space##"` or
`"##user_data_option_vmsam_vo##"`. Vac and Vcycle replace the patterns they know before
the VM boots, and replace the ones they do not know by the empty string. So:

- an **empty value** means "not supplied": the default applies, and where the default is
  empty the VM discovers the value itself;
- a value that **still holds a pattern** was not supplied either, and is treated the same;
- in a list, each item that is empty or holds a pattern is left out; a list left with no
  item keeps its default.

Because a pattern is always a string, every value may be written as a string: numbers
(`"0.25"`), booleans (`"true"`, `"yes"`, `"on"`, `"1"`, `"false"`, `"no"`, `"off"`, `"0"`)
and lists. A list given as one string holds its items separated by spaces or commas
(`urls = "mq1:61613, mq2:61613"`); `[probes] extra` as one string holds command lines
separated by `;` or newlines outside quotes. `vmsam check-config` lists the patterns it
finds as such, not as faults.

## How the file is read

- **In the VM, leniently** (`vmsam init-hook`, `vmsam send`, `vmsam check-config`): only
  the sections marked "read in the VM" below. A value that cannot be used (wrong type, out
  of range) is replaced by its key's default; one bad item of a list drops only itself;
  unknown sections and keys are warned about and ignored. Each problem is one line naming
  its key. Only a file that cannot be read or parsed leaves every default, and then
  nothing is published. One typo never silences a site.
- **On the monitoring server, strictly** (`vmsam consume`, `vmsam serve`): every section;
  the first value that cannot be used stops the command with one line naming the file and
  the key (exit status 78). Unknown sections and keys are logged as warnings.

`vmsam check-config --config FILE` prints every problem the VM would meet, one line each
(exit 0: clean, 1: warnings, 2: errors).
"""


def _environment() -> list[str]:
    lines = [
        "## Environment variables",
        "",
        "| variable | overrides | meaning |",
        "|---|---|---|",
    ]
    for variable, (overridden, meaning) in ENVIRONMENT.items():
        target = f"`[{overridden[0]}] {overridden[1]}`" if overridden else "-"
        lines.append(f"| `{variable}` | {target} | {_cell(meaning)} |")
    lines += [
        "",
        "## Command-line flags",
        "",
        "| flag | overrides | commands |",
        "|---|---|---|",
    ]
    for (section, key), (flag, commands) in FLAGS.items():
        used = ", ".join(f"`vmsam {command}`" for command in commands)
        lines.append(f"| `{flag}` | `[{section}] {key}` | {used} |")
    return [*lines, ""]


def _section(section: str) -> list[str]:
    where = "read in the VM" if section in VM_SECTIONS else "server only; never read in a VM"
    lines = [
        f"## `[{section}]` ({where})",
        "",
        SECTIONS[section],
        "",
        "| key | type | default | description |",
        "|---|---|---|---|",
    ]
    for key, annotation, default in _fields(section):
        lines.append(
            f"| `{key}` | {_type(section, key, annotation)} | `{_cell(_toml(default))}` "
            f"| {_cell(DESCRIPTIONS[section, key])} |"
        )
    return [*lines, ""]


def render() -> str:
    """docs/configuration.md."""
    lines = [_INTRO, *_environment()]
    for section in Settings._fields:
        lines += _section(section)
    lines += [
        "## Every key at its default",
        "",
        "A file that sets every key to its default; reading it changes nothing.",
        "",
        "```toml",
        defaults_toml().rstrip("\n"),
        "```",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
