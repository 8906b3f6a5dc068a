"""MONIT's JSON documents through the real broker and the real consumer: valid ones stored
beside WLCG records, hostile ones dead-lettered with their reason, the consumer going on."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from tests.consumer.test_consumer_fuzz import _all_dead_letters
from tests.support.consumer import (
    ConsumerProcess,
    counts,
    database,
    record,
    send,
    wait_until,
    write_config,
)
from vmsam.shared import messages


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> Iterator[str]:
    with database(request.param, tmp_path) as url:
        counts(url)
        yield url


def _document(run: str, i: int, **changes: object) -> dict[str, object]:
    found: dict[str, object] = json.loads(
        messages.encode_monit(messages.decode(record(i, run=run)))
    )
    found.update(changes)
    return found


def test_monit_documents_are_stored_and_hostile_ones_dead_lettered(activemq, db_url, tmp_path):
    run = uuid.uuid4().hex
    queue_name = f"/queue/vmsam.monit.{run}"
    valid = [json.dumps(_document(run, i)) for i in range(3)] + [record(3, run=run)]
    hostile = {
        json.dumps(_document(run, 10, status=7)): "status must be a string",
        json.dumps(_document(run, 11, timestamp=None)): "timestamp must be an integer",
        json.dumps(_document(run, 12, timestamp=float("nan"))): "NaN",
        json.dumps(_document(run, 13, timestamp=10**20)): "between the years",
        json.dumps({"metric_name": "org.lhcb.x"}): "missing required field",
        json.dumps(_document(run, 14, vmsam=[{"a": {"b": []}}])): "vmsam must be an object",
        json.dumps(_document(run, 15, details="x" * 70_000)): "over the 65536 limit",
        '{"dst_hostname": ' + "[" * 5000: "invalid JSON|nested too deep",
    }
    config = write_config(tmp_path / "consumer.toml", [activemq.address], queue_name, db_url)
    with ConsumerProcess(config) as consumer:
        consumer.wait_event("subscribed")
        send(activemq.address, queue_name, [*hostile, *valid])
        wait_until(lambda: counts(db_url) == (4, len(hostile)), 60, "every body handled")
        assert consumer.alive()
        assert consumer.terminate() == 0
    reasons = dict(_all_dead_letters(db_url))
    for body, expected in hostile.items():
        reason = reasons[body]
        assert "\n" not in reason
        assert any(part in reason for part in expected.split("|")), (expected, reason)
