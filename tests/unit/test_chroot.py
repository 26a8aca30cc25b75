"""Build and test chroots: their records, checksums and the ids unshare needs."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest

from venvpkg import chroot
from venvpkg.errors import DataError, UsageError
from venvpkg.workdir import Workdir


def test_subid_ranges_need_the_user_and_enough_ids(tmp_path: Path) -> None:
    subuid = tmp_path / "subuid"
    subuid.write_text("alice:100000:65536\nbob:200000:1000\n")
    assert chroot._has_range(subuid, "alice")
    assert not chroot._has_range(subuid, "bob")  # too few for a whole build
    assert not chroot._has_range(subuid, "carol")
    assert not chroot._has_range(tmp_path / "missing", "alice")


def test_a_tarball_without_its_record_is_never_used(tmp_path: Path) -> None:
    chroots = tmp_path / "chroots"
    chroots.mkdir()
    arch = chroot.architecture()
    (chroots / f"trixie-{arch}.tar").write_bytes(b"half of a tarball")
    assert chroot.load(Workdir(tmp_path), "trixie") is None
    assert chroot.listing(Workdir(tmp_path)) == []


def test_a_recorded_tarball_is_checked_against_its_sha256(tmp_path: Path) -> None:
    chroots = tmp_path / "chroots"
    chroots.mkdir()
    arch = chroot.architecture()
    tarball = chroots / f"trixie-{arch}.tar"
    tarball.write_bytes(b"the real bytes")
    record = {"sha256": hashlib.sha256(b"the real bytes").hexdigest(), "created": time.time()}
    (chroots / f"trixie-{arch}.json").write_text(json.dumps(record))
    found = chroot.load(Workdir(tmp_path), "trixie")
    assert found is not None and found.age_days < 0.01
    chroot.verify(found)
    tarball.write_bytes(b"flipped bytes!")
    with pytest.raises(DataError, match="is corrupt"):
        chroot.verify(found)


def test_removing_an_absent_chroot_says_so(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no chroot for sid"):
        chroot.remove("sid", Workdir(tmp_path))
