"""The Containerfile, proved without a container engine (none can pull images here).

The recipe is read as data and checked (two stages of one slim Python, a wheel built in the
first and installed in the second with the server extra, a user of its own, a HEALTHCHECK
that needs no curl, the API as the default command), and so is examples/compose.yaml
against it. Then what it describes is built for real (tests.support.container): its build
stage's commands in a fresh venv over a copy of what its COPY lines take, its runtime
stage's install from that stage's wheels in another fresh venv, its useradd as a temporary
system user when the tests run as root. Both commands of the image run from there as that
user, with the image's ENV and nothing of this checkout: the default one answers the
HEALTHCHECK, and ``vmsam consume`` (as the compose example runs it) stores what a real
ActiveMQ delivers, which the API then shows.
"""

from __future__ import annotations

import json
import os
import re
import signal
import tomllib
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import container
from tests.support.consumer import record, send, wait_until
from tests.support.net import free_port
from vmsam.shared.config import DEFAULT_CONFIG

PYPROJECT = tomllib.loads((container.ROOT / "pyproject.toml").read_text(encoding="utf-8"))
RECIPE = container.read()
RUNTIME = RECIPE.final
BUILD = RECIPE.stages[0]
# long enough to build the image (pip may download) and still end a hung step
BUILD_TIMEOUT = 900


def runtime_commands() -> list[list[str]]:
    return [c for run in RUNTIME.all("RUN") for c in container.commands(run.rest)]


def the(program: str, commands: list[list[str]]) -> list[str]:
    found = [command for command in commands if command[0] == program]
    assert len(found) == 1, f"one {program} command expected: {found}"
    return found[0]


def option(command: list[str], *names: str) -> str:
    for i, word in enumerate(command):
        if word in names:
            return command[i + 1]
        for name in names:
            if word.startswith(name + "="):
                return word.split("=", 1)[1]
    raise AssertionError(f"no {names[0]} in {command}")


def pip(commands: list[list[str]], verb: str) -> list[str]:
    return the(verb, [c[3:] for c in commands if c[:3] == ["python", "-m", "pip"]])


def extras(requirement: str) -> set[str]:
    match = re.fullmatch(r"[\w.-]+\[([\w,\s-]+)\]", requirement)
    assert match, f"no extras in {requirement!r}"
    return {extra.strip() for extra in match.group(1).split(",")}


def exposed_port() -> int:
    (expose,) = RUNTIME.all("EXPOSE")
    return int(expose.text.split("/")[0])


def on_host(argv: list[str], port: int) -> list[str]:
    """A command of the image with its port replaced by ``port``, on loopback only."""
    replaced = [word.replace(str(exposed_port()), str(port)) for word in argv]
    return ["127.0.0.1" if word == "0.0.0.0" else word for word in replaced]


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(container.COMPOSE.read_text(encoding="utf-8"))
    return document


# --- the recipe as written ------------------------------------------------------------------


def test_two_stages_of_one_slim_python_image() -> None:
    assert [stage.name for stage in RECIPE.stages] == ["build", "runtime"]
    assert BUILD.base == RUNTIME.base
    assert RUNTIME.base.endswith("-slim"), RUNTIME.base
    required = PYPROJECT["project"]["requires-python"].removeprefix(">=")
    version = container.python_version(RUNTIME.base)
    assert tuple(map(int, version.split("."))) >= tuple(map(int, required.split(".")))
    # the runtime takes nothing of the build stage but its wheels, through a mount
    assert not RUNTIME.all("COPY")
    assert not RUNTIME.all("ADD")


def test_the_build_stage_copies_what_the_package_is_made_of() -> None:
    copied = {source for copy in BUILD.all("COPY") for source in copy.words()[:-1]}
    packages = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    wanted = {pattern.rstrip("*") for pattern in packages}
    assert {"pyproject.toml", PYPROJECT["project"]["readme"], *wanted} <= copied
    assert copied <= {"pyproject.toml", PYPROJECT["project"]["readme"], *wanted}


