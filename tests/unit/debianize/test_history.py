"""DEP-14 tag names, and a --git directory that is not a repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from venvpkg.debianize import history
from venvpkg.errors import UsageError


@pytest.mark.parametrize(
    ("version", "tag"),
    [
        ("90:28.1.0-1+deb13", "debian/90%28.1.0-1+deb13"),
        ("90:28.0.0~rc1-2+deb12", "debian/90%28.0.0_rc1-2+deb12"),
        ("1.0..1-1", "debian/1.0.#.1-1"),
        ("1.0.", "debian/1.0.#"),
        ("1.lock", "debian/1.#lock"),
    ],
)
def test_tags_are_named_as_git_buildpackage_names_them(version: str, tag: str) -> None:
    assert history.tag_name(version) == tag


def test_a_directory_that_is_not_a_repository_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine\n")
    with pytest.raises(UsageError, match="neither empty nor a git repository"):
        history.record(tmp_path, tmp_path, "bookworm-2025.2", tmp_path / "git.log")
