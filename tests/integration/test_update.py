"""`venvpkg update` from local git repositories standing in for opendev's
openstack/releases and openstack/requirements: what it fetches wins over the bundled data,
and a failed update keeps what was there."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from packaging.version import Version

from tests.conftest import venvpkg
from venvpkg import projects, series

DATA = Path(__file__).parents[2] / "venvpkg" / "data"
GIT = {
    "PATH": "/usr/bin:/bin",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
}
KEYSTONE = """---
type: service
release-model: cycle-with-rc
repository-settings:
  openstack/keystone: {}
releases:
  - version: 28.0.2
    projects:
      - repo: openstack/keystone
        hash: 3dfbbe7b9bd11dcd64420da0e4eda48b637f4a70
  - version: %s
    projects:
      - repo: openstack/keystone
        hash: 4dfbbe7b9bd11dcd64420da0e4eda48b637f4a70
"""


def _git(repo: Path, *args: str, date: str = "2026-11-30T12:00:00+00:00") -> None:
    env = GIT | {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    subprocess.run(["git", "-C", str(repo), *args], env=env, check=True, capture_output=True)


def _commit(repo: Path, message: str, date: str) -> None:
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message, date=date)


def _releases(root: Path, keystone: str) -> Path:
    """openstack/releases with the bundled series list and one newer keystone release."""
    repo = root / "releases"
    (repo / "data").mkdir(parents=True)
    shutil.copy(DATA / "openstack-releases" / "series_status.yaml", repo / "data")
    (repo / "deliverables" / "flamingo").mkdir(parents=True)
    (repo / "deliverables" / "flamingo" / "keystone.yaml").write_text(KEYSTONE % keystone)
    _git(repo, "init", "-q", "-b", "master")
    _commit(repo, "releases", "2026-11-30T12:00:00+00:00")
    return repo


def _requirements(root: Path) -> Path:
    """openstack/requirements with 2025.2's branch and queens' -eol tag only."""
    repo = root / "requirements"
    repo.mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "master")
    for number, ref, date in (
        ("queens", "queens-eol", "2021-08-06T00:00:00+00:00"),
        ("2025.2", "stable/2025.2", "2026-11-29T00:00:00+00:00"),
    ):
        _git(repo, "checkout", "-q", "--orphan", f"work-{number}")
        _git(repo, "rm", "-rfq", "--ignore-unmatch", ".")
        for source in (DATA / "openstack-requirements" / number).iterdir():
            shutil.copy(source, repo / source.name)
        _commit(repo, number, date)
        if ref.endswith("-eol"):
            _git(repo, "tag", ref)
        else:
            _git(repo, "branch", ref)
    return repo


def _workdir(tmp_path: Path, releases: Path, requirements: Path) -> Path:
    config = tmp_path / "venvpkg.toml"
    config.write_text(
        f'[data]\nreleases = "file://{releases}"\nrequirements = "file://{requirements}"\n'
    )
    return config


def _series(workdir: Path, config: Path) -> tuple[dict[str, dict[str, str]], str]:
    listed = venvpkg("series", "--json", "--config", str(config), workdir=workdir)
    return {e["number"] or e["codename"]: e for e in json.loads(listed.stdout)}, listed.stderr


def test_update_fetches_both_repositories_and_its_data_wins(tmp_path: Path) -> None:
    releases, requirements = _releases(tmp_path, "28.1.0"), _requirements(tmp_path)
    config, workdir = _workdir(tmp_path, releases, requirements), tmp_path / "work"
    done = venvpkg("update", "--json", "--config", str(config), workdir=workdir)
    summary = json.loads(done.stdout)
    assert summary["releases"][1] == "2026-11-30"
    refs = {row[0]: row[1] for row in summary["requirements"]}
    assert refs["2025.2"] == "stable/2025.2" and refs["queens"] == "queens-eol"
    listed, said = _series(workdir, config)
    assert "updated openstack/releases" in said and "of 2026-11-30" in said
    assert listed["2025.2"]["requirements_date"] == "2026-11-29"
    # A series the mirror has no ref for keeps its bundled data.
    assert listed["2025.1"]["requirements_ref"] == "stable/2025.1"
    # The new point release is the data's keystone for flamingo now.
    series.use_data(workdir / "data/current")
    try:
        flamingo = series.lookup("2025.2")
        assert projects.lookup(flamingo, "keystone").version == Version("28.1.0")
    finally:
        series.use_data(None)


def test_a_new_requirements_commit_is_taken_by_the_next_update(tmp_path: Path) -> None:
    releases, requirements = _releases(tmp_path, "28.1.0"), _requirements(tmp_path)
    config, workdir = _workdir(tmp_path, releases, requirements), tmp_path / "work"
    venvpkg("update", "--config", str(config), workdir=workdir)
    # Nothing new upstream: the data in use is left as it is, not written again.
    current = workdir / "data" / "current"
    before = current.stat().st_ino
    venvpkg("update", "--config", str(config), workdir=workdir)
    assert current.stat().st_ino == before
    _git(requirements, "checkout", "-q", "stable/2025.2")
    constraints = requirements / "upper-constraints.txt"
    constraints.write_text(constraints.read_text().replace("alembic===", "alembic===0.0.1\n#"))
    _commit(requirements, "bump alembic", "2026-12-01T00:00:00+00:00")
    venvpkg("update", "--config", str(config), workdir=workdir)
    listed, _ = _series(workdir, config)
    assert listed["2025.2"]["requirements_date"] == "2026-12-01"
    fetched = workdir / "data/current/openstack-requirements/2025.2/upper-constraints.txt"
    assert "alembic===0.0.1" in fetched.read_text()


def test_an_unreachable_url_keeps_the_data_in_use(tmp_path: Path) -> None:
    releases, requirements = _releases(tmp_path, "28.1.0"), _requirements(tmp_path)
    config, workdir = _workdir(tmp_path, releases, requirements), tmp_path / "work"
    gone = tmp_path / "gone.toml"
    gone.write_text(f'[data]\nreleases = "file://{tmp_path}/nowhere"\n')
    # Nothing fetched before: there is no data of the workdir's to fall back on.
    first = venvpkg("update", "--config", str(gone), workdir=workdir, check=False)
    assert first.returncode != 0 and "Traceback" not in first.stderr
    assert f"cannot fetch file://{tmp_path}/nowhere" in first.stderr.splitlines()[-1]
    assert not (workdir / "data/current").exists()
    venvpkg("update", "--config", str(config), workdir=workdir)
    again = venvpkg("update", "--config", str(gone), workdir=workdir)
    assert "keeping updated openstack/releases" in again.stderr
    _listed, said = _series(workdir, config)
    assert "updated openstack/releases" in said


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("data/series_status.yaml", "- name: [unclosed\n"),
        ("deliverables/flamingo/keystone.yaml", "type: service\nreleases: [\n"),
    ],
)
def test_a_malformed_releases_file_is_named_and_nothing_changes(
    tmp_path: Path, path: str, text: str
) -> None:
    releases, requirements = _releases(tmp_path, "28.1.0"), _requirements(tmp_path)
    config, workdir = _workdir(tmp_path, releases, requirements), tmp_path / "work"
    venvpkg("update", "--config", str(config), workdir=workdir)
    before = (workdir / "data/current/openstack-releases/deliverables.tsv").read_text()
    (releases / path).write_text(text)
    _commit(releases, "broken", "2026-12-01T00:00:00+00:00")
    broken = venvpkg("update", "--config", str(config), workdir=workdir, check=False)
    assert broken.returncode == 2 and "Traceback" not in broken.stderr
    assert path in broken.stderr.splitlines()[-1]
    assert "keeping updated openstack/releases" in broken.stderr
    after = (workdir / "data/current/openstack-releases/deliverables.tsv").read_text()
    assert after == before
