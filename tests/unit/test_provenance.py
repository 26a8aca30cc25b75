"""Which PyPI project a deliverable is: its metadata must point at its repository."""

from __future__ import annotations

from email.message import Message

import pytest

from venvpkg import projects, provenance, series


def _metadata(**fields: str | list[str]) -> Message:
    message = Message()
    for name, value in fields.items():
        for one in value if isinstance(value, list) else [value]:
            message[name.replace("_", "-")] = one
    return message


@pytest.mark.parametrize(
    "fields",
    [
        {"Project_URL": "Source Code, https://opendev.org/openstack/watcher"},
        {
            "Project_URL": [
                "Bugs, https://bugs.launchpad.net/watcher",
                "Repository, https://opendev.org/openstack/watcher.git",
            ]
        },
        {"Home_page": "https://github.com/openstack/watcher/"},
        # Queens-era pbr metadata names only the documentation, older still its old path.
        {"Home_page": "https://docs.openstack.org/watcher/latest/"},
        {"Home_page": "http://docs.openstack.org/developer/watcher/"},
    ],
)
def test_metadata_pointing_at_the_repository_is_the_deliverable(fields: dict[str, str]) -> None:
    assert provenance.names_repository(_metadata(**fields), ("openstack/watcher",))


@pytest.mark.parametrize(
    "fields",
    [
        {},  # PyPI's `watcher`: no URL at all
        {"Home_page": "http://github.com/arkx/adjutant/"},
        {"Home_page": "https://opendev.org/openstack/watcher-dashboard"},
        {"Home_page": "https://docs.openstack.org/watcher-tempest-plugin/latest/"},
        {"Home_page": "https://opendev.org.evil.example/openstack/watcher"},
    ],
)
def test_look_alikes_are_not(fields: dict[str, str]) -> None:
    assert not provenance.names_repository(_metadata(**fields), ("openstack/watcher",))


def test_deliverables_carry_their_repositories_and_pypi_candidates() -> None:
    flamingo = series.lookup("2025.2")
    (watcher,) = projects.project_pins(flamingo, ["watcher"])
    assert watcher.repos == ("openstack/watcher",)
    assert provenance.candidates(watcher) == [
        "python-watcher",
        "watcher",
        "openstack-watcher",
    ]
    (site_own,) = projects.project_pins(flamingo, ["fixsvc==1.0"])
    assert site_own.repos == ()


def test_openstacks_mailing_list_as_author_counts_a_strangers_address_does_not() -> None:
    """Older releases name only www.openstack.org; pbr writes the list as the author."""
    generic = {"Home_page": "https://www.openstack.org/"}
    openstack = _metadata(**generic, Author_email="openstack-discuss@lists.openstack.org")
    assert provenance.published_by_openstack(openstack, ("openstack/aetos",))
    stranger = _metadata(
        Home_page="http://github.com/arkx/adjutant/", Author_email="aku@example.org"
    )
    assert not provenance.published_by_openstack(stranger, ("openstack/adjutant",))
