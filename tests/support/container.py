"""The Containerfile read as data, and what it describes built without a container engine.

``parse`` reads the subset of the Containerfile syntax the project's file uses (stages,
``ARG`` before ``FROM``, continuation lines, comments, exec and shell forms, ``--flag=value``
options). ``Reproduction`` builds each stage as a fresh virtual environment of the Python the
``FROM`` line names: the build stage's ``RUN`` in a copy of what its ``COPY`` lines take from
the repository, the runtime stage's ``RUN`` lines with the build stage's output where its
``--mount`` puts it, and the system user its ``useradd`` creates. Each container path is
mapped to a directory of the host; ``Container`` runs commands as the image's ``USER`` with
the image's ``ENV`` and ``WORKDIR``, in an environment that inherits nothing else.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.consumer import wait_until

ROOT = Path(__file__).resolve().parents[2]
CONTAINERFILE = ROOT / "Containerfile"
COMPOSE = ROOT / "examples" / "compose.yaml"

_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


class BuildFailed(Exception):
    """A step of the reproduction failed; ``str()`` is one line saying which and why."""


# --- reading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case
    text: str  # the arguments, continuation lines joined
    line: int

    def split(self) -> tuple[dict[str, str], str]:
        """The leading ``--name=value`` options and the rest of the arguments."""
        options: dict[str, str] = {}
        rest = self.text
        while match := re.match(r"--([\w-]+)=(\S*)\s*", rest):
            options[match.group(1)] = match.group(2)
            rest = rest[match.end() :]
        return options, rest

    @property
    def options(self) -> dict[str, str]:
        return self.split()[0]

    @property
    def rest(self) -> str:
        return self.split()[1]

    def words(self) -> list[str]:
        """The arguments as an exec-form list, or split with shell rules."""
        return exec_form(self.rest) or shlex.split(self.rest)


def exec_form(text: str) -> list[str] | None:
    """A JSON array of strings (the exec form), else None (the shell form)."""
    if not text.lstrip().startswith("["):
        return None
    value = json.loads(text)
    if not isinstance(value, list) or not all(isinstance(word, str) for word in value):
        raise ValueError(f"not an exec form: {text}")
    return value


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            words = shlex.split(instruction.text)
            if words and "=" not in words[0]:  # the old form: ENV KEY value
                values[words[0]] = " ".join(words[1:])
                continue
            for word in words:
                key, _, value = word.partition("=")
                values[key] = value
        return values

    def workdir(self) -> str:
        last = self.last("WORKDIR")
        return last.text.strip() if last else "/"

    def user(self) -> str:
        last = self.last("USER")
        return last.text.strip() if last else "root"


@dataclass
class Recipe:
    arguments: dict[str, str]
    stages: list[Stage]

    def stage(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(f"no stage {name!r}")

    @property
    def final(self) -> Stage:
        return self.stages[-1]


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first line number, line) with continuations joined and comment lines left out."""
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        yield start, " ".join(part for part in pending if part)
        pending = []
    if pending:
        yield start, " ".join(part for part in pending if part)


