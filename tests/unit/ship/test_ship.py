"""Shipping's logic: test steps read, what may be promoted, the status report."""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest

from venvpkg import debformats, records
from venvpkg.config import Settings
from venvpkg.errors import DataError
from venvpkg.records import Step, TestRecord
from venvpkg.ship import bundle, report, repository
from venvpkg.ship import test as check
from venvpkg.workdir import Workdir

LIFECYCLE_OUTPUT = """\
Get:1 file:/srv/venvpkg-repo bookworm-2025.2-staging InRelease
VENVPKG-STEP apt-trusts-repository ok signed-by /srv/venvpkg-repo/venvpkg-archive-keyring.gpg
VENVPKG-STEP install ok 5 packages
E: Sub-process /usr/bin/dpkg returned an error code (1)
VENVPKG-STEP purge fail
VENVPKG-STEP nothing-left-after-purge fail /etc/fixsvc /etc/fixsvc/fixsvc.conf
"""


def test_lifecycle_steps_are_read_in_order_with_their_details() -> None:
    steps = check.parse_steps(LIFECYCLE_OUTPUT)
    assert [(s.name, s.ok) for s in steps] == [
        ("apt-trusts-repository", True),
        ("install", True),
        ("purge", False),
        ("nothing-left-after-purge", False),
    ]
    assert steps[1].detail == "5 packages"
    assert steps[3].detail == "/etc/fixsvc /etc/fixsvc/fixsvc.conf"


def test_only_a_passed_test_run_lets_versions_be_promoted(tmp_path: Path) -> None:
    workdir = Workdir(tmp_path)
    path = workdir.test_record("bookworm", "2025.2")
    report = TestRecord(
        "bookworm",
        "2025.2",
        {"venv-x": "90:1.0-1+deb12", "x-api": "90:1.0-1+deb12"},
        {},
        (Step("install", True), Step("purge", True)),
        sources={"venv-x": "90:1.0-1+deb12"},
    )
    records.write(path, report)
    assert ("x-api", "90:1.0-1+deb12") in check.passed_versions(workdir, "bookworm", "2025.2")
    records.write(path, replace(report, steps=(Step("install", True), Step("purge", False))))
    assert check.passed_versions(workdir, "bookworm", "2025.2") == set()
    assert check.passed_versions(workdir, "trixie", "2025.2") == set()


def test_status_report_marks_each_project_in_markdown_and_html() -> None:
    rows = [
        report.Row("bookworm-2025.2", "nova", "90:32.2.1-4+deb12", "-", "passed", "180s"),
        report.Row("bookworm-2025.2", "glance", "90:31.1.0-4+deb12", "90:31.1.0-3+deb12",
                   "failed: purge", "140s"),
    ]  # fmt: skip
    text = report.markdown(rows, "2026-11-23 12:00 UTC", Path("/srv/repo"))
    assert "| bookworm-2025.2 | nova | 90:32.2.1-4+deb12 | - | passed | 180s |" in text
    page = report.page(rows, "2026-11-23 12:00 UTC", Path("/srv/<repo>"))
    assert '<tr class="failed"><td>bookworm-2025.2</td><td>glance</td>' in page
    assert "/srv/&lt;repo&gt;" in page


def test_a_source_control_file_without_fields_is_refused(tmp_path: Path) -> None:
    dsc = tmp_path / "x.dsc"
    dsc.write_text("Format: 3.0 (quilt)\nSource: venv-x\nVersion: 90:1.0-1+deb12\n")
    assert debformats.dsc_fields(dsc) == ("venv-x", "90:1.0-1+deb12")
    dsc.write_text("garbage\n")
    with pytest.raises(DataError, match="not a Debian source control file"):
        debformats.dsc_fields(dsc)


def test_a_distribution_the_repository_lacks_lists_as_empty(tmp_path: Path) -> None:
    # reprepro itself fails on it (exit 249 here): the pipeline's search for an older
    # series to upgrade from asks about suites that were never made.
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "distributions").write_text("Codename: trixie-2025.2-staging\n")
    repo = repository.Repository(tmp_path, tmp_path / "gnupg", "KEY")
    assert repository.listing(repo, "trixie-2025.1") == {}


@pytest.mark.parametrize(
    "name", ["../../etc/passwd", "debs/../x.deb", "elsewhere/x.deb", "debs/.hidden", "debs/"]
)
def test_a_bundle_whose_manifest_names_a_file_outside_its_places_is_refused(
    tmp_path: Path, name: str
) -> None:
    manifest = {
        "format": bundle.FORMAT,
        "dist": "bookworm",
        "series": "2025.2",
        "project": "p",
        "version": "1",
        "files": {name: "0" * 64},
        "revision": {},
    }
    archive = tmp_path / "b.tar"
    with tarfile.open(archive, "w") as tar:
        data = json.dumps(manifest).encode()
        info = tarfile.TarInfo(bundle.MANIFEST)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    settings = Settings(workdir=tmp_path / "work")
    with pytest.raises(DataError, match="has no readable manifest"):
        bundle.import_bundle(settings, archive)
    assert not (tmp_path / "work" / "debs").exists()
