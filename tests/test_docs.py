"""The documentation against the code: the configuration reference is generated and
complete, what it says about variables, flags and ranges is what the code does, the
probes' options are their ``--help``, and every relative link leads to a file.

``python -m tests.test_docs --write`` rewrites docs/configuration.md and the ``--help``
blocks of docs/probes.md from the code.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from vmsam.cli import build_parser
from vmsam.shared.config import Settings, load_settings, read_settings
from vmsam.shared.config_reference import (
    DESCRIPTIONS,
    ENVIRONMENT,
    FLAGS,
    RANGES,
    SECTIONS,
    TYPES,
    defaults_toml,
    render,
)

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
REFERENCE = DOCS / "configuration.md"
PROBES_PAGE = DOCS / "probes.md"
PROBES = ("check_wn_cvmfs", "check_wn_middleware", "check_wn_scratch", "check_wn_mjf")
# --help is wrapped at the terminal's width: the page holds it at this one
HELP_COLUMNS = "100"
REGENERATE = "python -m tests.test_docs --write"


def keys() -> list[tuple[str, str]]:
    defaults = Settings()
    return [
        (section, key) for section in Settings._fields for key in getattr(defaults, section)._fields
    ]


# --- the configuration reference -----------------------------------------------------------


def test_every_key_of_every_section_has_a_description() -> None:
    undescribed = [key for key in keys() if not DESCRIPTIONS.get(key, "").strip()]
    assert undescribed == [], "describe these keys in vmsam/shared/config_reference.py"
    assert set(DESCRIPTIONS) == set(keys()), "descriptions of keys that do not exist"
    assert set(SECTIONS) == set(Settings._fields)
    assert all(text.strip() for text in SECTIONS.values())


def test_every_type_of_a_key_has_a_name() -> None:
    for section in Settings._fields:
        annotations = type(getattr(Settings(), section)).__annotations__
        for key, annotation in annotations.items():
            written = str(getattr(annotation, "__forward_arg__", annotation))
            assert written in TYPES, f"[{section}] {key}: name the type {written!r} in TYPES"


def test_the_reference_page_is_the_rendered_reference() -> None:
    assert REFERENCE.read_text(encoding="utf-8") == render(), f"regenerate it: {REGENERATE}"


def test_the_page_shows_every_key_with_its_default() -> None:
    page = render()
    for section, key in keys():
        assert f"## `[{section}]`" in page
        assert f"| `{key}` |" in page, (section, key)


def test_a_file_of_every_default_reads_back_as_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "vmsam.toml"
    path.write_text(defaults_toml(), encoding="utf-8")
    configuration = read_settings(str(path), environ={})
    assert configuration.problems == ()
    assert configuration.settings == Settings()
    assert load_settings(str(path), environ={}) == Settings()


def empty_file(tmp_path: Path) -> str:
    path = tmp_path / "empty.toml"
    path.write_text("", encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("variable", sorted(ENVIRONMENT))
def test_each_documented_variable_does_what_the_page_says(variable: str, tmp_path: Path) -> None:
    key, _ = ENVIRONMENT[variable]
    if key is None:  # VMSAM_CONFIG names the file
        named = tmp_path / "named.toml"
        named.write_text('[vm]\nvo = "dteam"\n', encoding="utf-8")
        configuration = read_settings(None, environ={variable: str(named)})
        assert configuration.source == str(named)
        assert configuration.settings.vm.vo == "dteam"
        return
    section, name = key
    path = tmp_path / "vmsam.toml"
    path.write_text(f'[{section}]\n{name} = "from-the-file"\n', encoding="utf-8")
    settings = load_settings(str(path), environ={variable: "from-the-environment"})
    assert getattr(getattr(settings, section), name) == "from-the-environment"
    assert getattr(getattr(load_settings(str(path), environ={}), section), name) == "from-the-file"


def test_every_variable_the_code_reads_is_documented() -> None:
    read = set()
    for top in ("vmsam", "broker", "probes"):
        for path in (ROOT / top).rglob("*.py"):
            read |= set(re.findall(r"\bVMSAM_[A-Z_]+\b", path.read_text(encoding="utf-8")))
    assert read, "the scan found no variable at all"
    assert read <= set(ENVIRONMENT), read - set(ENVIRONMENT)


@pytest.mark.parametrize("key", sorted(FLAGS), ids=lambda k: f"{k[0]}.{k[1]}")
def test_each_documented_flag_exists_on_its_commands(key: tuple[str, str]) -> None:
    flag, commands = FLAGS[key]
    for command in commands:
        args = build_parser().parse_args([command, flag, "given"])
        assert getattr(args, flag.lstrip("-").replace("-", "_")) == "given"


def number_keys() -> list[tuple[str, str]]:
    defaults = Settings()
    return [
        (section, key)
        for section, key in keys()
        if isinstance(getattr(getattr(defaults, section), key), float)
    ]


def test_every_number_has_a_documented_range() -> None:
    assert set(number_keys()) == set(RANGES)


@pytest.mark.parametrize("key", sorted(RANGES), ids=lambda k: f"{k[0]}.{k[1]}")
def test_each_documented_range_is_the_one_enforced(key: tuple[str, str], tmp_path: Path) -> None:
    section, name = key
    low, high, low_excluded = RANGES[key]

    def accepted(value: float) -> bool:
        path = tmp_path / "vmsam.toml"
        # the budget stays above any timeout tried, so that only the value itself is judged
        extra = "budget = 1e9\n" if key == ("probes", "timeout") else ""
        path.write_text(f"[{section}]\n{name} = {value!r}\n{extra}", encoding="utf-8")
        errors = read_settings(str(path), environ={}).errors
        return not any(problem.key == f"[{section}] {name}" for problem in errors)

    assert accepted(low) is not low_excluded
    assert not accepted(low - 0.001)
    if high == float("inf"):
        assert accepted(1e6)
    else:
        assert accepted(high)
        assert not accepted(high + 0.001)


# --- the A/R page ---------------------------------------------------------------------------

AVAILABILITY = DOCS / "availability.md"
TESTS = ("cvmfs", "middleware", "scratch", "mjf")
# the results of docs/availability.md's worked examples: (space, site, day, hour, the test
# that is not OK or None, its status); one tested VM reports every test at once
EXAMPLES = (
    ("vac01.one.example.org", "SITE-ONE", 2, 6, None, "OK"),
    ("vac01.one.example.org", "SITE-ONE", 2, 10, "scratch", "CRITICAL"),
    ("vac01.one.example.org", "SITE-ONE", 2, 16, None, "OK"),
    ("vac01.one.example.org", "SITE-ONE", 2, 20, "middleware", "UNKNOWN"),
    ("vac01.two.example.org", "SITE-TWO", 1, 23, None, "OK"),
    ("vac01.two.example.org", "SITE-TWO", 2, 7, "cvmfs", "CRITICAL"),
    ("vac01.two.example.org", "SITE-TWO", 2, 15, None, "OK"),
    ("vac01.three.example.org", "SITE-THREE", 2, 0, None, "OK"),
    ("vac01.three.example.org", "SITE-THREE", 2, 12, "mjf", "CRITICAL"),
    ("vac02.three.example.org", "SITE-THREE", 2, 6, None, "OK"),
    ("vac02.three.example.org", "SITE-THREE", 2, 18, "cvmfs", "CRITICAL"),
)
EXAMPLE_DB = "sqlite:///ar.db"


def example_records() -> list[bytes]:
    from datetime import UTC, datetime

    from vmsam.shared.messages import MetricResult, encode

    bodies = []
    for space, site, day, hour, test, status in EXAMPLES:
        moment = datetime(2025, 6, day, hour, tzinfo=UTC)
        for name in TESTS:
            state = status if test in (None, name) else "OK"
            result = MetricResult(
                service_uri=space,
                host_name=space,
                service_flavour="uk.ac.gridpp.vac",
                site_name=site,
                status=state,
                metric_name=f"org.lhcb.WN-{name}",
                summary=state,
                gathered_at=f"vm-{hour}.{space}",
                timestamp=moment,
                service_type="uk.ac.gridpp.vac",
                vo_name="lhcb",
                vm_uuid=f"vm-{day}-{hour}-{space}",
            )
            bodies.append(encode(result).encode())
    return bodies


def shell_sessions(text: str) -> list[tuple[list[str], str]]:
    """(command, output) of every ``$ vmsam ...`` line of the page's code blocks."""
    sessions: list[tuple[list[str], str]] = []
    for block in FENCED.findall(text):
        lines = block.split("\n")[1:-1]
        index = 0
        while index < len(lines):
            if not lines[index].startswith("$ "):
                index += 1
                continue
            command = lines[index][2:]
            while command.endswith("\\"):
                index += 1
                command = command[:-1] + lines[index].strip()
            index += 1
            output = []
            while index < len(lines) and not lines[index].startswith("$ "):
                output.append(lines[index])
                index += 1
            sessions.append((shlex.split(command), "".join(line + "\n" for line in output)))
    return sessions


