"""The house in wings, checked from the code itself: what runs in a VM (``vmsam.vm``,
``probes``) and what both ends share (``vmsam.shared``) never import the server side; no
module imports another package's private names; the plain install's dependencies are all
the VM side needs; server commands on a VM install say which extra to install."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ("vmsam", "probes", "broker")
SERVER_THIRD_PARTY = {
    "sqlalchemy",
    "alembic",
    "fastapi",
    "starlette",
    "uvicorn",
    "psycopg",
    "prometheus_client",
}
# import name -> distribution name of the plain (VM) install
VM_THIRD_PARTY = {
    "nagiosplugin": "nagiosplugin",
    "httpx": "httpx",
    "stomp": "stomp.py",
    "dirq": "dirq",
    "cryptography": "cryptography",
}
# what may not be imported from each wing (by prefix)
FORBIDDEN = {
    "vmsam.shared": ("vmsam.vm", "vmsam.server", "vmsam.demo", "vmsam.cli", "broker", "probes"),
    "vmsam.vm": ("vmsam.server", "vmsam.demo", "vmsam.cli", "broker"),
    "probes": ("vmsam.server", "vmsam.demo", "vmsam.cli", "broker"),
    "vmsam.server": ("vmsam.vm", "vmsam.demo", "vmsam.cli", "broker", "probes"),
    "broker": ("vmsam.vm", "vmsam.demo", "vmsam.cli", "probes"),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_of(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module imported, names taken from it) of every import in the file, relative
    imports resolved."""
    module = module_name(path)
    package = package_of(module, path)
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.extend((alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.append((base, [alias.name for alias in node.names]))
    return found


def shipped_files() -> list[Path]:
    return [
        path
        for top in SHIPPED
        for path in sorted((ROOT / top).rglob("*.py"))
        if "__pycache__" not in path.parts
    ]


def wing(module: str) -> str | None:
    for name in FORBIDDEN:
        if module == name or module.startswith(name + "."):
            return name
    return None


def test_no_wing_imports_what_it_must_not() -> None:
    broken = []
    for path in shipped_files():
        own = wing(module_name(path))
        if own is None:
            continue
        for imported, _ in imports(path):
            for banned in FORBIDDEN[own]:
                if imported == banned or imported.startswith(banned + "."):
                    broken.append(f"{module_name(path)} imports {imported}")
            root = imported.split(".")[0]
            if own in {"vmsam.vm", "vmsam.shared", "probes"} and root in SERVER_THIRD_PARTY:
                broken.append(f"{module_name(path)} imports {imported} (server extra)")
    assert broken == []


def test_probes_use_only_the_mjf_client_errors_and_deadlines() -> None:
    used = {
        imported
        for path in sorted((ROOT / "probes").rglob("*.py"))
        for imported, _ in imports(path)
        if imported.startswith("vmsam")
    }
    # the Nagios range grammar is shared with the server's threshold profiles: one parser
    allowed = {
        "vmsam.vm.mjf",
        "vmsam.vm",
        "vmsam.shared.errors",
        "vmsam.shared.deadline",
        "vmsam.shared.ranges",
    }
    assert used <= allowed, used


def private(parts: list[str]) -> int | None:
    """The index of the first private part of a dotted name, if any."""
    return next((i for i, part in enumerate(parts) if part.startswith("_")), None)


def test_no_module_imports_another_packages_private_names() -> None:
    broken = []
    for path in shipped_files():
        module = module_name(path)
        package = package_of(module, path)
        for imported, names in imports(path):
            parts = imported.split(".")
            if parts[0] not in SHIPPED:
                continue
            first = private(parts)
            if first is not None:
                owner = ".".join(parts[:first])
                if not (package == owner or package.startswith(owner + ".")):
                    broken.append(f"{module} imports private module {imported}")
            for name in names:
                inside = package == imported or package.startswith(imported + ".")
                if name.startswith("_") and name != "__version__" and not inside:
                    broken.append(f"{module} imports private name {name} from {imported}")
    assert broken == []


def test_the_plain_install_brings_what_the_vm_side_imports_and_nothing_of_the_server() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    plain = {
        dependency.split(">")[0].split("=")[0].split("[")[0].strip().lower()
        for dependency in project["dependencies"]
    }
    needed = set()
    for path in shipped_files():
        if wing(module_name(path)) in {"vmsam.vm", "vmsam.shared", "probes"}:
            for imported, _ in imports(path):
                root = imported.split(".")[0]
                if root in VM_THIRD_PARTY:
                    needed.add(VM_THIRD_PARTY[root])
    assert needed <= plain
    assert not plain & SERVER_THIRD_PARTY
    assert "server" in project["optional-dependencies"]


SERVER_COMMANDS = [
    ["ar", "--site", "S", "--start", "2026-01-01", "--end", "2026-01-02"],
    ["serve"],
    ["demo"],
    ["consume"],
    ["ingest", "."],
    ["db", "upgrade"],
    ["downtime", "list"],
]
BLOCKER = """
import sys


class WithoutServerExtra:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, WithoutServerExtra())
"""


@pytest.fixture
def vm_install(tmp_path: Path) -> dict[str, str]:
    """The environment of a VM install: the server extra's modules cannot be imported."""
    (tmp_path / "sitecustomize.py").write_text(BLOCKER.format(blocked=SERVER_THIRD_PARTY))
    path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


@pytest.mark.parametrize("command", SERVER_COMMANDS, ids=lambda c: c[0])
def test_server_commands_on_a_vm_install_name_the_extra(
    command: list[str], vm_install: dict[str, str], tmp_path: Path
) -> None:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "vmsam"), *command],
        capture_output=True, text=True, timeout=120, env=vm_install, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert done.returncode == 78, done.stderr
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"vmsam {command[0]}")
    assert "pip install 'vmsam[server]'" in last


def test_plan_needs_neither_the_extra_nor_a_database(
    vm_install: dict[str, str], tmp_path: Path
) -> None:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "vmsam"), "plan", "--vm-starts-per-hour", "4"],
        capture_output=True, text=True, timeout=60, env=vm_install, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "sampling fraction:" in done.stdout
    assert list(tmp_path.glob("*.db")) == []
