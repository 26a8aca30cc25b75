"""Debian's formats through python-debian: what apt, dpkg and reprepro would read back."""

from __future__ import annotations

import gzip
import subprocess
from pathlib import Path

import pytest

from venvpkg import debformats
from venvpkg.errors import DataError


def test_a_changelog_is_dated_by_the_epoch_with_one_bullet_per_change() -> None:
    text = debformats.changelog(
        "venv-x", "90:1.0-1+deb12", "bookworm", "m <m@example.org>",
        ["short", "first line,\ncontinued"], 1767225600,
    )  # fmt: skip
    lines = text.splitlines()
    assert lines[0] == "venv-x (90:1.0-1+deb12) bookworm; urgency=medium"
    assert lines[-1] == " -- m <m@example.org>  Thu, 01 Jan 2026 00:00:00 +0000"
    assert lines[2:5] == ["  * short", "  * first line,", "    continued"]


def test_a_deb_tells_its_package_version_and_architecture(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        "Package: venv-x\nVersion: 90:1.0-1+deb12\nArchitecture: amd64\n"
        "Maintainer: t <t@example.org>\nDescription: test\n"
    )
    deb = tmp_path / "x.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-b", str(root), str(deb)], check=True)
    assert debformats.deb_fields(deb) == ("venv-x", "90:1.0-1+deb12", "amd64")
    (tmp_path / "not.deb").write_text("text")
    with pytest.raises(DataError, match="is not a Debian package"):
        debformats.deb_fields(tmp_path / "not.deb")


def test_names_come_from_a_gzipped_or_plain_index() -> None:
    index = b"Package: venv-x\nVersion: 1\n\nPackage: x-api\nVersion: 1\n"
    assert debformats.index_names(gzip.compress(index)) == {"venv-x", "x-api"}
    assert debformats.index_names(index) == {"venv-x", "x-api"}
    assert debformats.index_names(b"") == set()


def test_distributions_written_then_read_give_their_codenames(tmp_path: Path) -> None:
    stanzas = [
        {"Origin": "venvpkg", "Codename": "bookworm-2025.2"},
        {"Origin": "venvpkg", "Codename": "bookworm-2025.2-staging"},
    ]
    conf = tmp_path / "distributions"
    conf.write_text(debformats.stanzas_text(stanzas))
    assert conf.read_text().count("\n\n") == 1  # one blank line between stanzas
    read = [dict(s) for s in debformats.read_stanzas(conf)]
    assert read == stanzas
    assert debformats.read_stanzas(tmp_path / "absent") == []


def test_a_requirements_commit_day_is_its_epoch_at_midnight_utc() -> None:
    assert debformats.day_epoch("2026-05-05") == 1777939200
