"""`venvpkg release` end to end: a local index, real pip builds, dpkg-buildpackage, lintian."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DATA, commit_tree, install_lock_offline, venvpkg

SERIES = "2025.2"
WHEELHOUSE = f"wheelhouse/bookworm-{SERIES}"
DEBS = f"debs/bookworm-{SERIES}"


def _lock(path: Path) -> dict[str, str]:
    """name -> sha256 from a requirements.lock."""
    names, found = [], {}
    for line in path.read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            names.append(line.split("==")[0])
        elif "--hash=sha256:" in line:
            found[names[-1]] = line.split("sha256:")[1].strip()
    return found


def _deb(workdir: Path) -> Path:
    debs = list((workdir / DEBS).glob("*.deb"))
    assert len(debs) == 1, debs
    return debs[0]


def _release_project(
    requirements: str | Path,
    project: str,
    workdir: Path,
    index_url: str,
    *flags: str,
    **kwargs: Any,
) -> subprocess.CompletedProcess[str]:
    """`venvpkg release` of one project's closure from `requirements`."""
    return venvpkg(
        "release",
        SERIES,
        "--requirements",
        str(requirements),
        "--projects",
        project,
        *flags,
        workdir=workdir,
        index=index_url,
        **kwargs,
    )


@pytest.fixture(scope="module")
def requirements_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("reqs") / "requirements"
    shutil.copytree(DATA / "requirements-2025.2", target)
    return target