def test_the_worked_examples_are_what_vmsam_answers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from vmsam.cli import main
    from vmsam.server.store import Received, Store

    url = f"sqlite:///{tmp_path}/ar.db"
    with Store(url) as store:
        report = store.save([Received.parse(body, window=False) for body in example_records()])
    assert (report.stored, report.dead_letters) == (len(EXAMPLES) * len(TESTS), 0)
    sessions = shell_sessions(AVAILABILITY.read_text(encoding="utf-8"))
    assert sum(command[1] == "ar" for command, _ in sessions) >= 4
    for command, output in sessions:
        assert command[0] == "vmsam"
        args = [url if arg == EXAMPLE_DB else arg for arg in command[1:]]
        assert main(args) == 0, command
        assert capsys.readouterr().out == output, " ".join(command)


def test_the_truth_tables_on_the_page_are_the_shipped_ones() -> None:
    from vmsam.server.availability import STATES, load_profiles

    operations = load_profiles(None).operations
    text = AVAILABILITY.read_text(encoding="utf-8")
    for name in ("AND", "OR"):
        rows = re.findall(r"^\| \*\*(\w+)\*\* \| (.*) \|$", text.split(f"### {name}\n")[1], re.M)
        table = {row: cells.split(" | ") for row, cells in rows[: len(STATES)]}
        assert list(table) == list(STATES)
        for a, cells in table.items():
            assert cells == [operations.apply(name, a, b) for b in STATES], (name, a)


