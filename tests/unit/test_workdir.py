"""The on-disk layout: one DIST-SERIES order, and a first-layout workdir moved into it."""

from __future__ import annotations

import json
from pathlib import Path

from venvpkg import records
from venvpkg.records import ReleaseRecord
from venvpkg.workdir import Workdir, migrate

TARGETS = ("bullseye", "bookworm", "trixie")


def test_everything_of_one_release_is_named_dist_then_series(tmp_path: Path) -> None:
    paths = Workdir(tmp_path).release("bookworm", "2025.2")
    named = [paths.wheelhouse, paths.debs, paths.sources, paths.logs]
    assert [p.name for p in named] == ["bookworm-2025.2"] * 3 + ["release-bookworm-2025.2"]
    assert paths.staging == tmp_path / "wheelhouse" / ".bookworm-2025.2.new"
    assert paths.record == tmp_path / "debs" / "bookworm-2025.2" / "release.json"


def _first_layout(root: Path) -> None:
    """A workdir as venvpkg left it before the layout had one naming order."""
    wheelhouse = root / "wheelhouse" / "2025.2-bookworm"
    wheelhouse.mkdir(parents=True)
    (wheelhouse / "requirements.lock").write_text("a==1 \\\n    --hash=sha256:00\n")
    debs = root / "debs" / "bookworm-2025.2"
    debs.mkdir(parents=True)
    deb = debs / "openstack-requirements-2025.2_20260505.1+deb12_amd64.deb"
    deb.write_bytes(b"deb")
    state = {
        "fingerprint": "f" * 64,
        "recipe": 2,
        "deb": deb.name,
        "result": {
            "package": "openstack-requirements-2025.2",
            "version": "20260505.1+deb12",
            # Absolute, as the first layout kept it: a copied workdir points at the original.
            "deb": f"/elsewhere/{deb.name}",
            "lintian": "clean",
            "built": True,
        },
    }
    (debs / "state.json").write_text(json.dumps(state))


def test_a_first_layout_workdir_is_moved_and_its_record_kept(tmp_path: Path) -> None:
    _first_layout(tmp_path)
    workdir = Workdir(tmp_path)
    moved = migrate(workdir, TARGETS)
    assert len(moved) == 2
    paths = workdir.release("bookworm", "2025.2")
    record = records.read(paths.record, ReleaseRecord.from_dict)
    assert record is not None
    assert (record.version, record.lintian, record.recipe) == ("20260505.1+deb12", "clean", 2)
    assert record.lock.read_text().startswith("a==1")
    assert record.deb == paths.debs / "openstack-requirements-2025.2_20260505.1+deb12_amd64.deb"
    assert not (tmp_path / "wheelhouse" / "2025.2-bookworm").exists()
    assert not (paths.debs / "state.json").exists()
    assert migrate(workdir, TARGETS) == []  # a second run finds nothing to move


def test_a_directory_that_is_not_a_first_layout_wheelhouse_stays(tmp_path: Path) -> None:
    (tmp_path / "wheelhouse" / "my-notes").mkdir(parents=True)
    (tmp_path / "wheelhouse" / "bookworm-2025.2").mkdir()
    assert migrate(Workdir(tmp_path), TARGETS) == []
    assert (tmp_path / "wheelhouse" / "my-notes").is_dir()
