"""The configuration file: Vac/Vcycle patterns, strings standing for other types, errors."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from vmsam.shared.config import (
    DEFAULT_DESTINATION,
    ConfigError,
    Destination,
    Settings,
    load_settings,
    read_settings,
    with_overrides,
)

NO_ENV: dict[str, str] = {}


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "vmsam.toml"
    path.write_text(text)
    return str(path)


def load(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> Settings:
    return load_settings(write(tmp_path, text), environ=NO_ENV if environ is None else environ)


def commands(settings: Settings) -> tuple[str, ...]:
    return tuple(extra.command for extra in settings.probes.extra)


def test_a_full_file_is_read_into_every_section(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        """
        [vm]
        space = "vac01.example.org"
        vo = "lhcb"
        [sampling]
        fraction = 0.5
        [paths]
        scratch = "/tmp/scratch"
        joboutputs_dirs = ["/a", "/b"]
        [discovery]
        network = false
        [probes]
        timeout = 10
        budget = 60.5
        repositories = ["lhcb.cern.ch", "grid.cern.ch"]
        extra = ["/usr/lib64/nagios/plugins/check_squid -H x", "check_foo"]
        critical = ["cvmfs"]
        [broker]
        urls = ["mq1:61613", "mq2:61613"]
        ssl = true
        [consumer]
        db = "sqlite:///x.db"
        [outputs]
        shutdown_on_critical = true
        [api]
        token = "secret"
        """,
    )
    assert settings.vm.space == "vac01.example.org"
    assert settings.vm.vo == "lhcb"
    assert settings.sampling.fraction == 0.5
    assert settings.paths.scratch == "/tmp/scratch"
    assert settings.paths.joboutputs_dirs == ("/a", "/b")
    assert settings.discovery.network is False
    assert settings.probes.timeout == 10.0
    assert isinstance(settings.probes.timeout, float)
    assert settings.probes.budget == 60.5
    assert settings.probes.repositories == ("lhcb.cern.ch", "grid.cern.ch")
    assert commands(settings) == ("/usr/lib64/nagios/plugins/check_squid -H x", "check_foo")
    assert settings.probes.critical == ("cvmfs",)
    assert settings.broker.urls == ("mq1:61613", "mq2:61613")
    assert settings.broker.ssl is True
    assert settings.broker.destination == DEFAULT_DESTINATION
    assert settings.consumer.db == "sqlite:///x.db"
    assert settings.outputs.shutdown_on_critical is True
    assert settings.api.token == "secret"


def test_unsubstituted_patterns_and_empty_values_mean_not_supplied(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        """
        [vm]
        space = "##user_data_space##"
        uuid = ""
        machinetype = "  "
        site = "prefix-##user_data_site##"
        vo = "##user_data_option_vo##"
        [sampling]
        fraction = "##user_data_option_vmsam_fraction##"
        [probes]
        timeout = ""
        repositories = ["##user_data_option_repo##"]
        [broker]
        urls = "##user_data_option_brokers##"
        ssl = "##user_data_option_ssl##"
        destination = ""
        [paths]
        joboutputs = "##user_data_joboutputs_url##"
        """,
    )
    assert settings == Settings()


def test_substituted_values_arrive_as_strings_and_are_coerced(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        """
        [sampling]
        fraction = " 0.1 "
        [probes]
        timeout = "15"
        repositories = "lhcb.cern.ch, grid.cern.ch  sft.cern.ch"
        critical = "cvmfs,scratch"
        extra = "check_squid -H a,b -w 1; /opt/check_foo --x"
        [broker]
        urls = "mq1:61613 mq2:61613,mq3:61614"
        ssl = "TRUE"
        [outputs]
        shutdown_on_critical = "no"
        [discovery]
        network = "0"
        """,
    )
    assert settings.sampling.fraction == 0.1
    assert settings.probes.timeout == 15.0
    assert settings.probes.repositories == ("lhcb.cern.ch", "grid.cern.ch", "sft.cern.ch")
    assert settings.probes.critical == ("cvmfs", "scratch")
    # command lines keep their spaces and commas; ';' separates them
    assert commands(settings) == ("check_squid -H a,b -w 1", "/opt/check_foo --x")
    assert settings.broker.urls == ("mq1:61613", "mq2:61613", "mq3:61614")
    assert settings.broker.ssl is True
    assert settings.outputs.shutdown_on_critical is False
    assert settings.discovery.network is False


def test_list_elements_are_split_and_unsubstituted_ones_dropped(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        """
        [broker]
        urls = ["mq1:61613, mq2:61613", "##user_data_option_third##", ""]
        """,
    )
    assert settings.broker.urls == ("mq1:61613", "mq2:61613")


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ('[sampling]\nfraction = "abc"', "[sampling] fraction", "expected a number"),
        ("[sampling]\nfraction = 1.5", "[sampling] fraction", "[0, 1]"),
        ('[sampling]\nfraction = "-0.1"', "[sampling] fraction", "[0, 1]"),
        ('[sampling]\nfraction = "nan"', "[sampling] fraction", "finite"),
        ("[sampling]\nfraction = true", "[sampling] fraction", "expected a number"),
        ("[probes]\ntimeout = 0", "[probes] timeout", "> 0"),
        ('[probes]\nbudget = "-5"', "[probes] budget", "> 0"),
        ('[broker]\nssl = "maybe"', "[broker] ssl", "true or false"),
        ("[broker]\nssl = 1", "[broker] ssl", "true or false"),
        ("[broker]\nurls = 5", "[broker] urls", "a list or a string"),
        ("[broker]\nurls = [1, 2]", "[broker] urls #1", "expected a string"),
        ('[broker]\nurls = ["mq"]', "[broker] urls #1", "not host:port"),
        ("[vm]\nspace = true", "[vm] space", "expected a string"),
        ("[vm]\nspace = [1]", "[vm] space", "expected a string"),
        ("[vm]\nspace = { a = 1 }", "[vm] space", "a table"),
        ('vm = "x"', "[vm]", "expected a table"),
    ],
)
def test_garbage_is_a_config_error_naming_file_and_key(
    tmp_path: Path, text: str, key: str, reason: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ=NO_ENV)
    message = str(caught.value)
    assert message.startswith(f"{path}: {key}: ")
    assert reason in message
    assert "\n" not in message
    assert caught.value.key == key


def test_not_toml_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, "[vm\nspace = ")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(path, environ=NO_ENV)
    (tmp_path / "vmsam.toml").write_bytes(b'[vm]\nspace = "\xff"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_settings(path, environ=NO_ENV)


def test_missing_default_file_gives_defaults(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("vmsam.shared.config.DEFAULT_CONFIG", str(tmp_path / "absent.toml"))
    assert load_settings(environ=NO_ENV) == Settings()
    # an empty $VMSAM_CONFIG names no file
    assert load_settings(environ={"VMSAM_CONFIG": ""}) == Settings()


def test_present_default_file_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("vmsam.shared.config.DEFAULT_CONFIG", write(tmp_path, '[vm]\nvo = "atlas"'))
    assert load_settings(environ=NO_ENV).vm.vo == "atlas"


def test_missing_named_file_is_an_error(tmp_path: Path) -> None:
    absent = str(tmp_path / "absent.toml")
    with pytest.raises(ConfigError, match="no such file"):
        load_settings(absent, environ=NO_ENV)
    with pytest.raises(ConfigError, match="no such file"):
        load_settings(environ={"VMSAM_CONFIG": absent})
    with pytest.raises(ConfigError, match="is a directory"):
        load_settings(str(tmp_path), environ=NO_ENV)


def test_path_argument_wins_over_vmsam_config(tmp_path: Path) -> None:
    from_env = tmp_path / "env.toml"
    from_env.write_text('[vm]\nvo = "cms"')
    named = write(tmp_path, '[vm]\nvo = "atlas"')
    assert load_settings(environ={"VMSAM_CONFIG": str(from_env)}).vm.vo == "cms"
    assert load_settings(named, environ={"VMSAM_CONFIG": str(from_env)}).vm.vo == "atlas"


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    text = '[consumer]\ndb = "sqlite:///file.db"\n[api]\ntoken = "from-file"'
    settings = load(
        tmp_path, text, {"VMSAM_DB": "postgresql://h/db", "VMSAM_API_TOKEN": "from-env"}
    )
    assert settings.consumer.db == "postgresql://h/db"
    assert settings.api.token == "from-env"
    # empty variables are not supplied
    settings = load(tmp_path, text, {"VMSAM_DB": "", "VMSAM_API_TOKEN": ""})
    assert settings.consumer.db == "sqlite:///file.db"
    assert settings.api.token == "from-file"


def test_flags_override_the_environment(tmp_path: Path) -> None:
    settings = load(tmp_path, "", {"VMSAM_DB": "postgresql://h/db"})
    flagged = with_overrides(settings, consumer={"db": "sqlite:///flag.db"}, sampling={})
    assert flagged.consumer.db == "sqlite:///flag.db"
    # None is a flag not given
    assert with_overrides(settings, consumer={"db": None}).consumer.db == "postgresql://h/db"
    assert with_overrides(settings, sampling={"fraction": "1"}).sampling.fraction == 1.0
    with pytest.raises(ConfigError, match=r"^command line: \[sampling\] fraction: "):
        with_overrides(settings, sampling={"fraction": "2"})
    with pytest.raises(TypeError, match="no such setting"):
        with_overrides(settings, consumer={"dbs": "x"})


def test_unknown_sections_and_keys_are_tolerated_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="vmsam.shared.config"):
        settings = load(
            tmp_path,
            '[future]\nx = 1\n[vm]\nvo = "lhcb"\ncolour = "blue"\n[vm.nested]\ny = 2',
        )
    assert settings.vm.vo == "lhcb"
    warnings = [r.getMessage() for r in caplog.records]
    assert any("[future]" in w for w in warnings)
    assert any("colour" in w for w in warnings)
    assert any("nested" in w for w in warnings)


def test_settings_are_immutable_and_overrides_copy(tmp_path: Path) -> None:
    settings = load(tmp_path, '[vm]\nvo = "lhcb"')
    changed = with_overrides(settings, vm={"vo": "cms"})
    assert settings.vm.vo == "lhcb"
    assert changed.vm.vo == "cms"


# Lenient reading (the VM side): one bad value costs only its key


def read(tmp_path: Path, text: str, **kwargs: object):
    from vmsam.shared.config import read_settings

    return read_settings(write(tmp_path, text), environ=NO_ENV, **kwargs)  # type: ignore[arg-type]


def test_a_bad_value_falls_back_to_its_default_and_the_rest_is_used(tmp_path: Path) -> None:
    configuration = read(
        tmp_path,
        '[vm]\nvo = "lhcb"\n[probes]\ntimeout = "soon"\nbudget = 50\n[sampling]\nfraction = 7',
    )
    settings = configuration.settings
    assert settings.vm.vo == "lhcb"
    assert settings.probes.budget == 50.0
    assert settings.probes.timeout == Settings().probes.timeout
    assert settings.sampling.fraction == Settings().sampling.fraction
    errors = {p.key: p.message for p in configuration.errors}
    assert errors["[probes] timeout"] == "expected a number, got 'soon'; the default 30 applies"
    assert "the default 0.25 applies" in errors["[sampling] fraction"]
    assert configuration.unusable == ""
    assert all("\n" not in str(p) for p in configuration.problems)


def test_sections_the_vm_does_not_read_cannot_affect_it(tmp_path: Path) -> None:
    from vmsam.shared.config import VM_SECTIONS

    text = '[vm]\nvo = "lhcb"\n[consumer]\ndb = 5\n[api]\ntoken = ["x"]\n'
    configuration = read(tmp_path, text, sections=VM_SECTIONS)
    assert configuration.problems == ()
    assert configuration.settings.vm.vo == "lhcb"
    # a table that is no table is also only about itself
    configuration = read(
        tmp_path, 'consumer = 5\napi = "x"\n[vm]\nvo = "lhcb"', sections=VM_SECTIONS
    )
    assert configuration.problems == ()
    # the server side reads them, strictly
    with pytest.raises(ConfigError, match=r"\[api\] token"):
        load(tmp_path, text)


def test_one_bad_list_entry_costs_only_itself(tmp_path: Path) -> None:
    configuration = read(
        tmp_path,
        '[broker]\nurls = ["mq1:61613", "no port", 5, "mq2:61613"]\n'
        '[probes]\nextra = ["check_a -x", 7, {command = "check_b", name = "bee"}, {cmd = "x"}]',
    )
    settings = configuration.settings
    assert settings.broker.urls == ("mq1:61613", "mq2:61613")
    assert [(e.command, e.name, e.entry) for e in settings.probes.extra] == [
        ("check_a -x", "", 1),
        ("check_b", "bee", 3),
    ]
    keys = sorted(p.key for p in configuration.errors)
    assert keys == [
        "[broker] urls #2",
        "[broker] urls #3",
        "[probes] extra #2",
        "[probes] extra #4",
    ]


def test_unreadable_or_broken_files_are_unusable_not_fatal(tmp_path: Path) -> None:
    from vmsam.shared.config import read_settings

    broken = read(tmp_path, "[vm\nvo = ")
    assert broken.unusable.startswith("not valid TOML")
    assert broken.settings == Settings()
    missing = read_settings(str(tmp_path / "absent.toml"), environ=NO_ENV)
    assert missing.unusable == "no such file"
    assert [p.severity for p in missing.problems] == ["error"]


def test_unknown_keys_and_patterns_are_listed(tmp_path: Path) -> None:
    configuration = read(
        tmp_path, '[vm]\nspace = "##user_data_space##"\ncolor = "x"\n[futur]\na = 1'
    )
    found = {(p.severity, p.key) for p in configuration.problems}
    assert found == {
        ("pattern", "[vm] space"),
        ("warning", "[vm] color"),
        ("warning", "[futur]"),
    }


def test_settings_that_would_do_nothing_are_said(tmp_path: Path) -> None:
    configuration = read(
        tmp_path,
        '[broker]\ncert = "/p"\nca_dir = "/c"\npassword = "x"\n'
        '[discovery]\nnetwork = false\nvac_url = "http://x"\n'
        "[probes]\ntimeout = 60\nbudget = 30\n",
    )
    warned = {p.key for p in configuration.warnings}
    assert warned == {
        "[broker] cert",
        "[broker] ca_dir",
        "[broker] password",
        "[discovery] vac_url",
        "[probes] timeout",
    }


@pytest.mark.parametrize(
    ("text", "commands"),
    [
        ("a; b", ["a", "b"]),
        ("a\nb", ["a", "b"]),
        ("sh -c 'x; y'; z", ["sh -c 'x; y'", "z"]),
        ('p -c "a; \\"b; c\\""; q', ['p -c "a; \\"b; c\\""', "q"]),
        (r"a \; b", [r"a \; b"]),
        ("a 'unclosed; b", ["a 'unclosed; b"]),
    ],
)
def test_one_string_of_commands_splits_outside_quotes(text: str, commands: list[str]) -> None:
    from vmsam.shared.config import split_commands

    assert split_commands(text) == commands


def test_destinations_are_tables_or_strings_each_with_its_format(tmp_path: Path) -> None:
    text = """[broker]