def test_the_runtime_installs_the_built_wheels_with_the_server_extra_and_no_index() -> None:
    build = [c for run in BUILD.all("RUN") for c in container.commands(run.rest)]
    wheel = pip(build, "wheel")
    built_into = option(wheel, "--wheel-dir", "-w")
    (install_run,) = [run for run in RUNTIME.all("RUN") if "mount" in run.options]
    mount = dict(part.partition("=")[::2] for part in install_run.options["mount"].split(","))
    assert mount == {"type": "bind", "from": "build", "source": built_into, "target": built_into}
    install = pip(container.commands(install_run.rest), "install")
    assert "--no-index" in install, "the runtime installs the build stage's wheels, no others"
    assert option(install, "--find-links", "-f") == mount["target"]
    requirement = install[-1]
    assert requirement.split("[")[0] == PYPROJECT["project"]["name"]
    assert extras(requirement) == extras("vmsam" + wheel[-1].removeprefix(".")) == {"server"}
    assert extras(requirement) <= set(PYPROJECT["project"]["optional-dependencies"])


def test_it_runs_as_a_system_user_of_its_own_over_its_state_directory() -> None:
    user = RUNTIME.user()
    assert user not in ("root", "0") and not user.startswith("0:")
    commands = runtime_commands()
    useradd = the("useradd", commands)
    assert useradd[-1] == user and "--system" in useradd
    home = option(useradd, "--home-dir", "-d")
    state = [c for c in commands if c[:2] == ["install", "-d"] and user in c[c.index("-d") :]]
    assert [command[-1] for command in state] == [home]
    database = RUNTIME.env()["VMSAM_DB"]
    assert database == f"sqlite:///{home}/vmsam.db"
    assert RUNTIME.workdir() == home
    # the configuration file is mounted where vmsam looks without being told
    assert "VMSAM_CONFIG" not in RUNTIME.env()
    assert any(
        c[:2] == ["install", "-d"] and c[-1] == str(Path(DEFAULT_CONFIG).parent) for c in commands
    )


def test_the_api_is_the_default_command_and_its_healthcheck_needs_only_python() -> None:
    assert not RUNTIME.all("ENTRYPOINT"), "`vmsam consume` is given as a whole command"
    (cmd,) = RUNTIME.all("CMD")
    argv = container.exec_form(cmd.text)
    assert argv is not None and argv[:2] == ["vmsam", "serve"]
    assert option(argv, "--host") == "0.0.0.0"
    assert int(option(argv, "--port")) == exposed_port()
    options, check = container.healthcheck(RUNTIME)
    assert check[:2] == ["python", "-c"], "a slim image has no curl: python asks"
    assert f"'http://127.0.0.1:{exposed_port()}/healthz'" in check[2]
    assert {"interval", "timeout", "start-period", "retries"} <= set(options)


