from __future__ import annotations

from pathlib import Path

import pytest

from venvpkg.config import load_settings
from venvpkg.errors import DataError, UsageError


def test_defaults_then_file_then_environment_then_flags(tmp_path: Path) -> None:
    config = tmp_path / "venvpkg.toml"
    config.write_text('[venvpkg]\nworkdir = "/from/file"\njobs = 3\nindex-url = "http://file/"\n')
    flags = {"config_file": str(config)}
    assert load_settings(flags, {}).workdir == Path("/from/file")
    env = {"VENVPKG_WORKDIR": "/from/env", "VENVPKG_JOBS": "5"}
    settings = load_settings(flags, env)
    assert (settings.workdir, settings.jobs, settings.index_url) == (
        Path("/from/env"),
        5,
        "http://file/",
    )
    settings = load_settings({**flags, "jobs": 7}, env)
    assert settings.jobs == 7


def test_bad_values_are_named(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="jobs must be at least 1"):
        load_settings({"jobs": 0}, {})
    config = tmp_path / "bad.toml"
    config.write_text("[venvpkg\n")
    with pytest.raises(DataError, match=r"bad\.toml"):
        load_settings({"config_file": str(config)}, {})
    config.write_text("[venvpkg]\nwrkdir = 1\n")
    with pytest.raises(DataError, match=r"unknown setting venvpkg\.wrkdir"):
        load_settings({"config_file": str(config)}, {})


def test_relative_workdir_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_settings({}, {}).workdir == tmp_path / "venvpkg-work"
    assert load_settings({"workdir": "w"}, {}).workdir == tmp_path / "w"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("venvpkg = 5\n", r"venvpkg must be a table"),
        ("[venvpkg]\njobs = true\n", r"venvpkg\.jobs = True must be an integer"),
        ("[venvpkg]\njobs = 2.7\n", r"venvpkg\.jobs = 2\.7 must be an integer"),
        ("[relase]\n", r"unknown table \[relase\]"),
        (
            "[build]\nbackned = 'host'\n",
            r"unknown setting build\.backned \(did you mean backend\?\)",
        ),
        (
            '[projects.keystone]\nextra-packages = "python-memcached"\n',
            r"projects\.keystone\.extra-packages = 'python-memcached' must be a list of strings",
        ),
        ("[projects]\nkeystone = 5\n", r"projects\.keystone must be a table"),
        ("[projects.nova]\npins = { oslo-db = 1 }\n", r"pins = .* must be a table of strings"),
    ],
)
def test_a_misshapen_config_file_names_the_table_and_key(
    tmp_path: Path, text: str, message: str
) -> None:
    # Each of these was accepted and misread later: "true" became 1 job, a string of
    # extra packages was read letter by letter.
    config = tmp_path / "venvpkg.toml"
    config.write_text(text)
    with pytest.raises(DataError, match=message):
        load_settings({"config_file": str(config)}, {})


def test_a_config_file_that_is_not_text_or_not_a_file_is_named(tmp_path: Path) -> None:
    config = tmp_path / "venvpkg.toml"
    config.write_bytes(b"[venvpkg]\njobs = \xff\n")
    with pytest.raises(DataError, match="is not UTF-8 text"):
        load_settings({"config_file": str(config)}, {})
    with pytest.raises(UsageError, match="Is a directory"):
        load_settings({"config_file": str(tmp_path)}, {})


def test_workdir_and_index_url_are_checked_and_home_expanded(tmp_path: Path) -> None:
    config = tmp_path / "venvpkg.toml"
    config.write_text('[venvpkg]\nworkdir = "~/vp-work"\n')
    assert load_settings({"config_file": str(config)}, {}).workdir == (Path.home() / "vp-work")
    with pytest.raises(UsageError, match="workdir is empty"):
        load_settings({"workdir": ""}, {})
    for url in ("5", "ftp://mirror/simple/", "https://"):
        with pytest.raises(UsageError, match="is not an http\\(s\\):// or file:// URL"):
            load_settings({"index_url": url}, {})
    assert (
        load_settings({"index_url": "file:///srv/simple/"}, {}).index_url == "file:///srv/simple/"
    )