destination = "/queue/old"
destinations = [
  { name = "/topic/sam.vmsam.metrics" },
  { name = "/topic/monit.etf", format = "MONIT" },
  "monit:/queue/monit.copy",
  "/queue/plain",
]
"""
    broker = load(tmp_path, text).broker
    assert broker.targets() == (
        Destination("/topic/sam.vmsam.metrics", "wlcg"),
        Destination("/topic/monit.etf", "monit"),
        Destination("/queue/monit.copy", "monit"),
        Destination("/queue/plain", "wlcg"),
    )


def test_without_destinations_the_one_destination_is_published_as_wlcg(tmp_path: Path) -> None:
    broker = load(tmp_path, '[broker]\ndestination = "/queue/old"\n').broker
    assert broker.targets() == (Destination("/queue/old", "wlcg"),)


def test_a_bad_destination_is_dropped_alone_with_its_reason(tmp_path: Path) -> None:
    text = """[broker]
destinations = [
  { name = "/topic/a", format = "xml" },
  { name = "/topic/b", colour = "red" },
  { format = "monit" },
  42,
  { name = "/topic/ok", format = "monit" },
  { name = "/topic/ok", format = "monit" },
]
"""
    configuration = read_settings(write(tmp_path, text), environ=NO_ENV)
    assert configuration.settings.broker.targets() == (Destination("/topic/ok", "monit"),)
    reasons = {p.key: p.message for p in configuration.errors}
    assert "format: expected one of wlcg, monit, got 'xml'" in reasons["[broker] destinations #1"]
    assert "unknown key(s) colour" in reasons["[broker] destinations #2"]
    assert "needs name" in reasons["[broker] destinations #3"]
    assert "expected a table or a string, got 42" in reasons["[broker] destinations #4"]
    assert "listed already" in reasons["[broker] destinations #6"]
    with pytest.raises(ConfigError, match=r"\[broker\] destinations #1: format"):
        load_settings(write(tmp_path, text), environ=NO_ENV)
