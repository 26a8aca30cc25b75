"""A deliverable's PyPI project is found by its metadata, on the tests' own index."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.version import Version

from venvpkg import provenance
from venvpkg.errors import UsageError
from venvpkg.files import Store
from venvpkg.index import Index
from venvpkg.projects import ProjectPin


def _verify(name: str, index_url: str, tmp_path: Path) -> ProjectPin:
    pin = ProjectPin(name, name, Version("1.0"), (f"openstack/{name}",))
    index = Index(index_url, tmp_path / "index")
    return provenance.verified(pin, index, Store(tmp_path / "store"), tmp_path / "provenance")


def test_the_project_naming_the_repository_wins_over_a_look_alike(
    index_url: str, tmp_path: Path
) -> None:
    # The index has `fixwatch` (someone else's) and `python-fixwatch` (the deliverable's).
    assert _verify("fixwatch", index_url, tmp_path).pypi_name == "python-fixwatch"
    # Remembered: a re-run asks the index nothing.
    assert _verify("fixwatch", "http://127.0.0.1:9/simple/", tmp_path).pypi_name == (
        "python-fixwatch"
    )


def test_only_look_alikes_are_refused_by_name(index_url: str, tmp_path: Path) -> None:
    with pytest.raises(UsageError) as refused:
        _verify("fixvenus", index_url, tmp_path)
    assert "refused look-alikes: fixvenus (names no home page)" in str(refused.value)
    assert "opendev.org/openstack/fixvenus" in str(refused.value)
    assert not (tmp_path / "provenance" / "fixvenus-1.0.json").exists()


def test_the_newest_release_of_the_same_major_version_on_the_index_is_built(
    index_url: str, tmp_path: Path
) -> None:
    """A point release the bundled data does not know yet (fixlib-a 1.1) is built; another
    major version (fixture-backend 2.0) is another series'; NAME==VERSION stays."""
    index = Index(index_url, tmp_path / "index")

    def newest(name: str, requested: bool = False, line: tuple[int, ...] = (1,)) -> Version:
        pin = ProjectPin(name, name, Version("1.0"), (f"openstack/{name}",), requested)
        return provenance.newest_release(pin, index, line).version

    assert index.versions("fixlib-a") == [Version("1.1"), Version("1.0")]
    assert newest("fixlib-a") == Version("1.1")
    assert newest("fixlib-a", line=(1, 0)) == Version("1.0")  # 1.1 is the next series'
    assert newest("fixlib-a", requested=True) == Version("1.0")
    assert newest("fixture-backend") == Version("1.0")
    assert newest("fixnothing") == Version("1.0")  # not on the index: the data's, as before
