"""MONIT's JSON document beside the WLCG record: encoding, strict decoding, round trip."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings

from tests.test_messages import EXAMPLE, result, results
from vmsam.shared import messages
from vmsam.shared.messages import MAX_MESSAGE_BYTES, MessageError, MetricResult

ETF_FIELDS = {
    "dst_hostname",
    "service_flavour",
    "metric_name",
    "status",
    "timestamp",
    "summary",
    "details",
    "vo",
    "dst_experiment_site",
    "gathered_at",
}


def document(**changes: object) -> dict[str, object]:
    found: dict[str, object] = json.loads(messages.encode_monit(messages.decode(EXAMPLE)))
    found.update(changes)
    return found


def test_the_document_has_etf_fields_and_vmsams_under_one_key():
    encoded = json.loads(messages.encode_monit(messages.decode(EXAMPLE)))
    assert set(encoded) == ETF_FIELDS | {"vmsam"}
    assert encoded["dst_hostname"] == "vac01.tier2.hep.manchester.ac.uk"
    assert encoded["dst_experiment_site"] == "UKI-NORTHGRID-MAN-HEP"
    assert encoded["service_flavour"] == "uk.ac.gridpp.vac"
    assert encoded["timestamp"] == int(datetime(2026, 11, 25, 10, tzinfo=UTC).timestamp()) * 1000
    assert encoded["vo"] == "lhcb"
    assert encoded["details"] == "first line\nsecond line"
    assert encoded["vmsam"]["serviceType"] == "uk.ac.gridpp.vac"
    assert encoded["gathered_at"] == "vac01-07.tier2.hep.manchester.ac.uk"
    assert "gatheredAt" not in encoded["vmsam"]


def test_vmsam_fields_and_extras_round_trip():
    original = result(vm_uuid="5b1a", perf_data="a=1;2;3", vo_name=None, extra={"x-note": "k"})
    encoded = messages.encode_monit(original)
    assert json.loads(encoded)["vo"] == "lhcb"  # from the metric name
    assert messages.decode(encoded) == original
    assert messages.decode(encoded.encode("utf-8")) == original


def test_an_etf_document_without_vmsam_fields_decodes():
    etf = {key: value for key, value in document().items() if key != "vmsam"}
    decoded = messages.decode(json.dumps(etf))
    assert decoded.service_uri == decoded.host_name == etf["dst_hostname"]
    assert decoded.gathered_at == etf["gathered_at"]
    assert decoded.service_type == etf["service_flavour"]
    assert decoded.vo_name == "lhcb"
    del etf["gathered_at"], etf["details"]
    bare = messages.decode(json.dumps(etf))
    assert (bare.gathered_at, bare.details) == (etf["dst_hostname"], "")


def test_milliseconds_are_cut_to_the_second():
    decoded = messages.decode(json.dumps(document(timestamp=1795600800999)))
    assert decoded.timestamp == datetime(2026, 11, 25, 10, tzinfo=UTC)


def _without(key: str) -> dict[str, object]:
    found = document()
    del found[key]
    return found


HOSTILE: list[tuple[str, str]] = [
    (json.dumps(_without("metric_name")), "missing required field.*metric_name"),
    (json.dumps(_without("timestamp")), "missing required field.*timestamp"),
    (json.dumps(document(status="ok")), "status 'ok' is not one of"),
    (json.dumps(document(status=0)), "status must be a string, not int"),
    (json.dumps(document(dst_hostname=None)), "dst_hostname must be a string, not null"),
    (json.dumps(document(summary="  ")), "missing required field.*summary"),
    (json.dumps(document(summary="a\nb")), "summary holds a line break"),
    (json.dumps(document(gathered_at=" ")), "missing required field.*gathered_at"),
    (json.dumps(document(vmsam={**document()["vmsam"], "details": "a\nb"})), "vmsam.details holds"),  # type: ignore[dict-item]
    (json.dumps(_without("dst_experiment_site")), "missing.*dst_experiment_site"),
    (json.dumps(document(timestamp="1795600800000")), "timestamp must be an integer"),
    (json.dumps(document(timestamp=1795600800.5)), "timestamp must be an integer"),
    (json.dumps(document(timestamp=True)), "timestamp must be an integer"),
    (json.dumps(document(timestamp=10**30)), "not between the years 2000 and 9999"),
    (json.dumps(document(timestamp=1795600800)), "not between the years 2000 and 9999"),
    (json.dumps(document(timestamp=float("nan"))), "NaN is not a number"),
    (json.dumps(document(timestamp=float("inf"))), "Infinity is not a number"),
    (
        json.dumps(document(timestamp=0)).replace('"timestamp": 0', '"timestamp": ' + "9" * 5000),
        "invalid JSON",
    ),
    (json.dumps(document(vo=["lhcb"])), "vo must be a string or null"),
    (json.dumps(document(vo="atlas")), "vo 'atlas' is not the result's VO 'lhcb'"),
    (json.dumps(document(vmsam="x")), "vmsam must be an object"),
    (json.dumps(document(vmsam={"serviceURI": {"a": [1]}})), "vmsam.serviceURI must be a str"),
    (json.dumps(document(vmsam={"serviceURI": "x"})), r"missing.*vmsam\.serviceType"),
    (json.dumps(document(vmsam={**document()["vmsam"], "hostName": "x"})), "field of the doc"),  # type: ignore[dict-item]
    (json.dumps(document(details={"nested": [[[]]]})), "details must be a string, not dict"),
    ("[" * 100_000, "over the 65536 limit"),
    ('{"details": ' + "[" * 60_000, "nested too deep"),
    ("[1, 2]", "must be a JSON object"),
    ('{"dst_hostname": "a", ', "invalid JSON"),
    (json.dumps(document(details="x" * MAX_MESSAGE_BYTES)), "over the 65536 limit"),
]


@pytest.mark.parametrize(("body", "reason"), HOSTILE)
def test_hostile_documents_are_refused_with_a_one_line_reason(body: str, reason: str):
    with pytest.raises(MessageError, match=reason) as refused:
        messages.decode(body)
    assert "\n" not in str(refused.value)


@settings(max_examples=500)
@given(results())
def test_round_trip(original: MetricResult):
    body = messages.encode_monit(original)
    assert messages.decode(body) == original
    assert messages.decode(body.encode("utf-8")) == original
