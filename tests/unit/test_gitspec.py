from __future__ import annotations

from pathlib import Path

import pytest

from venvpkg import gitspec
from venvpkg.errors import CommandFailed


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        # openstack/requirements' branches hold a slash.
        (
            "https://opendev.org/openstack/requirements@stable/2025.2",
            ("https://opendev.org/openstack/requirements", "stable/2025.2"),
        ),
        ("https://opendev.org/openstack/nova", ("https://opendev.org/openstack/nova", None)),
        ("https://me@git.example/nova.git", ("https://me@git.example/nova.git", None)),
        ("https://me@git.example/nova.git@32.0.0", ("https://me@git.example/nova.git", "32.0.0")),
        ("file:///srv/req.git@master", ("file:///srv/req.git", "master")),
        ("git@github.com:o/nova.git", ("git@github.com:o/nova.git", None)),
        ("git@github.com:o/nova.git@stable/2025.2", ("git@github.com:o/nova.git", "stable/2025.2")),
        ("../nova.git@abc123", ("../nova.git", "abc123")),
        ("https://opendev.org/openstack/nova@", ("https://opendev.org/openstack/nova", None)),
    ],
)
def test_url_and_ref_are_split_where_git_and_pip_would(
    spec: str, expected: tuple[str, str | None]
) -> None:
    assert gitspec.parse(spec) == expected


@pytest.mark.parametrize("spec", ["nova-32.0.0.tar.gz", "./src/nova", "ftp://host/nova.git"])
def test_what_is_not_a_git_repository_is_left_to_the_caller(spec: str) -> None:
    assert gitspec.parse(spec) is None


def test_a_clone_failure_names_gits_reason_not_its_advice() -> None:
    tail = [
        "fatal: '/srv/missing.git' does not appear to be a git repository",
        "fatal: Could not read from remote repository.",
        "Please make sure you have the correct access rights",
        "and the repository exists.",
    ]
    error = CommandFailed("git failed (exit 128)", Path("/dev/null"), tail)
    assert (
        gitspec.clone_failure(error) == "'/srv/missing.git' does not appear to be a git repository"
    )
