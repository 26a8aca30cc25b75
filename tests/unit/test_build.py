"""Pure parts of the build stage: chroot records, subids, failures, comparison, options."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest

from venvpkg import builder, chroot, records
from venvpkg.builder import backends, reproducible
from venvpkg.config import Settings, load_settings
from venvpkg.errors import CommandFailed, DataError, UsageError
from venvpkg.records import Step, TestRecord
from venvpkg.release import inchroot
from venvpkg.ship import publish, report
from venvpkg.ship import test as check
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


def _settings(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> Settings:
    config = tmp_path / "venvpkg.toml"
    config.write_text(text)
    return load_settings({"config_file": str(config)}, environ or {})


def test_chroot_age_setting_must_be_a_number(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="max-age-days"):
        _settings(tmp_path, '[chroot]\nmax-age-days = "weekly"\n')
    settings = _settings(tmp_path, '[chroot]\nmirror = "http://m/debian/"\n')
    assert (settings.chroot.mirror, settings.chroot.max_age_days) == ("http://m/debian", 7.0)


def test_the_environment_names_the_mirror_over_the_file(tmp_path: Path) -> None:
    # README's order is defaults < venvpkg.toml < environment < command line.
    environ = {"VENVPKG_MIRROR": "http://env/debian"}
    settings = _settings(tmp_path, '[chroot]\nmirror = "http://file/debian"\n', environ)
    assert settings.chroot.mirror == "http://env/debian"


def test_lintian_allowances_need_a_reason(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="embedded-library has no reason"):
        _settings(tmp_path, '[lintian.allow]\nembedded-library = " "\n')
    settings = _settings(tmp_path, '[lintian.allow]\nembedded-library = "site policy"\n')
    assert builder.options(settings, "host", True).lintian_allow == {
        "embedded-library": "site policy"
    }
    with pytest.raises(UsageError, match="unknown backend"):
        _settings(tmp_path, '[build]\nbackend = "docker"\n')


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
    assert publish.dsc_fields(dsc) == ("venv-x", "90:1.0-1+deb12")
    dsc.write_text("garbage\n")
    with pytest.raises(DataError, match="not a Debian source control file"):
        publish.dsc_fields(dsc)


def test_venvpkg_in_a_chroot_sees_our_source_date_epoch_and_no_pip_config() -> None:
    outside = {"SOURCE_DATE_EPOCH": "1756684800", "PIP_FIND_LINKS": "/wheels", "HOME": "/root"}
    inside = inchroot.venvpkg_env(outside)
    assert inside["SOURCE_DATE_EPOCH"] == "1756684800"
    assert inside["PIP_CONFIG_FILE"] == "/dev/null"
    assert "PIP_FIND_LINKS" not in inside and "HOME" not in inside
    assert "SOURCE_DATE_EPOCH" not in inchroot.venvpkg_env({})