@pytest.fixture(scope="module")
def released(
    index_url: str, requirements_copy: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """One cold release of the whole fixture series; tests below inspect or copy it."""
    workdir = tmp_path_factory.mktemp("work")
    venvpkg(
        "release",
        SERIES,
        "--requirements",
        str(requirements_copy),
        "-j",
        "2",
        workdir=workdir,
        index=index_url,
    )
    return workdir


def test_wheelhouse_holds_every_applicable_pin_as_a_wheel(released: Path) -> None:
    names = sorted(p.name for p in (released / WHEELHOUSE).glob("*.whl"))
    assert names == [
        "fixlib_a-1.0-py3-none-any.whl",
        "fixlib_b-1.0-py3-none-any.whl",
        "fixlib_c-2.0-cp311-cp311-linux_x86_64.whl",
        "fixlib_transitive-3.0-py3-none-any.whl",  # needed by fixlib-b, not pinned
        "fixlib_unused-1.0-py3-none-any.whl",
        "fixture_backend-1.0-py3-none-any.whl",  # build dependency, <2 per build-constraints
        "uv-0.13.9-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",  # the installer
    ]
    constraints = (released / WHEELHOUSE / "upper-constraints.txt").read_text()
    assert "fixlint" not in constraints  # denylisted
    assert "fixlib-old" not in constraints  # marker is false for python 3.11


def test_lock_pins_every_wheel_by_sha256(released: Path) -> None:
    wheelhouse = released / WHEELHOUSE
    lock = _lock(wheelhouse / "requirements.lock")
    assert len(lock) == len(list(wheelhouse.glob("*.whl")))
    for wheel in wheelhouse.glob("*.whl"):
        name = wheel.name.split("-")[0].replace("_", "-")
        assert lock[name] == hashlib.sha256(wheel.read_bytes()).hexdigest()


def test_package_ships_wheels_unchanged_and_installs_offline(
    released: Path, tmp_path: Path
) -> None:
    deb = _deb(released)
    assert deb.name.endswith("+deb12_amd64.deb")
    fields = subprocess.run(
        ["dpkg-deb", "-f", str(deb), "Package", "Architecture"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Package: openstack-requirements-2025.2" in fields
    assert "Architecture: amd64" in fields
    # fixlib_c's module, compiled here, links libc: a venv build and a node get the
    # libraries of compiled wheels through this package's Depends.
    depends = subprocess.run(
        ["dpkg-deb", "-f", str(deb), "Depends"], capture_output=True, text=True, check=True
    ).stdout
    assert "libc6 (>= " in depends
    root = tmp_path / "root"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    shipped = root / "usr/lib/venvpkg/wheelhouse/2025.2"
    lock = _lock(shipped / "requirements.lock")
    for wheel in shipped.glob("*.whl"):
        assert hashlib.sha256(wheel.read_bytes()).hexdigest() in lock.values(), wheel.name
    depends = (shipped / "build-depends.txt").read_text().split()
    assert depends == ["gcc", "libc6-dev", "python3-dev"]  # no [test] or rpm entries
    venv = tmp_path / "venv"
    install_lock_offline(shipped, venv)
    out = subprocess.run(
        [
            str(venv / "bin/python"),
            "-c",
            "import fixlib_c, fixlib_b; print(fixlib_c.add(2, 3), fixlib_b.VALUE)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.split() == ["5", "a1"]


def test_package_is_lintian_clean(released: Path, tmp_path: Path) -> None:
    # lintian leaves an mldbm-elf-* file in TMPDIR on every run.
    result = subprocess.run(
        ["lintian", "--fail-on", "error,warning", str(_deb(released))],
        capture_output=True,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_rerun_with_unchanged_inputs_does_nothing(
    released: Path, index_url: str, requirements_copy: Path
) -> None:
    before = _deb(released).stat().st_mtime_ns
    began = time.monotonic()
    result = venvpkg(
        "release",
        SERIES,
        "--requirements",
        str(requirements_copy),
        workdir=released,
        index=index_url,
    )
    assert time.monotonic() - began < 5
    assert "nothing to do" in result.stderr
    assert _deb(released).stat().st_mtime_ns == before


def test_a_wheel_changed_on_disk_is_refused_even_by_a_no_op_rerun(
    released: Path, index_url: str, requirements_copy: Path, tmp_path: Path
) -> None:
    workdir = tmp_path / "work"
    shutil.copytree(released, workdir)  # copies: the module's workdir stays as it was
    (altered,) = (workdir / WHEELHOUSE).glob("fixlib_a-*.whl")
    with altered.open("ab") as wheel:
        wheel.write(b"\0")
    before = _deb(workdir).stat().st_mtime_ns
    result = venvpkg(
        "release", SERIES, "--requirements", str(requirements_copy),
        workdir=workdir, index=index_url, check=False,
    )  # fmt: skip
    assert result.returncode == 5, result.stderr
    assert str(altered) in result.stderr and "Traceback" not in result.stderr
    assert _deb(workdir).stat().st_mtime_ns == before


def test_bumped_pin_refetches_only_that_pin(released: Path, index_url: str, tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    shutil.copytree(released, workdir)
    requirements = tmp_path / "requirements"
    shutil.copytree(DATA / "requirements-2025.2", requirements)
    constraints = requirements / "upper-constraints.txt"
    constraints.write_text(constraints.read_text().replace("fixlib-a===1.0", "fixlib-a===1.1"))
    old_version = _deb(workdir).name.split("_")[1]
    old_depends = _field(_deb(workdir), "Depends")
    result = venvpkg(
        "release",
        SERIES,
        "--requirements",
        str(requirements),
        "--json",
        workdir=workdir,
        index=index_url,
    )
    summary = json.loads(result.stdout)
    assert (summary["fetched"], summary["built"]) == (1, 0)
    # The compiled fixlib-c did not move: its libraries, as the first pack found them.
    assert "libc6 (>= " in old_depends
    assert _field(_deb(workdir), "Depends") == old_depends
    assert (workdir / WHEELHOUSE / "fixlib_a-1.1-py3-none-any.whl").exists()
    assert not (workdir / WHEELHOUSE / "fixlib_a-1.0-py3-none-any.whl").exists()
    new_version = _deb(workdir).name.split("_")[1]
    check = subprocess.run(["dpkg", "--compare-versions", new_version, "gt", old_version])
    assert check.returncode == 0, (old_version, new_version)


def _field(deb: Path, name: str) -> str:
    return subprocess.run(
        ["dpkg-deb", "-f", str(deb), name], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_projects_limit_the_wheelhouse_to_their_closure(
    index_url: str, requirements_dir: Path, tmp_path: Path
) -> None:
    result = _release_project(requirements_dir, "fixproj==1.0", tmp_path, index_url)
    assert "set SOURCE_DATE_EPOCH" in result.stderr  # a plain directory has no commit date
    names = {p.name.split("-")[0] for p in (tmp_path / WHEELHOUSE).glob("*.whl")}
    closure = {"fixlib_a", "fixlib_b", "fixlib_c", "fixlib_transitive", "fixture_backend"}
    assert names == closure | {"uv"}  # and venvpkg's installer
    meta = json.loads((tmp_path / WHEELHOUSE / "wheelhouse.json").read_text())
    assert meta["projects"] == ["fixproj==1.0"]


def test_copies_of_a_plain_directory_give_the_same_wheels_under_source_date_epoch(
    index_url: str, tmp_path: Path
) -> None:
    """A copy made on another day must not change a compiled wheel's digest."""
    locks, versions = [], []
    for copy, day in (("first", 1764000000), ("second", 1764600000)):
        requirements = tmp_path / copy / "requirements"
        shutil.copytree(DATA / "requirements-2025.2", requirements)
        for file in requirements.iterdir():
            os.utime(file, (day, day))
        result = _release_project(
            requirements,
            "fixproj==1.0",
            tmp_path / copy / "work",
            index_url,
            env={"SOURCE_DATE_EPOCH": "1756684800"},
        )
        assert "warning" not in result.stderr
        locks.append(_lock(tmp_path / copy / "work" / WHEELHOUSE / "requirements.lock"))
        versions.append(_deb(tmp_path / copy / "work").name.split("_")[1])
    assert "fixlib-c" in locks[0]  # the compiled one, whose zip carries the date
    assert locks[0] == locks[1]
    # Dated by SOURCE_DATE_EPOCH, not the copy's day. The content digest in the version
    # still differs: each package's wheelhouse.json names the directory it came from.
    dates = {v.split(".")[0] for v in versions}
    assert dates == {"20250901"}


def test_requirements_from_a_git_url_are_dated_by_their_commit(
    index_url: str, tmp_path: Path
) -> None:
    origin = tmp_path / "requirements.git"
    shutil.copytree(DATA / "requirements-2025.2", origin)
    commit_tree(origin, "2025-08-28T10:00:00Z", branch="stable/2025.2")
    url = f"file://{origin}@stable/2025.2"
    result = _release_project(url, "fixproj==1.0", tmp_path / "work", index_url)
    assert "warning" not in result.stderr
    assert _deb(tmp_path / "work").name.split("_")[1].startswith("20250828.")
    meta = json.loads((tmp_path / "work" / WHEELHOUSE / "wheelhouse.json").read_text())
    assert meta["requirements"] == {
        "origin": f"file://{origin}@stable/2025.2",
        "ref": "stable/2025.2",
        "date": "2025-08-28",
    }


def test_a_requirements_url_git_cannot_read_is_one_line_with_gits_reason(tmp_path: Path) -> None:
    result = venvpkg(
        "release",
        SERIES,
        "--requirements",
        f"file://{tmp_path}/missing.git@stable/2025.2",
        workdir=tmp_path / "work",
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        f"venvpkg: error: cannot read --requirements file://{tmp_path}/missing.git@stable/2025.2: "
        f"'{tmp_path}/missing.git' does not appear to be a git repository; "
        f"see {tmp_path}/work/logs/requirements-git.log"
    )
    assert "Traceback" not in result.stderr
    assert not list((tmp_path / "work" / "requirements").glob("*"))


def test_a_project_version_the_index_lacks_is_named_not_planned_empty(
    index_url: str, requirements_dir: Path, tmp_path: Path
) -> None:
    # It used to plan "0 distributions" and exit 0.
    result = _release_project(
        requirements_dir, "fixproj==9.9", tmp_path, index_url, "--dry-run", check=False
    )
    assert result.returncode == 2
    assert f"error: fixproj 9.9 is not on {index_url}" in result.stderr.splitlines()[-1]


def test_unbuildable_pin_fails_naming_it_and_allow_missing_packs_the_rest(
    index_url: str, requirements_dir: Path, tmp_path: Path
) -> None:
    constraints = requirements_dir / "upper-constraints.txt"
    # trollius==2.1 of queens' constraints is a pin the index no longer has at all.
    constraints.write_text(constraints.read_text() + "fixlib-broken===1.0\nfixlib-gone===2.1\n")
    failed = venvpkg(
        "release",
        SERIES,
        "--requirements",
        str(requirements_dir),
        workdir=tmp_path,
        index=index_url,
        check=False,
    )
    assert failed.returncode == 5
    # The broken build fails the run; the pin the index lacks is only named beside it.
    assert "1 of " in failed.stderr
    assert "fixlib-broken==1.0: fatal error: no_such_header_venvpkg.h" in failed.stderr
    assert "fixlib-gone==2.1: fixlib-gone is not on http://127.0.0.1" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert not (tmp_path / WHEELHOUSE).exists()
    assert not list(tmp_path.glob("debs/*/*.deb"))
    venvpkg(
        "release",
        SERIES,
        "--requirements",
        str(requirements_dir),
        "--allow-missing",
        workdir=tmp_path,
        index=index_url,
    )
    root = tmp_path / "root"
    subprocess.run(["dpkg-deb", "-x", str(_deb(tmp_path)), str(root)], check=True)
    missing = (root / "usr/lib/venvpkg/wheelhouse/2025.2/missing.txt").read_text()
    lines = missing.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("fixlib-broken==1.0: fatal error")
    assert lines[1].startswith("fixlib-gone==2.1: fixlib-gone is not on")
    assert all(line.endswith("(needed by nothing in the wheelhouse)") for line in lines)


def test_a_full_release_packs_without_pins_the_index_lacks_and_names_them(
    index_url: str, requirements_dir: Path, tmp_path: Path
) -> None:
    constraints = requirements_dir / "upper-constraints.txt"
    constraints.write_text(constraints.read_text() + "fixlib-gone===2.1\n")
    arguments = ["release", SERIES, "--requirements", str(requirements_dir)]
    done = venvpkg(*arguments, workdir=tmp_path, index=index_url)
    assert f"warning: missing fixlib-gone==2.1: fixlib-gone is not on {index_url}" in done.stderr
    root = tmp_path / "root"
    subprocess.run(["dpkg-deb", "-x", str(_deb(tmp_path)), str(root)], check=True)
    missing = (root / "usr/lib/venvpkg/wheelhouse/2025.2/missing.txt").read_text()
    assert missing.startswith("fixlib-gone==2.1: fixlib-gone is not on")


def test_unreachable_index_is_one_clear_line(requirements_dir: Path, tmp_path: Path) -> None:
    result = venvpkg(
        "release",
        SERIES,
        "--requirements",
        str(requirements_dir),
        workdir=tmp_path,
        index="http://127.0.0.1:9/simple/",
        check=False,
    )
    assert result.returncode == 4
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("venvpkg: error: cannot reach http://127.0.0.1:9/simple/")
    # Said once, naming the first name asked for (the series' first service), not once
    # per service or pin.
    assert " for python-adjutant: " in lines[-1]
    assert sum("cannot reach" in line for line in lines) == 1
    assert "Traceback" not in result.stderr


def test_a_full_release_adds_what_services_need_beyond_the_constraints_and_names_it(
    index_url: str, requirements_dir: Path, tmp_path: Path
) -> None:
    """fixsvc needs fixlib-oslo, which the branch does not pin: a full release serving
    fixsvc must carry it, say so, and let fixsvc debianize from that package."""
    arguments = ["release", SERIES, "--requirements", str(requirements_dir)]
    done = venvpkg(
        *arguments, "--services", "fixsvc==1.0", "--json", workdir=tmp_path, index=index_url
    )
    summary = json.loads(done.stdout)
    assert summary["unconstrained"] == {"fixlib-oslo==1.0": ["fixsvc"]}
    assert "outside upper-constraints, pinned by this release: fixlib-oslo==1.0" in done.stderr
    assert "fixlib-oslo" in _lock(tmp_path / WHEELHOUSE / "requirements.lock")
    assert "fixlib-oslo" not in (tmp_path / WHEELHOUSE / "upper-constraints.txt").read_text()
    # The service itself is built by debianize, not packed into the wheelhouse.
    assert not list((tmp_path / WHEELHOUSE).glob("fixsvc-*"))
    arguments = ["debianize", "fixsvc", "--series", SERIES, "--version", "1.0"]
    venvpkg(*arguments, workdir=tmp_path, index=index_url)
    lock = tmp_path / f"src/bookworm-{SERIES}/venv-fixsvc-1.0/debian/requirements.lock"
    assert "fixlib-oslo==1.0" in lock.read_text()


def test_a_full_release_without_services_holds_the_constraints_alone(
    index_url: str, requirements_dir: Path, tmp_path: Path
) -> None:
    arguments = ["release", SERIES, "--requirements", str(requirements_dir)]
    done = venvpkg(*arguments, "--services", "none", "--json", workdir=tmp_path, index=index_url)
    assert json.loads(done.stdout)["unconstrained"] == {}
    assert "fixlib-oslo" not in _lock(tmp_path / WHEELHOUSE / "requirements.lock")
