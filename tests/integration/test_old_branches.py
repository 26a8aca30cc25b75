"""Old branches: build tools dated by the branch, and override sets, on the real command line."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import DATA, commit_tree, venvpkg

WHEELHOUSE = "wheelhouse/bookworm-2025.2"


def _branch(tmp_path: Path, date: str) -> str:
    """The fixture branch without its build constraint, committed on `date`."""
    origin = tmp_path / "requirements.git"
    shutil.copytree(DATA / "requirements-2025.2", origin)
    (origin / "build-constraints.txt").write_text("")
    commit_tree(origin, date, branch="stable/2025.2")
    return f"file://{origin}@stable/2025.2"


def _release(
    url: str, workdir: Path, index_url: str, *flags: str
) -> subprocess.CompletedProcess[str]:
    return venvpkg(
        "release", "2025.2", "--requirements", url, "--projects", "fixproj==1.0", *flags,
        workdir=workdir, index=index_url, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("date", "backend"), [("2025-08-28T10:00:00Z", "1.0"), ("2025-10-01T10:00:00Z", "2.0")]
)
def test_an_unpinned_build_tool_is_the_newest_uploaded_before_the_branch(
    index_url: str, tmp_path: Path, date: str, backend: str
) -> None:
    # fixture-backend 2.0 reached the index on 2025-09-01; the branch pins neither.
    result = _release(_branch(tmp_path, date), tmp_path / "work", index_url)
    assert result.returncode == 0, result.stderr
    wheelhouse = tmp_path / "work" / WHEELHOUSE
    recorded = (wheelhouse / "build-constraints.txt").read_text()
    assert f"fixture-backend=={backend}\n" in recorded
    assert f"the newest uploaded before {date[:10]}" in recorded
    assert (wheelhouse / f"fixture_backend-{backend}-py3-none-any.whl").exists()


def _config(tmp_path: Path, entries: str) -> Path:
    config = tmp_path / "venvpkg.toml"
    config.write_text(f'[overrides."bookworm-2025.2"]\n{entries}')
    return config


def test_an_override_replaces_a_pin_and_is_listed_in_the_package(
    index_url: str, tmp_path: Path
) -> None:
    reason = "fixlib-a 1.0 breaks at import on our nodes"
    config = _config(tmp_path, f'fixlib-a = {{ version = "1.1", reason = "{reason}" }}\n')
    url = _branch(tmp_path, "2025-08-28T10:00:00Z")
    result = _release(url, tmp_path / "work", index_url, "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert f"override: fixlib-a 1.0 -> 1.1  # {reason}" in result.stderr
    wheelhouse = tmp_path / "work" / WHEELHOUSE
    assert (wheelhouse / "fixlib_a-1.1-py3-none-any.whl").exists()
    assert not (wheelhouse / "fixlib_a-1.0-py3-none-any.whl").exists()
    deb = next((tmp_path / "work" / "debs" / "bookworm-2025.2").glob("*.deb"))
    shipped = subprocess.run(
        ["dpkg-deb", "--fsys-tarfile", deb], capture_output=True, check=True
    ).stdout
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    subprocess.run(["tar", "-x", "-C", unpacked], input=shipped, check=True)
    listed = (unpacked / "usr/lib/venvpkg/wheelhouse/2025.2/overrides.txt").read_text()
    assert listed.startswith(f"fixlib-a 1.0 -> 1.1  # {reason}")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('fixlib-zzz = { version = "1.0", reason = "r" }', "the branch does not pin it"),
        ('fixlib-a = { version = "9.9", reason = "r" }', "fixlib-a 9.9"),
        ('fixlib-a = "1.1"', 'an override is { version = "…", reason = "…" }'),
        ("fixlib-a = { cancel = true }", "venvpkg ships no such override"),
    ],
)
def test_a_bad_override_is_one_line_and_nothing_is_written(
    index_url: str, tmp_path: Path, entry: str, message: str
) -> None:
    config = _config(tmp_path, entry + "\n")
    url = _branch(tmp_path, "2025-08-28T10:00:00Z")
    result = _release(url, tmp_path / "work", index_url, "--config", str(config))
    assert result.returncode != 0
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 3, result.stderr
    assert not (tmp_path / "work" / WHEELHOUSE).exists()


@pytest.mark.slow
def test_a_bullseye_release_builds_its_wheels_with_python_39_from_this_host(
    index_url: str, tmp_path: Path
) -> None:
    # venvpkg runs here on the host's Python; only the builds enter bullseye's root.
    url = _branch(tmp_path, "2025-08-28T10:00:00Z")
    result = _release(url, tmp_path / "work", index_url, "--target", "bullseye")
    assert result.returncode == 0, result.stderr
    wheelhouse = tmp_path / "work" / "wheelhouse" / "bullseye-2025.2"
    compiled = [w.name for w in wheelhouse.glob("fixlib_c-2.0-*.whl")]
    assert compiled and all("-cp39-cp39-" in name for name in compiled), compiled
    deb = next((tmp_path / "work" / "debs" / "bullseye-2025.2").glob("*+deb11_*.deb"))
    fields = subprocess.run(["dpkg-deb", "-f", deb, "Depends"], capture_output=True, text=True)
    assert "libc6" in fields.stdout