def parse(text: str) -> Recipe:
    arguments: dict[str, str] = {}
    stages: list[Stage] = []
    for number, line in logical_lines(text):
        keyword, _, rest = line.partition(" ")
        instruction = Instruction(keyword.upper(), rest.strip(), number)
        if instruction.keyword == "ARG" and not stages:
            name, _, default = instruction.text.partition("=")
            arguments[name] = default
        elif instruction.keyword == "FROM":
            words = shlex.split(instruction.rest)
            base = _VARIABLE.sub(lambda m: arguments.get(m.group(1) or m.group(2), ""), words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else str(len(stages))
            stages.append(Stage(base, name))
        elif not stages:
            raise ValueError(f"line {number}: {instruction.keyword} before the first FROM")
        else:
            stages[-1].instructions.append(instruction)
    return Recipe(arguments, stages)


def read() -> Recipe:
    return parse(CONTAINERFILE.read_text(encoding="utf-8"))


def commands(script: str) -> list[list[str]]:
    """The commands of a ``RUN`` shell script made of commands joined by ``&&``."""
    lexer = shlex.shlex(script, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    found: list[list[str]] = [[]]
    for token in lexer:
        if token == "&&":
            found.append([])
        elif set(token) <= set("();<>|&"):
            raise ValueError(f"only commands joined by && are understood: {script}")
        else:
            found[-1].append(token)
    return [command for command in found if command]


def healthcheck(stage: Stage) -> tuple[dict[str, str], list[str]]:
    """The options and the exec-form command of the stage's ``HEALTHCHECK``."""
    instruction = stage.last("HEALTHCHECK")
    if instruction is None:
        raise ValueError("no HEALTHCHECK")
    options, rest = instruction.split()
    kind, _, command = rest.partition(" ")
    if kind.upper() != "CMD":
        raise ValueError(f"HEALTHCHECK {kind}")
    argv = exec_form(command)
    if argv is None:
        raise ValueError("the HEALTHCHECK is not in exec form (it would need a shell)")
    return options, argv


def python_version(base: str) -> str:
    """``3.11`` of ``docker.io/library/python:3.11-slim``."""
    match = re.search(r"(?:^|/)python:(\d+\.\d+)", base)
    if not match:
        raise ValueError(f"not an official Python image: {base}")
    return match.group(1)


# --- building -------------------------------------------------------------------------------


@dataclass(frozen=True)
class User:
    name: str
    uid: int
    gid: int


def _run(step: str, argv: Sequence[str], **options: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        list(argv), capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False, **options
    )
    if result.returncode != 0:
        said = (result.stderr + result.stdout).strip().splitlines() or ["(nothing said)"]
        # pip's first ERROR line names the cause; its last one sums up
        errors = [line.strip() for line in said if line.lstrip().startswith("ERROR:")]
        why = errors[0] if errors else said[-1].strip()
        raise BuildFailed(f"{step}: {shlex.join(argv)} exited {result.returncode}: {why}")
    return result


def open_directory(prefix: str) -> Path:
    """A new directory every user can traverse (a test's tmp_path is the owner's only)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


def mapped(root: Path, path: str) -> Path:
    return root / path.lstrip("/")


class Reproduction:
    """The image of the recipe, built on this host; ``close()`` removes all of it (and the
    users and groups it made)."""

    def __init__(self, recipe: Recipe, *, build: str = "build") -> None:
        self.recipe = recipe
        self.runtime = recipe.final
        self.build_stage = recipe.stage(build)
        self.version = python_version(self.runtime.base)
        self.root = open_directory("vmsam-image-")
        self.suffix = uuid.uuid4().hex[:8]
        self.user: User | None = None
        self.python = ""  # the base interpreter, as the FROM image's
        self.venv = self.root / "runtime-stage" / "venv"  # the image's Python
        self._undo: list[list[str]] = []

    def build(self) -> Reproduction:
        """The runtime stage's users first (the interpreter must be one they can run), then
        the build stage, then the runtime stage's install."""
        for line, command in self._runtime_commands():
            if command[0] in ("groupadd", "useradd"):
                self._account(f"runtime stage, line {line}", command)
        self.python = self._choose_python()
        build_filesystem = self._build_stage()
        self._runtime_stage(build_filesystem)
        return self

    # the build stage

    def _build_stage(self) -> Path:
        """Its COPY lines from the repository into its WORKDIR, then its RUN lines."""
        filesystem = self.root / "build-stage"
        venv = filesystem / "venv"
        _run("build stage: python -m venv", [self.python, "-m", "venv", str(venv)])
        workdir = mapped(filesystem, "/")
        for instruction in self.build_stage.instructions:
            if instruction.keyword == "WORKDIR":
                workdir = mapped(filesystem, instruction.text.strip())
                workdir.mkdir(parents=True, exist_ok=True)
            elif instruction.keyword == "COPY":
                self._copy(instruction, workdir)
            elif instruction.keyword == "RUN":
                for command in commands(instruction.rest):
                    argv = self._host_command(command, {"/": filesystem}, venv)
                    _run(f"build stage, line {instruction.line}", argv, **_builder(workdir))
        return filesystem

    @staticmethod
    def _copy(instruction: Instruction, workdir: Path) -> None:
        if instruction.options:
            raise BuildFailed(f"line {instruction.line}: COPY {instruction.options} in the build")
        *sources, target = instruction.words()
        into = workdir / target
        for source in sources:
            origin = ROOT / source
            if origin.is_dir():
                shutil.copytree(origin, into / origin.name if target.endswith("/") else into)
            else:
                if target.endswith("/"):
                    into.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, into / origin.name if into.is_dir() else into)

    # the runtime stage

    def _runtime_commands(self) -> Iterator[tuple[int, list[str]]]:
        for instruction in self.runtime.all("RUN"):
            for command in commands(instruction.rest):
                yield instruction.line, command

    def _runtime_stage(self, build_filesystem: Path) -> None:
        """Its RUN lines that install, with the build stage's output where the mount puts it
        (the users were made first; the directories belong to each ``Container``)."""
        _run("runtime stage: python -m venv", [self.python, "-m", "venv", str(self.venv)])
        for instruction in self.runtime.all("RUN"):
            options = instruction.options
            places: dict[str, Path] = {}
            if "mount" in options:
                mount = dict(part.partition("=")[::2] for part in options["mount"].split(","))
                if mount.get("type") != "bind" or mount.get("from") != self.build_stage.name:
                    raise BuildFailed(f"line {instruction.line}: a mount not understood: {mount}")
                places[mount["target"]] = mapped(build_filesystem, mount["source"])
            for command in commands(instruction.rest):
                step = f"runtime stage, line {instruction.line}"
                if command[0].startswith("python"):
                    argv = self._host_command(command, places, self.venv)
                    _run(step, argv, **_builder(self.root))
                elif command[0] not in ("groupadd", "useradd", "install"):
                    raise BuildFailed(f"{step}: no way to reproduce {shlex.join(command)}")

    def _host_command(
        self, command: list[str], places: Mapping[str, Path], venv: Path
    ) -> list[str]:
        """``command`` with the image's interpreter replaced by the venv's and each absolute
        path under ``places`` by where it is on this host."""
        program, *words = command
        if program in ("python", "python3", f"python{self.version}"):
            program = str(venv / "bin" / "python")
        return [program, *(_place(word, places) for word in words)]

    def _account(self, step: str, command: list[str]) -> None:
        """The recipe's groupadd/useradd under names of this run's own, the ids left to the
        host (the recipe's may be taken here), the home under the image's root. Not root:
        nothing is made, and the commands run as this (non-root) user."""
        program, *words = command
        argv = [program]
        options = iter(words)
        for word in options:
            if word in ("--uid", "-u") or (program == "groupadd" and word in ("--gid", "-g")):
                next(options)
            elif word in ("--gid", "-g"):
                argv += [word, self.host_name(next(options))]
            elif word in ("--home-dir", "-d"):
                argv += [word, str(mapped(self.root / "home", next(options)))]
            elif word.startswith("-"):
                argv.append(word)
            else:
                argv.append(self.host_name(word))
        if os.geteuid() != 0:
            return
        _run(step, argv)
        name = argv[-1]
        self._undo.append(["userdel" if program == "useradd" else "groupdel", name])
        if program == "useradd" and words[-1] == self.runtime.user():
            entry = pwd.getpwnam(name)
            self.user = User(name, entry.pw_uid, entry.pw_gid)

    def host_name(self, name: str) -> str:
        """The name a user or group of the recipe has on this host."""
        return f"{name[:23]}-{self.suffix}"

    def _choose_python(self) -> str:
        """An interpreter of the FROM line's version, with venv, that the user can run."""
        tried = _interpreters(self.version)
        probe = "import sys, venv, ensurepip; print('%d.%d' % sys.version_info[:2])"
        for candidate in tried:
            try:
                result = subprocess.run(
                    [candidate, "-c", probe],
                    capture_output=True,
                    text=True,
                    check=False,
                    **_builder(self.root),
                    **self.as_user(),
                )
            except OSError:  # not even executable for that user
                continue
            if result.returncode == 0 and result.stdout.strip() == self.version:
                return candidate
        raise BuildFailed(
            f"no Python {self.version} with venv that the image's user can run"
            f" (tried: {', '.join(tried) or 'none'})"
        )

    def as_user(self) -> dict[str, Any]:
        """subprocess options that run a command as the image's user (none when the tests do
        not run as root: they run as this user)."""
        if self.user is None:
            return {}
        return {"user": self.user.uid, "group": self.user.gid, "extra_groups": []}

    def container(self) -> Container:
        return Container(self)

    def close(self) -> None:
        for argv in reversed(self._undo):
            subprocess.run(argv, capture_output=True, check=False)
        self._undo.clear()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Reproduction:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _place(word: str, places: Mapping[str, Path]) -> str:
    for container in sorted(places, key=len, reverse=True):
        if word == container or word.startswith(container.rstrip("/") + "/"):
            return str(places[container] / word[len(container) :].lstrip("/"))
    return word


def _builder(cwd: Path) -> dict[str, Any]:
    """subprocess options of a build step: this process's environment for pip (its
    configuration, its cache), without what would make an interpreter find the checkout's
    sources instead of what was installed."""
    dropped = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP", "PYTHONUSERBASE"}
    env = {key: value for key, value in os.environ.items() if key not in dropped}
    return {"cwd": cwd, "env": env}


def _interpreters(version: str) -> list[str]:
    found = [
        os.path.realpath(getattr(sys, "_base_executable", sys.executable)),
        shutil.which(f"python{version}") or "",
        f"/usr/local/bin/python{version}",
        f"/usr/bin/python{version}",
    ]
    return list(dict.fromkeys(path for path in found if path and os.path.exists(path)))


# --- running --------------------------------------------------------------------------------


class Container:
    """One container of the image: its own filesystem paths (the recipe's ``install -d``
    directories, fresh), the image's ENV with those paths mapped, its WORKDIR, its USER."""

    def __init__(self, image: Reproduction) -> None:
        self.image = image
        self.filesystem = open_directory("vmsam-container-")
        self.directories: list[str] = []
        for instruction in image.runtime.all("RUN"):
            for command in commands(instruction.split()[1]):
                if command[0] == "install" and "-d" in command:
                    self._directory(command)
        self.places = {path: mapped(self.filesystem, path) for path in self.directories}
        workdir = image.runtime.workdir()
        self.cwd = self.places.get(workdir) or mapped(self.filesystem, workdir)
        self.cwd.mkdir(parents=True, exist_ok=True)
        self.env = {
            "PATH": f"{image.venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.cwd),
            "LANG": "C.UTF-8",
        }
        for key, value in image.runtime.env().items():
            self.env[key] = self.place_in(value)
        self.processes: list[Service] = []

    def _directory(self, command: list[str]) -> None:
        owner = group = None
        mode = 0o755
        paths = []
        words = iter(command[1:])
        for word in words:
            if word == "-o":
                owner = next(words)
            elif word == "-g":
                group = next(words)
            elif word == "-m":
                mode = int(next(words), 8)
            elif not word.startswith("-"):
                paths.append(word)
        for path in paths:
            host = mapped(self.filesystem, path)
            host.mkdir(parents=True, exist_ok=True)
            host.chmod(mode)
            user = self.image.user
            if user is not None and (owner or group):
                os.chown(host, user.uid if owner else -1, user.gid if group else -1)
            self.directories.append(path)

    def place_in(self, text: str) -> str:
        """``text`` with each of the container's directories replaced by its host path."""
        for container in sorted(self.places, key=len, reverse=True):
            text = text.replace(container, str(self.places[container]))
        return text

    def path(self, container_path: str) -> Path:
        return mapped(self.filesystem, container_path)

    def exec(self, argv: Sequence[str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run a command to its end in the container (as a HEALTHCHECK runs)."""
        return subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            cwd=self.cwd,
            env=self.env,
            **self.image.as_user(),
        )

    def start(
        self, argv: Sequence[str], name: str, env: Mapping[str, str] | None = None
    ) -> Service:
        service = Service(self, argv, name, env or {})
        self.processes.append(service)
        return service

    def close(self) -> None:
        for service in self.processes:
            service.kill()
        shutil.rmtree(self.filesystem, ignore_errors=True)

    def __enter__(self) -> Container:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Service:
    """A long-running command of a container; its stdout and stderr kept in a file."""

    def __init__(
        self, container: Container, argv: Sequence[str], name: str, env: Mapping[str, str]
    ) -> None:
        self.argv = list(argv)
        self.log_path = container.filesystem / f"{name}.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                cwd=container.cwd,
                env={**container.env, **env},
                start_new_session=True,
                **container.image.as_user(),
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def uid(self) -> int:
        """The real user id the process runs as (from /proc)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("Uid:"):
                return int(line.split()[1])
        raise AssertionError("no Uid line")

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """Its JSON log lines (the consumer's), those named ``name`` when given."""
        found = []
        for line in self.text().splitlines():
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if isinstance(event, dict) and (name is None or event.get("event") == name):
                    found.append(event)
        return found

    def wait_event(self, name: str, timeout: float = 60) -> None:
        def seen() -> bool:
            if self.process.poll() is not None and not self.events(name):
                raise AssertionError(f"exited {self.process.returncode}: {self.tail()}")
            return bool(self.events(name))

        wait_until(seen, timeout, f"{name!r} in the log of {shlex.join(self.argv)}")

    def tail(self) -> str:
        return " | ".join(self.text().strip().splitlines()[-3:])

    def alive(self) -> bool:
        return self.process.poll() is None

    def terminate(self, timeout: float = 60) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
