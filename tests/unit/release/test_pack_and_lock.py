from __future__ import annotations

from pathlib import Path

from packaging.version import Version

from venvpkg import records, series, sysdeps, targets
from venvpkg.config import Settings
from venvpkg.records import ReleaseRecord
from venvpkg.release import ReleaseRequest, pack, plan, requirements, resolve
from venvpkg.release.entries import Entry
from venvpkg.release.lock import lock_text
from venvpkg.workdir import ReleasePaths, Workdir

BOOKWORM = targets.lookup("bookworm")


def _plan() -> plan.ReleasePlan:
    data = requirements.RequirementsData("t", "stable/2025.2", "2026-05-05", "a===1\n", "", "", "")
    # No services: their closure would need the index.
    request = ReleaseRequest(series.lookup("2025.2"), BOOKWORM, services=())
    return plan.make_plan(request, data, Settings(workdir=Path("/x"), index_url="http://i/"))


def _packed(paths: ReleasePaths, version: str) -> None:
    deb = paths.debs / f"openstack-requirements-2025.2_{version}_amd64.deb"
    made = ReleaseRecord("bookworm", "2025.2", "r", version, deb, "", "", 2, paths.wheelhouse)
    records.write(paths.record, made)


def test_versions_rise_with_each_repack_and_name_the_debian_release(tmp_path: Path) -> None:
    made = _plan()
    paths = Workdir(tmp_path).release("bookworm", "2025.2")
    assert pack.next_version(made, paths) == "20260505.1+deb12"
    _packed(paths, "20260505.1+deb12")
    assert pack.next_version(made, paths) == "20260505.2+deb12"
    _packed(paths, "20250101.9+deb12")
    assert pack.next_version(made, paths) == "20260505.1+deb12"


def test_lock_is_sorted_with_one_hash_per_wheel() -> None:
    entries = [
        Entry("zeta", Version("2"), sha256="b" * 64),
        Entry("alpha", Version("1.0"), sha256="a" * 64),
    ]
    lines = lock_text(entries).splitlines()
    assert lines[2:] == [
        "alpha==1.0 \\",
        f"    --hash=sha256:{'a' * 64}",
        "zeta==2 \\",
        f"    --hash=sha256:{'b' * 64}",
    ]


def test_bindep_profiles_of_the_target_not_the_host() -> None:
    text = (
        "libffi-dev [platform:dpkg]\nlibffi-devel [platform:rpm]\ngawk [test]\n"
        "pypy3 [platform:debian-bookworm]\npypy [platform:dpkg !platform:debian-bookworm]\n"
        "libvirt-dev [platform:dpkg] >=1.0\n"
    )
    assert sysdeps.build_dependencies(text, BOOKWORM) == [
        "libffi-dev",
        "libvirt-dev (>= 1.0)",
        "pypy3",
    ]
    assert "pypy" in sysdeps.build_dependencies(text, targets.lookup("trixie"))


def test_pip_compile_output_is_parsed_without_markers() -> None:
    text = (
        '# comment\nkeystonemiddleware==10.12.1 ; python_version >= "3.10"\nOslo.Config==10.0.0\n'
    )
    assert resolve.parse_compiled(text) == {
        "keystonemiddleware": Version("10.12.1"),
        "oslo-config": Version("10.0.0"),
    }
