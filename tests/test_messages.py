"""The WLCG record format: round trip, escaping, and what real consumers' parsers see."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vmsam.shared import messages
from vmsam.shared.messages import MessageError, MetricResult

EXAMPLE = """serviceURI: vac01.tier2.hep.manchester.ac.uk
hostName: vac01.tier2.hep.manchester.ac.uk
serviceFlavour: uk.ac.gridpp.vac
siteName: UKI-NORTHGRID-MAN-HEP
metricStatus: OK
metricName: org.lhcb.WN-cvmfs
summaryData: OK - 4 repositories mounted, revisions current
gatheredAt: vac01-07.tier2.hep.manchester.ac.uk
timestamp: 2026-11-25T10:00:00Z
nagiosName: org.lhcb.WN-cvmfs-/lhcb/Role=production
role: site
voName: lhcb
voFqan: /lhcb/Role=production
serviceType: uk.ac.gridpp.vac
detailsData: first line
second line
EOT
"""


def naive_parse(body: str) -> dict[str, str]:
    """What the simplest real consumer does: split each line at the first ': ' until EOT."""
    fields: dict[str, str] = {}
    for line in body.split("\n"):
        if line == "EOT":
            break
        if ": " in line:
            key, value = line.split(": ", 1)
            fields[key] = value
    return fields


def result(**changes: object) -> MetricResult:
    base = messages.decode(EXAMPLE)
    return MetricResult(**{**base.__dict__, **changes})  # type: ignore[arg-type]


def test_decodes_the_reference_example():
    decoded = messages.decode(EXAMPLE)
    assert decoded.host_name == "vac01.tier2.hep.manchester.ac.uk"
    assert decoded.status == "OK"
    assert decoded.timestamp == datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    assert decoded.details == "first line\nsecond line"
    assert decoded.vo == "lhcb"
    assert messages.encode(decoded) == EXAMPLE


def test_a_decoded_result_is_the_frozen_dataclass_its_fields_make():
    # the decoder builds results without MetricResult.__init__ (frozen.assembled)
    decoded = messages.decode(EXAMPLE)
    built = MetricResult(**decoded.__dict__)
    assert decoded == built
    assert repr(decoded) == repr(built)
    assert vars(decoded).keys() == vars(built).keys()
    with pytest.raises(dataclasses.FrozenInstanceError):
        decoded.status = "CRITICAL"  # type: ignore[misc]
    assert dataclasses.replace(decoded, status="CRITICAL").status == "CRITICAL"


def test_vmsam_keys_come_before_details_and_round_trip():
    original = result(
        vm_uuid="5b1a",
        vm_machinetype="lhcb-vm",
        probe_duration="1.250",
        perf_data="a=1;2;3 'b c'=4MB",
        extra={"x-site-note": "kept"},
    )
    body = messages.encode(original)
    lines = body.splitlines()
    assert lines.index("vmUUID: 5b1a") < lines.index("detailsData: first line")
    assert lines[-1] == "EOT"
    assert messages.decode(body) == original


def test_vo_from_metric_name_when_vo_name_absent():
    body = EXAMPLE.replace("voName: lhcb\n", "")
    assert messages.decode(body).vo == "lhcb"
    with pytest.raises(MessageError, match="no voName"):
        messages.decode(body.replace("org.lhcb.WN-cvmfs\n", "WN-cvmfs\n"))


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda b: b.replace("metricStatus: OK", "metricStatus: ok"), "metricStatus"),
        (lambda b: b.replace("metricStatus: OK", "metricStatus: 0"), "metricStatus"),
        (lambda b: b.replace("serviceType: uk.ac.gridpp.vac\n", ""), "serviceType"),
        (lambda b: b.replace("siteName: UKI-NORTHGRID-MAN-HEP\n", ""), "siteName"),
        (lambda b: b.replace("2026-11-25T10:00:00Z", "2026-11-25 10:00:00"), "timestamp"),
        (lambda b: b.replace("2026-11-25T10:00:00Z", "2026-13-25T10:00:00Z"), "timestamp"),
        (
            lambda b: b.replace("hostName: vac01.tier2.hep.manchester.ac.uk", "hostName: v"),
            "hostName",
        ),
        (lambda b: b.replace("EOT\n", ""), "EOT"),
        (lambda b: "garbage line\n" + b, "not 'key: value'"),
        (lambda b: b + "x" * messages.MAX_MESSAGE_BYTES, "over the"),
    ],
)
def test_invalid_records_are_refused_with_a_reason(mutate, reason):
    with pytest.raises(MessageError, match=reason):
        messages.decode(mutate(EXAMPLE))


def test_not_utf8_is_refused():
    with pytest.raises(MessageError, match="not UTF-8"):
        messages.decode(EXAMPLE.encode() + b"\xff\xfe")


def test_hostile_details_cannot_end_the_record_or_override_keys():
    hostile = "fine\nEOT\nmetricStatus: CRITICAL\n hostName: x\nsummaryData: pwned\n\n  two"
    original = result(details=hostile)
    body = messages.encode(original)
    seen = naive_parse(body)
    assert seen["metricStatus"] == "OK"
    assert seen["summaryData"] == original.summary
    assert seen["hostName"] == original.host_name
    assert messages.decode(body) == original


def test_summary_is_one_line_and_may_hold_the_separator():
    body = messages.encode(result(summary="CRITICAL: a: b\nEOT\nmetricStatus: OK"))
    seen = naive_parse(body)
    assert seen["summaryData"] == "CRITICAL: a: b EOT metricStatus: OK"
    assert seen["metricStatus"] == "OK"
    assert body.count("\nEOT\n") == 1


def test_control_characters_become_replacement_and_long_details_are_cut():
    body = messages.encode(result(summary="a\x00b\x1bc", details="x\x07" + "y" * 40000))
    decoded = messages.decode(body)
    assert decoded.summary == "a\ufffdb\ufffdc"
    assert decoded.details.startswith("x\ufffdyyy")
    assert decoded.details.endswith(messages.CUT_MARKER)
    assert len(decoded.details.encode()) <= messages.MAX_DETAILS_BYTES


def test_decode_all_reads_a_file_of_records_and_reports_bad_ones():
    text = EXAMPLE + EXAMPLE.replace("metricStatus: OK", "metricStatus: BAD") + "serviceURI: x\n"
    answers = list(messages.decode_all(text))
    assert isinstance(answers[0], MetricResult)
    assert isinstance(answers[1], MessageError)
    assert isinstance(answers[2], MessageError)
    assert "incomplete" in str(answers[2])


# text that needs neither replacement nor cut: no control characters but tab and newline
_safe_char = st.characters(blacklist_categories=("Cs",), blacklist_characters="\r").filter(
    lambda c: not messages._CONTROL.match(c)
)
safe_line = st.text(_safe_char.filter(lambda c: c != "\n"), min_size=1, max_size=60).filter(
    lambda s: s.strip() != ""
)
safe_text = st.text(_safe_char, max_size=400)
word = st.from_regex(r"[a-zA-Z][a-zA-Z0-9.-]{1,30}", fullmatch=True)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=0))


@st.composite
def results(draw: st.DrawFn) -> MetricResult:
    optional = lambda strategy: st.none() | strategy  # noqa: E731
    return MetricResult(
        service_uri=draw(word),
        host_name=draw(word),
        service_flavour=draw(word),
        site_name=draw(word),
        status=draw(st.sampled_from(messages.STATUSES)),
        metric_name="org." + draw(word) + ".WN-" + draw(word).replace(".", "x"),
        summary=draw(safe_line),
        gathered_at=draw(word),
        timestamp=draw(moments),
        service_type=draw(word),
        nagios_name=draw(optional(safe_line)),
        role=draw(optional(word)),
        vo_name=draw(optional(word)),
        vo_fqan=draw(optional(safe_line)),
        vm_uuid=draw(optional(word)),
        vm_machinetype=draw(optional(safe_line)),
        probe_duration=draw(optional(st.from_regex(r"[0-9]{1,4}\.[0-9]{3}", fullmatch=True))),
        perf_data=draw(optional(safe_line)),
        details=draw(safe_text),
    )


@settings(max_examples=500)
@given(results())
def test_round_trip(original: MetricResult):
    body = messages.encode(original)
    assert messages.decode(body) == original
    assert messages.decode(body.encode("utf-8")) == original


@settings(max_examples=300)
@given(results(), st.text(max_size=300), st.text(max_size=100))
def test_any_probe_text_keeps_the_record_intact(base: MetricResult, details: str, summary: str):
    body = messages.encode(
        MetricResult(**{**base.__dict__, "details": details, "summary": summary or "x"})
    )
    seen = naive_parse(body)
    for key in messages.REQUIRED:
        assert key in seen
    assert seen["metricStatus"] == base.status
    assert seen["hostName"] == base.host_name
    assert body.endswith("\nEOT\n")
    assert body.count("\nEOT\n") == 1
    decoded = messages.decode(body)
    assert decoded.status == base.status
    assert "\n" not in decoded.summary
