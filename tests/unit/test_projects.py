"""Which release of a project is built, as the bundled data and the index say."""

from __future__ import annotations

import dataclasses

from packaging.version import Version

from venvpkg import projects, series


def test_a_release_newer_than_the_data_is_said_and_the_datas_own_is_not() -> None:
    chosen = series.lookup("2025.2")
    (keystone,) = projects.project_pins(chosen, ["keystone"])
    assert not keystone.requested
    assert projects.newer_than_data(chosen, keystone) == ""
    newer = dataclasses.replace(keystone, version=Version(f"{keystone.version.major}.99.0"))
    assert projects.newer_than_data(chosen, newer) == (
        f"keystone {newer.version} is on the index, newer than {keystone.version} in venvpkg's "
        f"openstack/releases data for {chosen.label}: building {newer.version}"
    )
    (asked,) = projects.project_pins(chosen, [f"keystone=={keystone.version}"])
    assert asked.requested


def test_a_series_version_line_is_its_major_version_unless_neighbours_share_it() -> None:
    chosen = series.lookup("2025.2")
    (keystone,) = projects.project_pins(chosen, ["keystone"])
    assert projects.version_line(chosen, keystone) == (keystone.version.major,)
    # horizon numbers each series by its minor version: 25.x spans several series.
    (horizon,) = projects.project_pins(chosen, ["horizon"])
    assert projects.version_line(chosen, horizon) == horizon.version.release[:2]
