"""One result to two destinations in two formats through the real broker, each copy
confirmed and removed from its own spool."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from tests.support.subscriber import Subscriber
from tests.test_messages import EXAMPLE
from vmsam.shared import messages
from vmsam.shared.config import BrokerSettings, Destination, PathSettings, Settings
from vmsam.vm.publisher import send_spool
from vmsam.vm.spool import Spool, spool_paths


def test_one_result_reaches_a_wlcg_and_a_monit_destination(activemq: Any, tmp_path: Path):
    run = uuid.uuid4().hex[:12]
    wlcg = Destination(f"/queue/test.wlcg.{run}")
    monit = Destination(f"/topic/test.monit.{run}", "monit")
    broker = BrokerSettings(urls=(activemq.address,), destinations=(wlcg, monit))
    root = str(tmp_path / "outgoing")
    result = messages.decode(EXAMPLE)
    paths = spool_paths(root, broker.targets())
    assert paths[0] == (wlcg, root)
    assert paths[1][1] == f"{root}/monit@%2Ftopic%2Ftest.monit.{run}"
    encoders = {"wlcg": messages.encode, "monit": messages.encode_monit}
    for target, path in paths:
        Spool(path).add(encoders[target.format](result))

    to_wlcg, to_monit = (
        Subscriber(activemq.address, wlcg.name),
        Subscriber(activemq.address, monit.name),
    )
    try:
        settings = Settings(broker=broker, paths=PathSettings(spool=root))
        report = send_spool(settings, budget=30)
        assert (report.sent, report.remaining, report.errors) == (2, 0, [])
        assert to_wlcg.wait_for(1) == [messages.encode(result)]
        (document,) = to_monit.wait_for(1)
    finally:
        to_wlcg.close()
        to_monit.close()
    assert json.loads(document)["dst_experiment_site"] == result.site_name
    assert messages.decode(document) == result
    assert all(Spool(path).count() == 0 for _, path in paths)


def test_a_copy_stays_in_its_spool_while_its_destination_is_unconfirmed(tmp_path: Path):
    broker = BrokerSettings(
        urls=("127.0.0.1:1",), destinations=(Destination("/queue/a"), Destination("/queue/b"))
    )
    root = str(tmp_path / "outgoing")
    for _, path in spool_paths(root, broker.targets()):
        Spool(path).add(EXAMPLE)
    report = send_spool(Settings(broker=broker, paths=PathSettings(spool=root)), budget=5)
    assert (report.sent, report.remaining) == (0, 2)
    assert [Spool(path).count() for _, path in spool_paths(root, broker.targets())] == [1, 1]


def test_without_destinations_the_one_destination_is_wlcg_in_the_spool_itself():
    broker = BrokerSettings(destination="/queue/x")
    assert broker.targets() == (Destination("/queue/x", "wlcg"),)
    assert spool_paths("/s", broker.targets()) == [(Destination("/queue/x"), "/s")]
