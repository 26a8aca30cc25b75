"""The build stage's own logic: sbuild's failures named, two builds compared."""

from __future__ import annotations

import subprocess
from pathlib import Path

from venvpkg.builder import backends, reproducible
from venvpkg.errors import CommandFailed

SBUILD_LOG = """\
dh_auto_configure
make[1]: Entering directory '/build/venv-fixsvc-1.0'
urllib.error.URLError: <urlopen error [Errno 111] Connection refused>
make[1]: *** [debian/rules:80: override_dh_auto_configure] Error 1
make: *** [debian/rules:24: binary] Error 2
dpkg-buildpackage: error: debian/rules binary subprocess returned exit status 2
E: Build failure (dpkg-buildpackage died)
Fail-Stage: build
"""


def test_an_sbuild_failure_names_the_stage_and_the_lines_that_matter(tmp_path: Path) -> None:
    log = tmp_path / "sbuild.log"
    log.write_text("an earlier build's output\nFail-Stage: install-deps\n" + SBUILD_LOG)
    start = len("an earlier build's output\nFail-Stage: install-deps\n")
    failed = CommandFailed("sbuild failed", log, [])
    error = backends._sbuild_failure("venv-fixsvc-1.0", log, start, failed)
    assert error.message == "venv-fixsvc-1.0 failed in sbuild at stage build"
    assert str(log) in error.hint
    assert error.details[0].startswith("make[1]: *** [debian/rules:80")
    assert "E: Build failure (dpkg-buildpackage died)" in error.details


def _deb(directory: Path, name: str, files: dict[str, bytes], mtime: int = 1700000000) -> Path:
    root = directory / name
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        f"Package: {name}\nVersion: 1.0\nArchitecture: all\n"
        "Maintainer: t <t@example.org>\nDescription: test\n"
    )
    for path, content in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(content)
    deb = directory / f"{name}_1.0_all.deb"
    env = {"SOURCE_DATE_EPOCH": str(mtime), "PATH": "/usr/bin:/bin"}
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-b", str(root), str(deb)],
        check=True,
        capture_output=True,
        env=env,
    )
    return deb


def test_comparison_names_the_differing_debs_and_files(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    files = {"opt/venvs/x/pyvenv.cfg": b"command = /build/a\n", "opt/venvs/x/same": b"same"}
    first = [_deb(one, "venv-x", files), _deb(one, "x-common", {"etc/x": b"1"})]
    files["opt/venvs/x/pyvenv.cfg"] = b"command = /build/b\n"
    second = [_deb(two, "venv-x", files), _deb(two, "x-common", {"etc/x": b"1"})]
    assert reproducible.differing_debs(first, second) == ["venv-x_1.0_all.deb"]
    assert reproducible.differing_files(first[0], second[0]) == ["opt/venvs/x/pyvenv.cfg"]
    assert reproducible.differing_debs(first, second[1:]) == ["venv-x_1.0_all.deb"]
    assert reproducible.differing_debs(first, first) == []


def test_comparison_sees_a_timestamp_that_differs(tmp_path: Path) -> None:
    files = {"usr/share/x/data": b"same"}
    first = _deb(tmp_path / "one", "x", files, mtime=1700000000)
    second = _deb(tmp_path / "two", "x", files, mtime=1700000100)
    changed = reproducible.differing_files(first, second)
    assert "usr/share/x/data" in changed


def test_the_longest_builds_start_first_and_a_never_built_project_counts_as_long(
    tmp_path: Path,
) -> None:
    """-j N waits for its last build: one long build started last runs alone at the end."""
    import json
    from types import SimpleNamespace
    from typing import Any

    import venvpkg.builder as builder

    builds = tmp_path / "builds"
    builds.mkdir()
    for project, seconds in (("placement", 52.2), ("glance", 79.9)):
        record = {"source": f"venv-{project}-1", "project": project, "version": "90:1-1"}
        record |= {"fingerprint": "x", "debs": [], "seconds": seconds}
        (builds / f"venv-{project}_1-1+deb12.json").write_text(json.dumps(record))
    release: Any = SimpleNamespace(paths=SimpleNamespace(builds=builds))

    def job(project: str) -> Any:
        return SimpleNamespace(request=SimpleNamespace(project=project))

    expected = {
        p: builder._expected_seconds(job(p), release) for p in ("placement", "glance", "aodh")
    }
    assert expected == {"placement": 52.2, "glance": 79.9, "aodh": float("inf")}