def test_the_compose_example_runs_api_consumer_and_postgresql_from_the_one_image() -> None:
    services = compose()["services"]
    assert set(services) == {"api", "consumer", "postgres"}
    api, consumer = services["api"], services["consumer"]
    for service in (api, consumer):
        build = service["build"]
        assert (container.COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == (
            container.CONTAINERFILE
        )
        assert service["image"] == api["image"]
        assert f"./vmsam.toml:{DEFAULT_CONFIG}:ro" in service["volumes"]
        url = service["environment"]["VMSAM_DB"]
        assert re.match(
            r"postgresql://vmsam:\$\{VMSAM_DB_PASSWORD[^}]*\}@postgres:5432/vmsam$", url
        )
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "command" not in api, "the API is the image's default command"
    assert api["healthcheck"]["test"] == ["CMD", *container.healthcheck(RUNTIME)[1]]
    assert consumer["command"][:2] == ["vmsam", "consume"]
    metrics = option(consumer["command"], "--metrics-port")
    assert f"http://127.0.0.1:{metrics}/metrics" in consumer["healthcheck"]["test"][-1]
    assert consumer["healthcheck"]["test"][:3] == ["CMD", "python", "-c"]
    assert "postgres" in services["postgres"]["image"]


# --- the recipe built and run ---------------------------------------------------------------


@pytest.fixture(scope="module")
def image() -> Iterator[container.Reproduction]:
    reproduction = container.Reproduction(RECIPE)
    failure = ""
    try:
        try:
            reproduction.build()
        except container.BuildFailed as exc:
            failure = str(exc)
        if failure:  # outside the except: one line, no chained traceback
            pytest.fail(f"the Containerfile could not be reproduced: {failure}", pytrace=False)
        yield reproduction
    finally:
        reproduction.close()


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def check_user(image: container.Reproduction, service: container.Service) -> None:
    expected = image.user.uid if image.user else os.getuid()
    assert expected != 0
    assert service.uid() == expected


@pytest.mark.timeout(BUILD_TIMEOUT)
def test_the_default_command_runs_as_the_user_and_passes_the_healthcheck(
    image: container.Reproduction,
) -> None:
    port = free_port()
    (cmd,) = RUNTIME.all("CMD")
    argv = on_host(container.exec_form(cmd.text) or [], port)
    check = on_host(container.healthcheck(RUNTIME)[1], port)
    with image.container() as box:
        # what is installed, not this checkout, answers
        where = box.exec(["python", "-c", "import vmsam; print(vmsam.__file__)"])
        assert where.stdout.startswith(str(image.venv)), where
        assert box.exec(check).returncode != 0, "the healthcheck passes with no API running"
        api = box.start(argv, "api")
        wait_until(lambda: box.exec(check).returncode == 0 or not api.alive(), 60, "a healthy API")
        assert api.alive(), api.tail()
        assert box.exec(check).returncode == 0
        check_user(image, api)
        database = box.path(RUNTIME.env()["VMSAM_DB"].removeprefix("sqlite:///"))
        assert database.stat().st_uid == api.uid()
        assert get(f"http://127.0.0.1:{port}/healthz")["status"] == "ok"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as page:
            assert page.status == 200 and "html" in page.headers["content-type"]
        stopped(api)
        assert box.exec(check).returncode != 0


@pytest.mark.timeout(BUILD_TIMEOUT)
def test_vmsam_consume_from_the_same_image_stores_what_the_api_shows(
    image: container.Reproduction, activemq: Any
) -> None:
    api_port, metrics_port = free_port(), free_port()
    destination = f"/queue/vmsam.container.{uuid.uuid4().hex[:8]}"
    consumer_service = compose()["services"]["consumer"]
    consume = consumer_service["command"]
    consume = [str(metrics_port) if w == option(consume, "--metrics-port") else w for w in consume]
    consume = ["127.0.0.1" if word == "0.0.0.0" else word for word in consume]
    healthy = [
        w.replace(option(consumer_service["command"], "--metrics-port"), str(metrics_port))
        for w in consumer_service["healthcheck"]["test"][1:]
    ]
    (cmd,) = RUNTIME.all("CMD")
    with image.container() as box:
        # the mounted file: at the path vmsam reads by default in the image, named here
        config = box.path(DEFAULT_CONFIG)
        config.write_text(
            f'[broker]\nurls = ["{activemq.address}"]\n\n'
            f'[consumer]\ndestination = "{destination}"\n'
        )
        mounted = {"VMSAM_CONFIG": str(config)}
        api = box.start(on_host(container.exec_form(cmd.text) or [], api_port), "api", mounted)
        consumer = box.start(consume, "consumer", mounted)
        consumer.wait_event("subscribed")
        check_user(image, consumer)
        assert box.exec(healthy).returncode == 0, "the compose healthcheck of the consumer"
        send(activemq.address, destination, [record(0, run=uuid.uuid4().hex)])
        consumer.wait_event("commit")
        results = f"http://127.0.0.1:{api_port}/api/v1/results"
        wait_until(lambda: api.alive() and _answers(results), 60, "the API")
        assert get(results)["total"] == 1
        assert consumer.terminate() == 0, consumer.tail()
        assert consumer.events("stopped"), consumer.tail()
        stopped(api)


def stopped(api: container.Service) -> None:
    """SIGTERM ends the API cleanly. uvicorn then raises the signal again with its default
    action: a process dies of it, but a container's PID 1 ignores it and exits 0."""
    assert api.terminate() in (0, -signal.SIGTERM), api.tail()
    assert "Application shutdown complete" in api.text(), api.tail()


def _answers(url: str) -> bool:
    try:
        get(url)
    except OSError:
        return False
    return True
