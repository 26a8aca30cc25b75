"""The stages' tables of venvpkg.toml, checked and typed when the file is read."""

from __future__ import annotations

from pathlib import Path

import pytest

from venvpkg import builder
from venvpkg.config import Settings, load_settings
from venvpkg.errors import DataError, UsageError


def _settings(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> Settings:
    config = tmp_path / "venvpkg.toml"
    config.write_text(text)
    return load_settings({"config_file": str(config)}, environ or {})


def test_chroot_age_setting_must_be_a_number(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="max-age-days"):
        _settings(tmp_path, '[chroot]\nmax-age-days = "weekly"\n')
    settings = _settings(tmp_path, '[chroot]\nmirror = "http://m/debian/"\n')
    assert (settings.chroot.mirror, settings.chroot.max_age_days) == ("http://m/debian", 7.0)


def test_the_environment_names_the_mirror_over_the_file(tmp_path: Path) -> None:
    # README's order is defaults < venvpkg.toml < environment < command line.
    environ = {"VENVPKG_MIRROR": "http://env/debian"}
    settings = _settings(tmp_path, '[chroot]\nmirror = "http://file/debian"\n', environ)
    assert settings.chroot.mirror == "http://env/debian"


def test_lintian_allowances_need_a_reason(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="embedded-library has no reason"):
        _settings(tmp_path, '[lintian.allow]\nembedded-library = " "\n')
    settings = _settings(tmp_path, '[lintian.allow]\nembedded-library = "site policy"\n')
    assert builder.options(settings, "host", True).lintian_allow == {
        "embedded-library": "site policy"
    }
    with pytest.raises(UsageError, match="unknown backend"):
        _settings(tmp_path, '[build]\nbackend = "docker"\n')
