"""The init hook end to end: a simulated VM, the real probes, the real ActiveMQ broker."""

from __future__ import annotations

import json
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

from tests.support.net import free_port
from tests.support.subscriber import Subscriber
from vmsam.demo.simulate import SimulatedVM, write_config
from vmsam.server.trust import looks_signed, unwrapped
from vmsam.shared import messages

BIN = Path(sys.executable).parent
TESTS = {"cvmfs", "middleware", "scratch", "mjf"}


def vmsam(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "vmsam"), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def consumer_parse(body: str) -> dict[str, str]:
    """The rules real consumers apply (docs/messages.md): lines split at the first ': ',
    a later key overrides, stop at EOT; only the first line of detailsData is kept. A
    signed message (the simulated VM signs with its proxy) is taken out of its S/MIME
    wrapping first, as vmsam's consumer does."""
    if looks_signed(body.encode()):
        body = unwrapped(body.encode()).decode()
    fields: dict[str, str] = {}
    for line in body.split("\n"):
        if line == "EOT":
            return fields
        if ": " in line:
            key, value = line.split(": ", 1)
            if key not in fields or key != "detailsData":
                fields[key] = value
    raise AssertionError("no EOT line")


def check_consumer_rules(fields: dict[str, str]) -> None:
    for key in (
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
    ):
        assert fields.get(key), f"{key} missing or empty"
    assert fields["metricStatus"] in {"OK", "WARNING", "CRITICAL", "UNKNOWN"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", fields["timestamp"])
    assert len(fields["hostName"]) >= 2


def results_document(vm: SimulatedVM) -> dict:
    return json.loads((vm.layout.joboutputs / "vmsam-results.json").read_text())


def spooled(vm: SimulatedVM) -> int:
    from vmsam.vm.spool import Spool

    return Spool(vm.layout.spool).count() if vm.layout.spool.exists() else 0


def test_hook_publishes_one_message_per_test_with_the_space_as_the_ce(
    healthy_vm, activemq, destination
):
    config = write_config(healthy_vm, broker_urls=[activemq.address], destination=destination)
    subscriber = Subscriber(activemq.address, destination)
    try:
        done = vmsam("init-hook", "--config", str(config))
        bodies = subscriber.drain()
    finally:
        subscriber.close()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "published 4 message(s), 0 left in the spool" in done.stdout
    assert len(bodies) == 4
    # [broker] sign = auto and the VM has a proxy: every message is signed with it, and
    # holds the record joboutputs has
    assert all(looks_signed(body.encode()) for body in bodies)
    bodies = [unwrapped(body.encode()).decode() for body in bodies]
    layout = healthy_vm.layout
    document = results_document(healthy_vm)
    assert document["sampled"] is True
    by_test = {r["test"]: r for r in document["results"]}
    assert set(by_test) == TESTS
    metrics = set()
    for body in bodies:
        fields = consumer_parse(body)
        check_consumer_rules(fields)
        assert fields["hostName"] == fields["serviceURI"] == layout.space
        assert fields["serviceFlavour"] == fields["serviceType"] == "uk.ac.gridpp.vac"
        assert fields["siteName"] == "tier2.hep.manchester.ac.uk"
        assert fields["voName"] == "lhcb"
        assert fields["voFqan"] == "/lhcb"
        assert fields["role"] == "site"
        assert fields["nagiosName"] == f"{fields['metricName']}-/lhcb"
        assert fields["vmUUID"] == layout.uuid
        assert fields["gatheredAt"] == layout.hostname
        test = fields["metricName"].removeprefix("org.lhcb.WN-")
        assert fields["metricStatus"] == by_test[test]["status"]
        metrics.add(fields["metricName"])
        assert messages.decode(body).summary == by_test[test]["summary"]
    assert metrics == {f"org.lhcb.WN-{t}" for t in TESTS}
    assert sorted(document["messages"]) == sorted(bodies)
    assert spooled(healthy_vm) == 0
    if healthy_vm.mounter.real:
        assert {r["status"] for r in document["results"]} == {"OK"}, document["results"]


def test_broker_down_keeps_messages_then_send_delivers_each_exactly_once(
    healthy_vm, activemq, destination
):
    dead = f"127.0.0.1:{free_port()}"
    config = write_config(healthy_vm, broker_urls=[dead], destination=destination, budget=40)
    started = time.monotonic()
    done = vmsam("init-hook", "--config", str(config))
    assert done.returncode == 0
    assert time.monotonic() - started < 40 + 10
    assert spooled(healthy_vm) == 4
    assert "published 0 message(s), 4 left in the spool" in done.stdout

    write_config(healthy_vm, broker_urls=[dead, activemq.address], destination=destination)
    subscriber = Subscriber(activemq.address, destination)
    try:
        send = vmsam("send", "--config", str(config))
        bodies = subscriber.drain()
    finally:
        subscriber.close()
    assert send.returncode == 0, send.stdout + send.stderr
    assert len(bodies) == 4
    assert len({consumer_parse(b)["metricName"] for b in bodies}) == 4
    assert spooled(healthy_vm) == 0
    again = vmsam("send", "--config", str(config))
    assert again.returncode == 0
    assert "sent 0 message(s)" in again.stdout


def test_send_exits_75_while_messages_remain(healthy_vm, destination):
    dead = f"127.0.0.1:{free_port()}"
    config = write_config(healthy_vm, broker_urls=[dead], destination=destination)
    vmsam("init-hook", "--config", str(config))
    send = vmsam("send", "--config", str(config), "--budget", "5")
    assert send.returncode == 75
    assert spooled(healthy_vm) == 4


def hung_plugin(directory: Path) -> str:
    path = directory / "check_stuck"
    path.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(600)\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_hung_probe_is_unknown_and_the_hook_keeps_its_budget(healthy_vm, tmp_path):
    config = write_config(
        healthy_vm, extra=[hung_plugin(tmp_path) + " --flag x"], timeout=2, budget=20
    )
    started = time.monotonic()
    done = vmsam("init-hook", "--config", str(config))
    elapsed = time.monotonic() - started
    assert done.returncode == 0
    assert elapsed < 20 + 10
    by_test = {r["test"]: r for r in results_document(healthy_vm)["results"]}
    assert by_test["stuck"]["status"] == "UNKNOWN"
    assert by_test["stuck"]["summary"].startswith("timed out after")
    assert by_test["stuck"]["metric"] == "org.lhcb.WN-stuck"
    assert set(by_test) == TESTS | {"stuck"}
    # no broker configured: everything waits in the spool
    assert spooled(healthy_vm) == 5


def test_unsampled_vm_runs_no_probe(healthy_vm):
    config = write_config(healthy_vm, fraction=0.0)
    done = vmsam("init-hook", "--config", str(config))
    assert done.returncode == 0
    document = results_document(healthy_vm)
    assert document["sampled"] is False
    assert "fraction 0" in document["reason"]
    assert document["results"] == []
    assert spooled(healthy_vm) == 0


def test_force_overrides_sampling(healthy_vm):
    config = write_config(healthy_vm, fraction=0.0)
    done = vmsam("init-hook", "--config", str(config), "--force")
    assert done.returncode == 0
    assert results_document(healthy_vm)["sampled"] is True
    assert spooled(healthy_vm) == 4


def test_dry_run_shows_the_plan_and_writes_nothing(healthy_vm):
    config = write_config(healthy_vm, broker_urls=["127.0.0.1:1"])
    done = vmsam("init-hook", "--config", str(config), "--dry-run")
    assert done.returncode == 0
    out = done.stdout
    assert f"space: {healthy_vm.layout.space}" in out
    assert f"uuid: {healthy_vm.layout.uuid}" in out
    assert "sampling: " in out
    assert "check_wn_cvmfs" in out and "check_wn_mjf" in out
    assert "destination: /queue/grid.probe.metricOutput.EGEE.vmsam on 127.0.0.1:1" in out
    assert not (healthy_vm.layout.joboutputs / "vmsam-results.json").exists()
    assert spooled(healthy_vm) == 0


def test_critical_test_failure_writes_a_shutdown_message(broken_vm):
    config = write_config(broken_vm, critical=["cvmfs"], shutdown_on_critical=True)
    done = vmsam("init-hook", "--config", str(config), "--strict")
    assert done.returncode == 2
    message = (broken_vm.layout.joboutputs / "shutdown_message").read_text()
    assert re.fullmatch(r"500 vmsam: .+", message)
    assert "\n" not in message


def test_without_vo_results_go_to_joboutputs_but_nothing_is_published(healthy_vm):
    config = write_config(healthy_vm)
    config.write_text(config.read_text().replace('vo = "lhcb"', 'vo = "##user_data_option_vo##"'))
    done = vmsam("init-hook", "--config", str(config))
    assert done.returncode == 0
    assert "not publishing" in done.stdout
    document = results_document(healthy_vm)
    assert len(document["results"]) == 4
    assert document["messages"] == []
    assert spooled(healthy_vm) == 0


def test_garbage_configuration_never_breaks_the_boot(tmp_path):
    """A bad value is its key's default and one line naming the key: with the default
    fraction and no VM to find, the hook decides, says so, and exits 0."""
    config = tmp_path / "vmsam.toml"
    config.write_text("[sampling]\nfraction = 'lots'\n[discovery]\nnetwork = false\n")
    done = vmsam("init-hook", "--config", str(config))
    assert done.returncode == 0
    assert "[sampling] fraction: expected a number, got 'lots'; the default 0.25 applies" in (
        done.stderr
    )
    assert "sampling: " in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    missing = vmsam("init-hook", "--config", str(tmp_path / "nope.toml"), "--dry-run")
    assert missing.returncode == 0
    assert "would not publish: configuration " in missing.stdout
    assert "unusable: no such file" in missing.stdout


def test_unwritable_spool_publishes_directly(healthy_vm, activemq, destination):
    config = write_config(healthy_vm, broker_urls=[activemq.address], destination=destination)
    blocker = healthy_vm.layout.spool
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("a file where the spool directory should be")
    subscriber = Subscriber(activemq.address, destination)
    try:
        done = vmsam("init-hook", "--config", str(config))
        bodies = subscriber.drain()
    finally:
        subscriber.close()
    assert done.returncode == 0
    assert "spool unusable" in done.stdout
    assert len(bodies) == 4


def test_example_user_data_renders_and_runs_as_vac_would(healthy_vm, tmp_path):
    import yaml

    template = (Path(__file__).parent.parent / "examples" / "user_data.yaml").read_text()
    layout = healthy_vm.layout
    known = {
        "space": layout.space,
        "machinetype": "lhcb-pilot",
        "machine_hostname": "vac01-07.tier2.hep.manchester.ac.uk",
        "uuid": layout.uuid,
        "manager_version": "Vac 03.02",
        "machinefeatures_url": str(layout.machinefeatures),
        "jobfeatures_url": str(layout.jobfeatures),
        "joboutputs_url": str(layout.joboutputs),
        "option_vmsam_vo": "lhcb",
    }
    # Vac: known patterns are replaced, unknown ones become the empty string
    rendered = re.sub(r"##user_data_(\w+)##", lambda m: known.get(m.group(1), ""), template)
    assert not re.search(r"##user_data_\w+##", rendered)
    cloud = yaml.safe_load(rendered)
    assert cloud["runcmd"] == [["vmsam", "init-hook"]]
    (entry,) = cloud["write_files"]
    assert entry["path"] == "/etc/vmsam/vmsam.toml"
    # point the site's paths at the simulated VM, as the image's filesystem would be
    local = write_config(healthy_vm).read_text()
    paths = local[local.index("[paths]") : local.index("[discovery]")]
    config_text = re.sub(r"\[paths\].*?(?=\n\[probes\])", "", entry["content"], flags=re.S)
    config_text += "\n" + paths + "[discovery]\nnetwork = false\n"
    config = tmp_path / "rendered.toml"
    config.write_text(config_text)
    done = vmsam("init-hook", "--config", str(config), "--force")
    assert done.returncode == 0, done.stdout
    document = results_document(healthy_vm)
    assert document["vm"]["space"] == layout.space
    assert document["vm"]["machinetype"] == "lhcb-pilot"
    assert document["vm"]["service_type"] == "uk.ac.gridpp.vac"
    assert document["vm"]["hostname"] == "vac01-07.tier2.hep.manchester.ac.uk"
    assert len(document["messages"]) == 4
