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
