"""MONIT's JSON documents through the real broker and the real consumer: valid ones stored
beside WLCG records, hostile ones dead-lettered with their reason, the consumer going on."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.consumer.test_consumer import TESTS
from tests.consumer.test_consumer_fuzz import _all_dead_letters
from tests.support.consumer import (
    BIN,
    ConsumerProcess,
    Drain,
    counts,
    database,
    record,
    send,
    wait_until,
    write_config,
)
from vmsam.demo.simulate import VMLayout, build_vm
from vmsam.demo.simulate import write_config as write_vm_config
from vmsam.server.store import Store
from vmsam.server.trust import looks_signed, unwrapped
from vmsam.shared import messages
from vmsam.vm.spool import Spool


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


def test_init_hook_feeds_a_wlcg_and_a_monit_destination_alike(activemq, db_url, tmp_path):
    run = uuid.uuid4().hex
    wlcg, monit = f"/queue/vmsam.wlcg.{run}", f"/queue/vmsam.monit.{run}"
    config = write_config(tmp_path / "consumer.toml", [activemq.address], monit, db_url)
    with build_vm(VMLayout(tmp_path / "vm"), healthy=True) as vm, ConsumerProcess(config) as c:
        c.wait_event("subscribed")
        vm_config = write_vm_config(vm, broker_urls=[activemq.address])
        destinations = f'destinations = [{{ name = "{wlcg}" }}, "monit:{monit}"]\n'
        vm_config.write_text(
            vm_config.read_text().replace("[broker]\n", "[broker]\n" + destinations)
        )
        hook = subprocess.run(
            [str(BIN / "vmsam"), "init-hook", "--config", str(vm_config)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert hook.returncode == 0, hook.stdout + hook.stderr
        assert "published 8 message(s), 0 left in the spool" in hook.stdout
        wait_until(lambda: counts(db_url)[0] >= 4, 30, "4 stored results")
        assert c.metric("vmsam_consumer_dead_letters_total") == 0
        assert c.terminate() == 0
        drain = Drain(activemq.address, wlcg)
        try:
            records_sent = drain.drain()
        finally:
            drain.close()
        layout = vm.layout
    # the VM signs with its proxy: both formats are S/MIME around the encoded result
    assert all(looks_signed(body) for body in records_sent)
    decoded = [messages.decode(unwrapped(body)) for body in records_sent]
    assert sorted(r.metric_name for r in decoded) == [f"org.lhcb.WN-{t}" for t in sorted(TESTS)]
    assert all(not unwrapped(body).lstrip().startswith(b"{") for body in records_sent)
    store = Store(db_url)
    try:
        total, stored = store.results(limit=100)
    finally:
        store.close()
    assert total == 4
    assert {(r.metric, r.endpoint, r.vm_uuid) for r in stored} == {
        (r.metric_name, layout.space, layout.uuid) for r in decoded
    }
    assert all(r.gathered_at == layout.hostname and r.vo == "lhcb" for r in stored)
    spools = [Path(layout.spool), *Path(layout.spool).glob("monit@*")]
    assert len(spools) == 2
    assert all(Spool(path).count() == 0 for path in spools)
