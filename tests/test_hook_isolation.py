"""No single bad setting or plugin silences a site: the real ``vmsam init-hook`` on a fake
VM, publishing to the real ActiveMQ, with one hostile configuration at a time. Every run
exits 0 without a traceback, and the four built-in results reach the broker every time;
the bad part is reported where it is (its own UNKNOWN result, or one line naming the key).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import needs_root
from tests.support.subscriber import Subscriber
from tests.test_hook import (
    TESTS,
    check_consumer_rules,
    consumer_parse,
    results_document,
    spooled,
    vmsam,
)
from vmsam.demo.simulate import SimulatedVM, write_config


def script(directory: Path, name: str, body: str) -> str:
    path = directory / name
    path.write_text(f"#!{sys.executable}\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def edit(config: Path, pattern: str, replacement: str) -> None:
    text = config.read_text()
    changed, count = re.subn(pattern, lambda _: replacement, text, flags=re.M)
    assert count == 1, f"{pattern!r} not in the configuration"
    config.write_text(changed)


def append(config: Path, text: str) -> None:
    config.write_text(config.read_text() + text)


def set_extra(config: Path, toml_value: str) -> None:
    edit(config, r"^extra = .*$", f"extra = {toml_value}")


# each case: (change to a working configuration, check of the results document)
Change = Callable[[Path, Path], None]
Check = Callable[[dict], None]


def by_test(document: dict) -> dict[str, dict]:
    return {r["test"]: r for r in document["results"]}


def problems(document: dict) -> dict[str, str]:
    return {p["key"]: p["message"] for p in document["configuration"]["problems"]}


def quoted_semicolon(config: Path, tmp: Path) -> None:
    set_extra(config, """["python3 -c 'import sys; print(\\"OK - x\\"); sys.exit(0)'"]""")


def check_quoted_semicolon(document: dict) -> None:
    assert by_test(document)["python3"]["status"] == "OK"
    assert by_test(document)["python3"]["summary"] == "OK - x"


def timeout_typo(config: Path, tmp: Path) -> None:
    edit(config, r"^timeout = .*$", 'timeout = "soon"')


def check_timeout_typo(document: dict) -> None:
    assert "expected a number, got 'soon'" in problems(document)["[probes] timeout"]


def unknown_keys(config: Path, tmp: Path) -> None:
    edit(config, r"^\[vm\]$", '[vm]\ncolour = "blue"')
    append(config, "[future]\nsetting = 1\n[probes.nested]\nx = 1\n")


def check_unknown_keys(document: dict) -> None:
    found = problems(document)
    assert found["[vm] colour"] == "unknown key, ignored"
    assert found["[future]"] == "unknown section, ignored"
    assert found["[probes] nested"] == "unknown key, ignored"


def empty_entries(config: Path, tmp: Path) -> None:
    set_extra(config, '["", "   ", "##user_data_option_extra##"]')


def check_only_builtins(document: dict) -> None:
    assert set(by_test(document)) == TESTS


def bad_plugins(config: Path, tmp: Path) -> None:
    invalid = script(
        tmp, "check_garbage", "import sys\nsys.stdout.buffer.write(b'OK \\xff\\xfe ok\\n')"
    )
    silent = script(tmp, "check_silent", "pass")
    seven = script(tmp, "check_seven", "import sys\nprint('WEIRD - seven')\nsys.exit(7)")
    missing = str(tmp / "check_missing")
    unparsable = "check_quote 'never closed"
    set_extra(config, f'["{invalid}", "{silent}", "{seven}", "{missing} -x", "{unparsable}"]')


def check_bad_plugins(document: dict) -> None:
    results = by_test(document)
    assert results["garbage"]["status"] == "OK"
    assert "\ufffd" in results["garbage"]["summary"]
    assert results["silent"]["status"] == "OK"
    assert results["silent"]["summary"] == "silent: no output (exit code 0)"
    assert results["seven"]["status"] == "UNKNOWN"
    assert "exit code 7 is not a Nagios state" in results["seven"]["summary"]
    assert results["missing"]["status"] == "UNKNOWN"
    assert results["missing"]["summary"].startswith("cannot run ")
    assert results["quote"]["status"] == "UNKNOWN"
    assert "cannot parse the command line" in results["quote"]["summary"]


def unknown_critical(config: Path, tmp: Path) -> None:
    edit(config, r"^critical = .*$", 'critical = ["cvmfs", "cvmfss"]')


def check_unknown_critical(document: dict) -> None:
    assert "'cvmfss'" in problems(document)["[probes] critical"]


def same_executable(config: Path, tmp: Path) -> None:
    ok = script(tmp, "check_http", "print('HTTP OK - ' + __import__('sys').argv[-1])")
    cvmfs = script(tmp, "check_cvmfs", "print('CVMFS OK - the site one')")
    set_extra(
        config,
        f'["{ok} -H a", "{ok} -H b", "{cvmfs}", {{ name = "web", command = "{ok} -H c" }}]',
    )


def check_same_executable(document: dict) -> None:
    results = by_test(document)
    assert results["http"]["summary"] == "HTTP OK - a"
    (other,) = [t for t in results if t.startswith("http-")]
    assert results[other]["summary"] == "HTTP OK - b"
    # the built-in cvmfs keeps its name; the site's plugin gets its own
    assert results["cvmfs"]["summary"] != "CVMFS OK - the site one"
    (site_cvmfs,) = [t for t in results if t.startswith("cvmfs-")]
    assert results[site_cvmfs]["summary"] == "CVMFS OK - the site one"
    assert results["web"]["summary"] == "HTTP OK - c"
    assert len({r["metric"] for r in document["results"]}) == len(document["results"])


def server_sections(config: Path, tmp: Path) -> None:
    append(config, "[consumer]\ndb = []\ndestination = 5.5\n[api]\ntoken = { a = 1 }\n")


def check_no_problems(document: dict) -> None:
    assert document["configuration"]["problems"] == []


def wrong_types_everywhere(config: Path, tmp: Path) -> None:
    edit(config, r"^budget = .*$", 'budget = "-5"')
    edit(config, r"^shutdown_on_critical = .*$", 'shutdown_on_critical = "maybe"')
    edit(config, r"^\[discovery\]\nnetwork = false$", "[discovery]\nnetwork = false\nvac_url = 5")
    edit(config, r"^\[sampling\]$", "[sampling]\nbogus = 1")
    set_extra(config, "5")


def check_wrong_types(document: dict) -> None:
    found = problems(document)
    assert {"[probes] budget", "[outputs] shutdown_on_critical", "[probes] extra"} <= set(found)


def one_bad_broker_url(config: Path, tmp: Path) -> None:
    text = config.read_text()
    config.write_text(re.sub(r'^urls = \["', 'urls = ["not a url", 17, "', text, flags=re.M))


def check_bad_broker_url(document: dict) -> None:
    assert {"[broker] urls #1", "[broker] urls #2"} <= set(problems(document))


CASES: dict[str, tuple[Change, Check]] = {
    "a ; inside quotes": (quoted_semicolon, check_quoted_semicolon),
    "timeout typo": (timeout_typo, check_timeout_typo),
    "unknown keys and sections": (unknown_keys, check_unknown_keys),
    "empty extra entries": (empty_entries, check_only_builtins),
    "plugins that misbehave": (bad_plugins, check_bad_plugins),
    "critical names an unknown test": (unknown_critical, check_unknown_critical),
    "extras sharing a name": (same_executable, check_same_executable),
    "garbage in server sections": (server_sections, check_no_problems),
    "wrong types everywhere": (wrong_types_everywhere, check_wrong_types),
    "one bad broker URL": (one_bad_broker_url, check_bad_broker_url),
}


@pytest.mark.parametrize("case", CASES)
def test_one_bad_setting_or_plugin_never_silences_the_site(
    case: str, healthy_vm: SimulatedVM, activemq, destination: str, tmp_path: Path
) -> None:
    change, check = CASES[case]
    config = write_config(healthy_vm, broker_urls=[activemq.address], destination=destination)
    change(config, tmp_path)
    subscriber = Subscriber(activemq.address, destination)
    try:
        done = vmsam("init-hook", "--config", str(config), "--force")
        document = results_document(healthy_vm)
        bodies = subscriber.drain()
    finally:
        subscriber.close()
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Traceback" not in output
    assert "init-hook failed" not in output
    published = {consumer_parse(body)["metricName"] for body in bodies}
    assert {f"org.lhcb.WN-{test}" for test in TESTS} <= published, output
    assert len(bodies) == len(document["results"]), output
    for body in bodies:
        check_consumer_rules(consumer_parse(body))
    assert spooled(healthy_vm) == 0
    # every problem is one line on stderr naming its key
    for problem in document["configuration"]["problems"]:
        assert f"{problem['key']}: {problem['message']}" in done.stderr
    check(document)


def test_strict_exits_3_on_a_configuration_error(healthy_vm: SimulatedVM) -> None:
    config = write_config(healthy_vm)
    strict = vmsam("init-hook", "--config", str(config), "--strict")
    # no broker: messages left behind
    assert strict.returncode == 1, strict.stdout
    timeout_typo(config, healthy_vm.layout.root)
    strict = vmsam("init-hook", "--config", str(config), "--strict")
    assert strict.returncode == 3, strict.stdout
    assert "configuration: 1 error(s)" in strict.stdout
    assert vmsam("init-hook", "--config", str(config)).returncode == 0


def test_no_broker_says_why_nothing_was_sent(healthy_vm: SimulatedVM) -> None:
    config = write_config(healthy_vm)
    done = vmsam("init-hook", "--config", str(config))
    assert done.returncode == 0
    assert "not sent: no broker configured ([broker] urls)" in done.stdout
    assert spooled(healthy_vm) == 4
    assert "not sent: no broker configured ([broker] urls)" in " ".join(
        results_document(healthy_vm)["notes"]
    )


def test_shutdown_on_critical_with_no_list_means_the_builtins(broken_vm: SimulatedVM) -> None:
    config = write_config(broken_vm, shutdown_on_critical=True)
    done = vmsam("init-hook", "--config", str(config), "--strict")
    assert done.returncode == 2, done.stdout
    message = (broken_vm.layout.joboutputs / "shutdown_message").read_text()
    assert re.fullmatch(r"500 vmsam: .+", message)


needs_netns = (
    needs_root("and unshare to cut the network off")
    if shutil.which("unshare")
    else pytest.mark.skip(reason="needs unshare (and root) to cut the network off")
)


@needs_netns
@pytest.mark.parametrize("content", ["[vm\nvo = ", b'[vm]\nvo = "\xff"\n'])
def test_a_broken_file_runs_the_probes_and_says_why_nothing_is_published(
    healthy_vm: SimulatedVM, tmp_path: Path, content: str | bytes
) -> None:
    config = tmp_path / "vmsam.toml"
    if isinstance(content, bytes):
        config.write_bytes(content)
    else:
        config.write_text(content)
    layout = healthy_vm.layout
    env = {
        **os.environ,
        "MACHINEFEATURES": str(layout.machinefeatures),
        "JOBFEATURES": str(layout.jobfeatures),
        "JOBOUTPUTS": str(layout.joboutputs),
    }
    # the defaults ask the link-local metadata servers: in a network namespace of its own,
    # the hook can reach nothing at all
    done = subprocess.run(
        ["unshare", "--net", str(Path(sys.executable).parent / "vmsam"), "init-hook",
         "--config", str(config), "--force"],
        capture_output=True, text=True, timeout=300, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert f"not publishing: configuration {config} unusable: " in done.stdout
    document = results_document(healthy_vm)
    assert {r["test"] for r in document["results"]} == TESTS
    assert document["messages"] == []
    assert document["configuration"]["unusable"]


def test_send_delivers_despite_a_bad_value_elsewhere(
    healthy_vm: SimulatedVM, activemq, destination: str
) -> None:
    config = write_config(healthy_vm, destination=destination)
    vmsam("init-hook", "--config", str(config))
    assert spooled(healthy_vm) == 4
    write_config(healthy_vm, broker_urls=[activemq.address], destination=destination)
    timeout_typo(config, healthy_vm.layout.root)
    subscriber = Subscriber(activemq.address, destination)
    try:
        sent = vmsam("send", "--config", str(config))
        bodies = subscriber.drain()
    finally:
        subscriber.close()
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert "configuration error: " in sent.stderr
    assert "[probes] timeout" in sent.stderr
    assert len(bodies) == 4
    assert spooled(healthy_vm) == 0
