from __future__ import annotations

from pathlib import Path

import pytest
from packaging.version import Version

from venvpkg import records, series, sysdeps, targets
from venvpkg.config import Settings
from venvpkg.errors import BuildFailed
from venvpkg.files import sha256_file
from venvpkg.records import ReleaseRecord
from venvpkg.release import ReleaseRequest, lock, pack, plan, requirements, resolve
from venvpkg.release.entries import Entry
from venvpkg.release.lock import lock_text
from venvpkg.workdir import ReleasePaths, Workdir

BOOKWORM = targets.lookup("bookworm")


@pytest.fixture(autouse=True)
def _no_installer_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    # These plans are decided from pins alone. Whether the index has uv's wheel is the
    # integration tests' to check; here it was a lookup of an index that does not
    # exist, 15 s of retries per plan.
    monkeypatch.setattr(plan, "_installer", lambda settings, target: "")


def _plan() -> plan.ReleasePlan:
    data = requirements.RequirementsData("t", "stable/2025.2", "2026-05-05", "a===1\n", "", "", "")
    # No services: their closure would need the index.
    request = ReleaseRequest(series.lookup("2025.2"), BOOKWORM, services=())
    return plan.make_plan(request, data, Settings(workdir=Path("/x"), index_url="http://i/"))


def _packed(paths: ReleasePaths, version: str) -> None:
    deb = paths.debs / f"openstack-requirements-2025.2_{version}_amd64.deb"
    made = ReleaseRecord("bookworm", "2025.2", "r", version, deb, "", "", 2, paths.wheelhouse)
    records.write(paths.record, made)


def test_versions_rise_with_each_repack_and_name_the_content_and_debian_release(
    tmp_path: Path,
) -> None:
    made = _plan()
    paths = Workdir(tmp_path).release("bookworm", "2025.2")
    content = "3f2a9c1e" + "0" * 56
    assert pack.next_version(made, paths, content) == "20260505.1.3f2a9c1e+deb12"
    _packed(paths, "20260505.1.3f2a9c1e+deb12")
    assert pack.next_version(made, paths, content) == "20260505.2.3f2a9c1e+deb12"
    _packed(paths, "20250101.9.3f2a9c1e+deb12")
    assert pack.next_version(made, paths, content) == "20260505.1.3f2a9c1e+deb12"
    # Another wheelhouse packed as first in another workdir: not the same version.
    other = Workdir(tmp_path / "other").release("bookworm", "2025.2")
    assert pack.next_version(made, other, "a" * 64) == "20260505.1.aaaaaaaa+deb12"


def _wheelhouse(directory: Path) -> Path:
    directory.mkdir()
    entries = []
    for name, body in (("alpha", b"alpha wheel"), ("zeta", b"zeta wheel")):
        wheel = directory / f"{name}-1.0-py3-none-any.whl"
        wheel.write_bytes(body)
        entries.append(Entry(name, Version("1.0"), sha256=sha256_file(wheel)))  # type: ignore[arg-type]
    (directory / "requirements.lock").write_text(lock_text(entries))
    return directory


def test_a_wheel_changed_on_disk_is_refused_by_name(tmp_path: Path) -> None:
    wheelhouse = _wheelhouse(tmp_path / "wh")
    content = lock.verify(wheelhouse)
    assert len(content) == 64 and content == lock.verify(wheelhouse)
    changed = wheelhouse / "zeta-1.0-py3-none-any.whl"
    changed.write_bytes(b"zeta wheel, altered in place")
    with pytest.raises(BuildFailed) as refused:
        lock.verify(wheelhouse)
    assert [line.split(":")[0] for line in refused.value.details] == [str(changed)]


def test_two_wheelhouses_share_a_content_digest_only_when_identical(tmp_path: Path) -> None:
    first = lock.verify(_wheelhouse(tmp_path / "one"))
    assert lock.verify(_wheelhouse(tmp_path / "two")) == first
    third = _wheelhouse(tmp_path / "three")
    (third / "missing.txt").write_text("x==1: no wheel\n")
    assert lock.verify(third) != first


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
