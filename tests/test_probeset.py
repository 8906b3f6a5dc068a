"""Which probes a VM runs: test names from executables, distinct names for every extra
plugin, one bad entry costing only itself, and the critical tests."""

from __future__ import annotations

import pytest

from vmsam.shared.config import ExtraProbe, ProbeSettings, Settings
from vmsam.vm.probeset import (
    BUILTIN_TESTS,
    critical_tests,
    executable_problem,
    executable_test_name,
    extra_probes,
)
from vmsam.vm.runner import metric_name


@pytest.mark.parametrize(
    ("executable", "test"),
    [
        ("/usr/lib64/nagios/plugins/check_squid", "squid"),
        ("check_wn_cvmfs", "cvmfs"),
        ("/opt/my_probe", "my_probe"),
        ("check_", "check_"),
        ("/opt/check_odd name+", "odd_name_"),
    ],
)
def test_test_name_follows_hook_md(executable: str, test: str) -> None:
    assert executable_test_name(executable) == test


def extras(*entries: str | tuple[str, str]) -> tuple[ExtraProbe, ...]:
    return tuple(
        ExtraProbe(e, entry=i) if isinstance(e, str) else ExtraProbe(e[1], e[0], entry=i)
        for i, e in enumerate(entries, 1)
    )


def test_a_command_with_a_quoted_semicolon_is_one_plugin() -> None:
    probes = extra_probes(
        extras("""python3 -c 'import sys; print("OK - x"); sys.exit(0)'"""), timeout=5
    )
    (spec,) = probes.specs
    assert spec.command == ("python3", "-c", 'import sys; print("OK - x"); sys.exit(0)')
    assert spec.test == "python3"
    assert spec.problem == ""
    assert probes.problems == []


def test_an_unparsable_entry_is_its_own_unknown_and_costs_nothing_else() -> None:
    probes = extra_probes(extras("check_x 'unclosed", "check_ok -H a"), timeout=5)
    broken, fine = probes.specs
    assert broken.test == "x"
    assert "cannot parse the command line (no closing quotation)" in broken.problem
    assert fine.test == "ok"
    assert fine.problem == ""
    (problem,) = probes.problems
    assert problem.severity == "error"
    assert problem.key == "[probes] extra #1"


def test_same_executable_gives_distinct_stable_names() -> None:
    first = extra_probes(extras("check_http -H a", "check_http -H b", "/x/check_cvmfs"), 5)
    names = [spec.test for spec in first.specs]
    assert names[0] == "http"
    assert names[1].startswith("http-") and len(names[1]) == len("http-") + 6
    # a built-in keeps its name; the extra that would take it gets another
    assert names[2].startswith("cvmfs-")
    assert len(set(names) | set(BUILTIN_TESTS)) == len(names) + len(BUILTIN_TESTS)
    # the same command lines give the same names on every boot
    again = extra_probes(extras("check_http -H a", "check_http -H b", "/x/check_cvmfs"), 5)
    assert [spec.test for spec in again.specs] == names
    keys = {p.key for p in first.problems}
    assert keys == {"[probes] extra #2", "[probes] extra #3"}
    assert all("name it" in p.message for p in first.problems)


def test_names_are_distinct_after_reduction_to_metric_characters() -> None:
    probes = extra_probes(extras("/a/check_x+y", "/b/check_x_y"), 5)
    metrics = {metric_name("lhcb", spec.test) for spec in probes.specs}
    assert len(metrics) == 2


def test_explicit_names_win_and_bad_ones_fall_back() -> None:
    probes = extra_probes(
        extras(("squid-proxy", "check_squid -H a"), ("bad name", "check_tcp -p 1")), 5
    )
    assert [spec.test for spec in probes.specs] == ["squid-proxy", "tcp"]
    (problem,) = probes.problems
    assert problem.key == "[probes] extra #2"
    assert "'bad name' is not a test name" in problem.message


def test_an_exact_duplicate_runs_once() -> None:
    probes = extra_probes(extras("check_a -x", "check_a -x"), 5)
    assert [spec.test for spec in probes.specs] == ["a"]
    assert "same command line as entry #1" in probes.problems[0].message


def settings_with_critical(*names: str) -> Settings:
    return Settings(probes=ProbeSettings(critical=names))


def test_no_critical_list_means_the_four_builtins() -> None:
    critical, problems = critical_tests(settings_with_critical(), BUILTIN_TESTS)
    assert critical == BUILTIN_TESTS
    assert problems == []


def test_a_critical_name_that_is_no_test_is_reported() -> None:
    critical, problems = critical_tests(
        settings_with_critical("cvmfs", "cvmfss"), (*BUILTIN_TESTS, "squid")
    )
    assert critical == ("cvmfs",)
    (problem,) = problems
    assert "'cvmfss'" in problem.message
    # only unknown names: the shutdown is not silently switched off
    critical, problems = critical_tests(settings_with_critical("typo"), BUILTIN_TESTS)
    assert critical == BUILTIN_TESTS
    assert "four built-in tests are critical" in problems[0].message


def test_executable_problems(tmp_path) -> None:
    script = tmp_path / "check_a"
    script.write_text("#!/bin/sh\n")
    assert executable_problem([str(script)]) == f"{script}: not executable"
    script.chmod(0o755)
    assert executable_problem([str(script)]) == ""
    assert executable_problem([str(tmp_path / "nope")]).endswith("no such file")
    assert executable_problem(["no-such-plugin-anywhere"]).endswith("not found on PATH")
    assert executable_problem(["sh"]) == ""