# --- the probes' options ----------------------------------------------------------------------

HELP_BLOCK = re.compile(
    r"<!-- (?P<probe>check_wn_\w+) --help -->\n```text\n(?P<text>.*?)```\n", re.DOTALL
)


def probe_help(probe: str) -> str:
    """``probe --help`` as a shell at HELP_COLUMNS columns prints it."""
    done = subprocess.run(
        [str(Path(sys.executable).parent / probe), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": HELP_COLUMNS},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def help_blocks(text: str) -> dict[str, str]:
    return {match["probe"]: match["text"] for match in HELP_BLOCK.finditer(text)}


def with_help(text: str, helps: dict[str, str]) -> str:
    """``text`` with each probe's block replaced by ``helps[probe]``."""

    def replace(match: re.Match[str]) -> str:
        probe = match["probe"]
        return f"<!-- {probe} --help -->\n```text\n{helps.get(probe, match['text'])}```\n"

    return HELP_BLOCK.sub(replace, text)


def test_the_probes_page_has_one_help_block_per_probe() -> None:
    blocks = help_blocks(PROBES_PAGE.read_text(encoding="utf-8"))
    assert sorted(blocks) == sorted(PROBES)


@pytest.mark.parametrize("probe", PROBES)
def test_the_probes_page_shows_each_probes_help(probe: str) -> None:
    blocks = help_blocks(PROBES_PAGE.read_text(encoding="utf-8"))
    assert blocks.get(probe) == probe_help(probe), f"regenerate docs/probes.md: {REGENERATE}"


# --- links -----------------------------------------------------------------------------------

FENCED = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def links(text: str) -> list[str]:
    """The targets of the inline links of a Markdown text, code left out."""
    return LINK.findall(INLINE_CODE.sub("", FENCED.sub("", text)))


def broken_links(page: Path) -> list[str]:
    """The relative links of ``page`` that lead to no file."""
    broken = []
    for target in links(page.read_text(encoding="utf-8")):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # a URL or a place on the same page
        if not (page.parent / target.split("#", 1)[0]).exists():
            broken.append(target)
    return broken


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


def test_every_relative_link_leads_to_a_file() -> None:
    assert len(pages()) > 1
    broken = [
        f"{page.relative_to(ROOT)}: {link}" for page in pages() for link in broken_links(page)
    ]
    assert broken == []


def test_a_broken_link_is_found(tmp_path: Path) -> None:
    (tmp_path / "there.md").write_text("x")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](there.md) [ok](there.md#part) [web](https://example.org/x) [here](#top)\n"
        "`[code](nowhere.md)`\n```\n[fenced](nowhere.md)\n```\n[gone](missing.md)\n"
    )
    assert broken_links(page) == ["missing.md"]


def test_the_readme_links_every_docs_page() -> None:
    linked = {
        Path(target.split("#", 1)[0]).name for target in links((ROOT / "README.md").read_text())
    }
    assert {page.name for page in DOCS.glob("*.md")} <= linked


# design notes that live outside the repository, which nothing in it may point to
DESIGN_NOTES = re.compile(r"\b(?:ARCHITECTURE|AVAILABILITY|DOMAIN|HOOK|PROBES)\.md\b")
# still to be rewritten: take an entry out of here when it is clean
PENDING: tuple[str, ...] = ()


def test_nothing_points_to_design_notes_outside_the_repository() -> None:
    places = ("vmsam", "broker", "probes", "tests", "bench", "scripts", "examples", "docs")
    files = [ROOT / "README.md", ROOT / "pyproject.toml", ROOT / "Containerfile"]
    files += [path for place in places for path in (ROOT / place).rglob("*") if path.is_file()]
    pointing = []
    for path in files:
        relative = path.relative_to(ROOT).as_posix()
        if "__pycache__" in relative or any(
            relative == p or relative.startswith(p + "/") for p in PENDING
        ):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        pointing += [f"{relative}: {m}" for m in DESIGN_NOTES.findall(text)]
    assert pointing == []


def write() -> None:
    REFERENCE.write_text(render(), encoding="utf-8")
    page = PROBES_PAGE.read_text(encoding="utf-8")
    PROBES_PAGE.write_text(with_help(page, {p: probe_help(p) for p in PROBES}), encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit(f"usage: {REGENERATE}")
    write()
