"""The WLCG metric-result message: the one encoder and decoder, used by both ends.

A record is ``key: value`` lines in the reference producer's order, ``detailsData`` last
(multi-line), then a line ``EOT`` (docs/messages.md). Text from probes must never break a
record, so:

- every value but ``detailsData`` is one line: newlines become spaces;
- every ``detailsData`` line after the first that is ``EOT``, begins with a space or begins
  with ``<word>: `` gets one extra leading space; the decoder removes one leading space from
  every such line that begins with one, so the escape is reversible;
- control characters other than tab and newline become U+FFFD, and ``detailsData`` over
  16 KiB is cut with a marker.

``decode(encode(x)) == x`` for every result whose text needs neither replacement nor cut.

The same result also has MONIT's encoding, the JSON document ETF sends to WLCG's MONIT
pipeline (``encode_monit``; docs/messages.md, "MONIT's JSON document"): ETF's fields
``dst_hostname``, ``service_flavour``, ``metric_name``, ``status``, ``timestamp`` (epoch
milliseconds), ``summary``, ``details``, ``vo``, ``dst_experiment_site`` and
``gathered_at``, and every other field of the result under the one key ``vmsam`` by its
WLCG key name, so nothing is lost and a MONIT consumer ignores it. ``decode`` tells the two
apart by the body (a JSON object or key/value lines) and ``decode(encode_monit(x)) == x``
likewise. A document without ``vmsam`` (ETF's own) decodes too: its service URI is its
host, its service type its flavour.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from vmsam.shared.errors import MessageError
from vmsam.shared.frozen import assembled

STATUSES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
MAX_MESSAGE_BYTES = 64 * 1024
MAX_DETAILS_BYTES = 16 * 1024
MAX_VALUE_BYTES = 2 * 1024
CUT_MARKER = " [cut by vmsam]"
NO_SUMMARY = "(no summary)"

# what the reference producer requires, plus serviceType, which ARGO's consumer requires
REQUIRED = (
    "serviceURI",
    "hostName",
    "serviceFlavour",
    "siteName",
    "metricStatus",
    "metricName",
    "summaryData",
    "gatheredAt",
    "timestamp",
    "serviceType",
)

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_KEY_LIKE = re.compile(r"^\S+: ")
_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$", re.ASCII)
_VO_IN_METRIC = re.compile(r"^org\.(.+)\.[^.]+$")


@dataclass(frozen=True)
class MetricResult:
    """One metric result. ``timestamp`` is an aware UTC datetime in whole seconds."""

    service_uri: str
    host_name: str
    service_flavour: str
    site_name: str
    status: str
    metric_name: str
    summary: str
    gathered_at: str
    timestamp: datetime
    service_type: str
    nagios_name: str | None = None
    role: str | None = None
    vo_name: str | None = None
    vo_fqan: str | None = None
    vm_uuid: str | None = None
    vm_machinetype: str | None = None
    probe_duration: str | None = None
    perf_data: str | None = None
    details: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def vo(self) -> str | None:
        """``voName``, else the ``<vo>`` of an ``org.<vo>.<test>`` metric name."""
        if self.vo_name:
            return self.vo_name
        match = _VO_IN_METRIC.match(self.metric_name)
        return match.group(1) if match else None


# (wire key, attribute) in the reference producer's order; vmsam's own keys before details
_FIELDS: tuple[tuple[str, str], ...] = (
    ("serviceURI", "service_uri"),
    ("hostName", "host_name"),
    ("serviceFlavour", "service_flavour"),
    ("siteName", "site_name"),
    ("metricStatus", "status"),
    ("metricName", "metric_name"),
    ("summaryData", "summary"),
    ("gatheredAt", "gathered_at"),
    ("timestamp", "timestamp"),
    ("nagiosName", "nagios_name"),
    ("role", "role"),
    ("voName", "vo_name"),
    ("voFqan", "vo_fqan"),
    ("serviceType", "service_type"),
    ("vmUUID", "vm_uuid"),
    ("vmMachinetype", "vm_machinetype"),
    ("probeDuration", "probe_duration"),
    ("perfData", "perf_data"),
)
_ATTRIBUTE = dict(_FIELDS)


def clean(text: str) -> str:
    """Control characters other than tab and newline become U+FFFD."""
    return _CONTROL.sub("\ufffd", text)


def _cut(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    room = limit - len(CUT_MARKER.encode("utf-8"))
    return data[:room].decode("utf-8", errors="ignore") + CUT_MARKER


def one_line(text: str) -> str:
    """A header value: one line, clean, bounded."""
    return _cut(clean(text.replace("\r\n", " ").replace("\n", " ")), MAX_VALUE_BYTES)


def _escape_details(details: str) -> str:
    first, *rest = _cut(clean(details), MAX_DETAILS_BYTES).split("\n")
    escaped = [
        " " + line if line == "EOT" or line.startswith(" ") or _KEY_LIKE.match(line) else line
        for line in rest
    ]
    return "\n".join([first, *escaped])


def format_timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def encode(result: MetricResult) -> str:
    """The record for ``result``, ending with ``EOT`` and a newline."""
    lines = []
    for key, attribute in _FIELDS:
        value = getattr(result, attribute)
        if value is None:
            continue
        text = format_timestamp(value) if key == "timestamp" else one_line(str(value))
        if key == "summaryData" and not text.strip():
            # consumers reject a blank required field: the record must stay valid
            text = NO_SUMMARY
        lines.append(f"{key}: {text}")
    for key, value in result.extra.items():
        if _KEY.match(key) and key not in _ATTRIBUTE and key != "detailsData":
            lines.append(f"{key}: {one_line(value)}")
    lines.append(f"detailsData: {_escape_details(result.details)}")
    lines.append("EOT")
    return "\n".join(lines) + "\n"


def _parse_timestamp(text: str) -> datetime:
    if not _TIMESTAMP.match(text):
        raise MessageError(f"timestamp {text!r} is not in the format YYYY-MM-DDTHH:MM:SSZ")
    try:
        # the pattern above admits only this one form, which fromisoformat reads in C
        return datetime.fromisoformat(text)
    except ValueError:
        raise MessageError(f"timestamp {text!r} is not a valid date and time") from None


def _details(first: str, rest: list[str]) -> str:
    """``detailsData`` from its first line and the lines after it, unescaped."""
    if not rest:
        return first
    text = "\n".join(rest)
    if text.startswith(" ") or "\n " in text:
        text = "\n".join(line[1:] if line.startswith(" ") else line for line in rest)
    return f"{first}\n{text}"


def _record(lines: list[str]) -> MetricResult:
    values: dict[str, str] = {}
    details = ""
    for number, line in enumerate(lines, start=1):
        key, separator, value = line.partition(": ")
        if not separator:
            if not line.strip():
                continue  # a line holding ": " is never blank
            if not line.endswith(":"):
                raise MessageError(f"line {number} is not 'key: value': {line[:80]!r}")
            key, value = line[:-1], ""
        if key == "detailsData":
            details = _details(value, lines[number:])
            break
        values[key] = value  # a later line with the same key overrides, as parsers do
    missing = [key for key in REQUIRED if not values.get(key, "").strip()]
    if missing:
        raise MessageError(f"missing required field(s): {', '.join(missing)}")
    if values["metricStatus"] not in STATUSES:
        raise MessageError(
            f"metricStatus {values['metricStatus'][:40]!r} is not one of {', '.join(STATUSES)}"
        )
    if len(values["hostName"].strip()) < 2:
        raise MessageError("hostName is shorter than 2 characters")
    timestamp = _parse_timestamp(values["timestamp"])
    fields: dict[str, object] = {attribute: values.pop(key, None) for key, attribute in _FIELDS}
    fields["timestamp"] = timestamp
    fields["details"] = details
    fields["extra"] = values
    result = assembled(MetricResult, fields)
    if result.vo is None:
        raise MessageError("no voName and no org.<vo>. in the metric name")
    return result


# where vmsam's own fields go in a MONIT document: one key, one thing a MONIT consumer ignores
MONIT_EXTRA = "vmsam"
# (JSON key, attribute) of the fields MONIT reads, in ETF's order; vo and timestamp apart
_MONIT: tuple[tuple[str, str], ...] = (
    ("dst_hostname", "host_name"),
    ("service_flavour", "service_flavour"),
    ("metric_name", "metric_name"),
    ("status", "status"),
    ("summary", "summary"),
    ("details", "details"),
    ("dst_experiment_site", "site_name"),
    # not in the fields MONIT's reports read, but in every document ETF sends
    ("gathered_at", "gathered_at"),
)
# details may be absent (empty), gathered_at too (the host then: ETF's own host is unknown)
_MONIT_REQUIRED = tuple(
    key for key, attribute in _MONIT if attribute not in ("details", "gathered_at")
)
_CARRIED = {attribute for _, attribute in _MONIT} | {"timestamp"}
# the result's other fields, under MONIT_EXTRA by their WLCG key
_OWN = tuple((key, attribute) for key, attribute in _FIELDS if attribute not in _CARRIED)
_OWN_KEYS = {key for key, _ in _OWN}
_OWN_REQUIRED = ("serviceURI", "serviceType")
# 2000-01-01 to 9999-12-31 in epoch ms: anything else is no time a probe ran
_EARLIEST_MS = 946_684_800_000
_LATEST_MS = 253_402_300_799_999


def _own_fields(result: MetricResult) -> dict[str, str]:
    own = {
        key: one_line(str(getattr(result, a))) for key, a in _OWN if getattr(result, a) is not None
    }
    for key, value in result.extra.items():
        if _KEY.match(key) and key not in _ATTRIBUTE and key != "detailsData":
            own[key] = one_line(value)
    return own


def encode_monit(result: MetricResult) -> str:
    """MONIT's JSON document for ``result``, one line, cleaned and bounded as ``encode``
    does (no escaping: JSON needs none)."""
    document: dict[str, object] = {}
    for key, attribute in _MONIT:
        value: str = getattr(result, attribute)
        document[key] = (
            _cut(clean(value), MAX_DETAILS_BYTES) if attribute == "details" else one_line(value)
        )
    if not str(document["summary"]).strip():
        document["summary"] = NO_SUMMARY  # as in the record: a blank summary is refused
    document["timestamp"] = int(result.timestamp.timestamp()) * 1000
    document["vo"] = result.vo
    document[MONIT_EXTRA] = _own_fields(result)
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def _no_constant(name: str) -> None:
    raise MessageError(f"JSON {name} is not a number a MONIT document may hold")


def _json_object(text: str) -> dict[str, object]:
    try:
        document = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise MessageError("invalid JSON: nested too deep") from None
    except MessageError:
        raise
    except ValueError as exc:
        # json's message and int()'s refusal of 4300+ digits are both one line
        raise MessageError(f"invalid JSON: {str(exc)[:100]}") from None
    if not isinstance(document, dict):
        raise MessageError("a MONIT document must be a JSON object")
    return document


def _json_string(
    document: dict[str, object], key: str, where: str = "", *, multiline: bool = False
) -> str:
    value = document[key]
    if not isinstance(value, str):
        kind = "null" if value is None else type(value).__name__
        raise MessageError(f"{where}{key} must be a string, not {kind}")
    if not multiline and ("\n" in value or "\r" in value):
        raise MessageError(f"{where}{key} holds a line break")
    return value


def _epoch_ms(value: object) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int):
        raise MessageError("timestamp must be an integer of epoch milliseconds")
    if not _EARLIEST_MS <= value <= _LATEST_MS:
        raise MessageError(f"timestamp {value} ms is not between the years 2000 and 9999")
    # whole seconds, as in the record: milliseconds are cut, not rounded
    return datetime.fromtimestamp(value // 1000, UTC)


def _own_values(document: dict[str, object]) -> dict[str, str]:
    """The fields under ``MONIT_EXTRA``, or those an ETF document implies without it."""
    if MONIT_EXTRA not in document:
        host, flavour = str(document["dst_hostname"]), str(document["service_flavour"])
        implied = {"serviceURI": host, "serviceType": flavour}
        if isinstance(document.get("vo"), str) and document["vo"]:
            implied["voName"] = str(document["vo"])
        return implied
    own = document[MONIT_EXTRA]
    if not isinstance(own, dict):
        raise MessageError(f"{MONIT_EXTRA} must be an object of strings")
    for key in own:
        if not _KEY.match(key):
            raise MessageError(f"{MONIT_EXTRA} key {key[:40]!r} is not a WLCG key name")
        if (key in _ATTRIBUTE and key not in _OWN_KEYS) or key == "detailsData":
            raise MessageError(f"{MONIT_EXTRA}.{key} is a field of the document itself")
        _json_string(own, key, f"{MONIT_EXTRA}.")
    missing = [f"{MONIT_EXTRA}.{k}" for k in _OWN_REQUIRED if not str(own.get(k, "")).strip()]
    if missing:
        raise MessageError(f"missing required field(s): {', '.join(missing)}")
    return {str(key): str(value) for key, value in own.items()}


def _monit(text: str) -> MetricResult:
    document = _json_object(text)
    missing = [key for key in (*_MONIT_REQUIRED, "timestamp") if key not in document]
    if missing:
        raise MessageError(f"missing required field(s): {', '.join(missing)}")
    values = {
        a: _json_string(document, key, multiline=a == "details")
        for key, a in _MONIT
        if key in document
    }
    blank = [key for key, a in _MONIT if key in _MONIT_REQUIRED and not values[a].strip()]
    if not values.setdefault("gathered_at", values["host_name"]).strip():
        blank.append("gathered_at")
    if blank:
        raise MessageError(f"missing required field(s): {', '.join(blank)}")
    if values["status"] not in STATUSES:
        raise MessageError(f"status {values['status'][:40]!r} is not one of {', '.join(STATUSES)}")
    if len(values["host_name"].strip()) < 2:
        raise MessageError("dst_hostname is shorter than 2 characters")
    vo = document.get("vo")
    if vo is not None and not isinstance(vo, str):
        raise MessageError(f"vo must be a string or null, not {type(vo).__name__}")
    own = _own_values(document)
    known = {attribute: own.pop(key, None) for key, attribute in _OWN}
    result = MetricResult(
        timestamp=_epoch_ms(document["timestamp"]),
        extra=own,
        **values,
        **known,  # type: ignore[arg-type]
    )
    if result.vo is None:
        raise MessageError(f"no vo, no {MONIT_EXTRA}.voName and no org.<vo>. in the metric name")
    if vo and vo != result.vo:
        raise MessageError(f"vo {vo[:40]!r} is not the result's VO {result.vo[:40]!r}")
    return result


def _text(body: str | bytes) -> str:
    if isinstance(body, str):
        return body
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MessageError(f"not UTF-8 (byte {exc.start})") from None


def _check_size(size: int) -> None:
    if size > MAX_MESSAGE_BYTES:
        raise MessageError(f"message of {size} bytes is over the {MAX_MESSAGE_BYTES} limit")


def _split(text: str) -> list[str]:
    lines = text.split("\n")
    return [line.removesuffix("\r") for line in lines] if "\r" in text else lines


def is_monit(text: str) -> bool:
    """Whether a body is meant as MONIT's JSON rather than a record, which begins with a
    key: a JSON array is refused as JSON, with a reason that says so."""
    return text.lstrip().startswith(("{", "["))


def decode(body: str | bytes) -> MetricResult:
    """The one result in ``body`` (a STOMP message body), a WLCG record or MONIT's JSON
    document; ``MessageError`` says what is wrong."""
    _check_size(len(body) if isinstance(body, bytes) else len(body.encode("utf-8", "replace")))
    text = _text(body)
    if is_monit(text):
        return _monit(text)
    lines = _split(text)
    try:
        end = lines.index("EOT")
    except ValueError:
        raise MessageError("no EOT line: the record is incomplete") from None
    return _record(lines[:end])


def decode_all(text: str | bytes) -> Iterator[MetricResult | MessageError]:
    """Every record in a file holding records one after another, each ended by ``EOT``."""
    try:
        lines = _split(_text(text))
    except MessageError as exc:
        yield exc
        return
    record: list[str] = []
    for line in lines:
        if line != "EOT":
            record.append(line)
            continue
        try:
            _check_size(sum(len(part.encode("utf-8", "replace")) + 1 for part in record))
            yield _record(record)
        except MessageError as exc:
            yield exc
        record = []
    if any(line.strip() for line in record):
        yield MessageError("no EOT line: the last record is incomplete")
