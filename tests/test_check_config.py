"""``vmsam check-config`` as an image builder runs it: one line per problem naming its key,
exit 0 when the hook would run as written, 1 for warnings only, 2 for errors."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import yaml

from tests.test_publisher import PKI

BIN = Path(sys.executable).parent
EXAMPLE = Path(__file__).parent.parent / "examples" / "user_data.yaml"


def check_config(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "vmsam"), "check-config", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def lines_about(done: subprocess.CompletedProcess[str], key: str) -> list[str]:
    return [line for line in done.stdout.splitlines() if f" {key}: " in line]


def example_config(tmp_path: Path) -> Path:
    (entry,) = yaml.safe_load(EXAMPLE.read_text())["write_files"]
    config = tmp_path / "vmsam.toml"
    config.write_text(entry["content"])
    return config


def test_the_shipped_example_is_clean_and_its_patterns_are_listed(tmp_path: Path) -> None:
    done = check_config(example_config(tmp_path))
    assert done.returncode == 0, done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    patterns = [line for line in done.stdout.splitlines() if line.startswith("pattern: ")]
    assert any("[vm] space: ##user_data_space## left for Vac/Vcycle" in p for p in patterns)
    assert any("[broker] urls: ##user_data_option_vmsam_broker##" in p for p in patterns)
    assert done.stdout.splitlines()[-1].endswith(
        "0 error(s), 0 warning(s), 13 pattern(s) left for Vac/Vcycle"
    )


def test_warnings_only_exit_1(tmp_path: Path) -> None:
    config = tmp_path / "vmsam.toml"
    config.write_text(
        '[vm]\nvo = "lhcb"\ncolour = "red"\n[broker]\nurls = ["mq:61613"]\ncert = "/x"\n'
        '[probes]\ncritical = ["cvmfss"]\n[futur]\nx = 1\n'
    )
    done = check_config(config)
    assert done.returncode == 1, done.stdout
    assert lines_about(done, "[vm] colour") == [
        f"warning: {config}: [vm] colour: unknown key, ignored"
    ]
    assert lines_about(done, "[futur]")
    assert "unused while [broker] ssl is false" in lines_about(done, "[broker] cert")[0]
    assert "'cvmfss'" in lines_about(done, "[probes] critical")[0]


def test_errors_exit_2_each_on_one_line_naming_its_key(tmp_path: Path) -> None:
    plugin = tmp_path / "check_here"
    plugin.write_text("#!/bin/sh\necho OK\n")
    plugin.chmod(plugin.stat().st_mode | stat.S_IXUSR)
    not_executable = tmp_path / "check_flat"
    not_executable.write_text("#!/bin/sh\n")
    config = tmp_path / "vmsam.toml"
    config.write_text(
        f"""
        [vm]
        vo = "lhcb"
        [sampling]
        fraction = 2
        [probes]
        timeout = "soon"
        extra = ["{plugin} -x", "check_nowhere_to_be_found", "{not_executable}", "x 'open",
                 "{plugin} -y"]
        [broker]
        urls = ["mq1:61613", "mq2", "[::1]:99999"]
        ssl = true
        cert = "{tmp_path}/absent.pem"
        ca_dir = "{tmp_path}"
        """
    )
    done = check_config(config)
    assert done.returncode == 2, done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    assert "[0, 1]" in lines_about(done, "[sampling] fraction")[0]
    assert "the default 30 applies" in lines_about(done, "[probes] timeout")[0]
    assert lines_about(done, "[probes] extra #1") == []
    assert "not found on PATH" in lines_about(done, "[probes] extra #2")[0]
    assert "not executable" in lines_about(done, "[probes] extra #3")[0]
    assert "cannot parse the command line" in lines_about(done, "[probes] extra #4")[0]
    assert "test name 'here' is taken" in lines_about(done, "[probes] extra #5")[0]
    assert "'mq2' is not host:port" in lines_about(done, "[broker] urls #2")[0]
    assert lines_about(done, "[broker] urls #3")
    assert "no such file" in lines_about(done, "[broker] cert")[0]
    assert all(
        line.split(": ")[0] in {"error", "warning", "pattern"}
        for line in done.stdout.splitlines()[:-1]
    )


def test_usable_tls_files_pass_and_unusable_ones_are_named(tmp_path: Path) -> None:
    pki = PKI(tmp_path / "pki")
    config = tmp_path / "vmsam.toml"
    body = (
        '[vm]\nvo = "lhcb"\n[broker]\nurls = ["mq:6162"]\nssl = true\n'
        'cert = "{cert}"\nca_file = "{ca}"\n'
    )
    config.write_text(body.format(cert=pki.proxy, ca=pki.ca_file))
    done = check_config(config)
    assert done.returncode == 0, done.stdout
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    config.write_text(body.format(cert=garbage, ca=pki.ca_file))
    done = check_config(config)
    assert done.returncode == 2, done.stdout
    assert "TLS settings of [broker] do not work" in lines_about(done, "[broker]")[0]


def test_a_broken_file_is_one_error(tmp_path: Path) -> None:
    config = tmp_path / "vmsam.toml"
    config.write_text("[vm\n")
    done = check_config(config)
    assert done.returncode == 2
    assert f"error: {config}: not valid TOML" in done.stdout
    done = check_config(tmp_path / "absent.toml")
    assert done.returncode == 2
    assert "no such file" in done.stdout
