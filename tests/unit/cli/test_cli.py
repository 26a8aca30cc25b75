"""Bad input: one clear line, a non-zero exit, no traceback."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import pytest

from venvpkg import series
from venvpkg.cli import main


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().err


def test_unknown_series(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, err = _run(capsys, "--workdir", str(tmp_path), "release", "flamingoo")
    assert code == 2
    assert (
        err.strip().splitlines()[-1]
        == "venvpkg: error: unknown series 'flamingoo'; did you mean flamingo?"
    )


def test_unknown_target(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, err = _run(capsys, "release", "2025.2", "--target", "sid2", "--workdir", str(tmp_path))
    assert code == 2 and "unknown target 'sid2'" in err and "Traceback" not in err


def test_malformed_constraints_name_file_and_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    reqs = tmp_path / "reqs"
    reqs.mkdir()
    (reqs / "upper-constraints.txt").write_text("good===1.0\nbad line here\n")
    code, err = _run(
        capsys, "--workdir", str(tmp_path), "release", "2025.2", "--requirements", str(reqs)
    )
    assert code == 2
    assert f"{reqs}/upper-constraints.txt:2: malformed constraint" in err


def test_unreadable_requirements(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, err = _run(
        capsys,
        "--workdir",
        str(tmp_path),
        "release",
        "2025.2",
        "--requirements",
        str(tmp_path / "nowhere"),
    )
    assert code == 2 and "cannot read --requirements" in err


def test_unknown_project(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, err = _run(
        capsys,
        "--workdir",
        str(tmp_path),
        "release",
        "2025.2",
        "--projects",
        "keystnoe",
        "--dry-run",
    )
    assert code == 2 and "unknown project 'keystnoe'" in err and "did you mean keystone" in err


def test_series_lists_json(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["series", "--json"]) == 0
    captured = capsys.readouterr()
    listed = json.loads(captured.out)
    assert listed[-1] == {
        "number": "2026.2",
        "codename": "hibiscus",
        "status": "development",
        "requirements_ref": "master",
        "requirements_date": listed[-1]["requirements_date"],
        "default_target": "trixie",
        "why": "tested; stable",
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", listed[-1]["requirements_date"])
    # Which data it decides from, and how old: a warning once older than 30 days.
    snapshot = series.releases_snapshot()
    assert f"bundled openstack/releases {snapshot.commit[:10]} of {snapshot.date}" in captured.err
    assert snapshot.age_days(datetime.date(2026, 9, 1)) == 11
    stale = snapshot.age_days() > series.STALE_DAYS
    assert ("warning:" in captured.err) == stale and "days old" in captured.err
    queens = next(entry for entry in listed if entry["codename"] == "queens")
    assert (queens["default_target"], queens["why"]) == ("bullseye", "works, untested; past LTS")


@pytest.mark.parametrize(
    ("projects", "message"),
    [
        ("", "an empty project name was given"),
        ("keystone,,nova", "an empty project name was given"),
        ("nova==", "project 'nova==' is not NAME or NAME==VERSION"),
        ("nova>=1", "project 'nova>=1' is not NAME or NAME==VERSION"),
    ],
)
def test_a_malformed_project_list_is_refused_not_widened(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, projects: str, message: str
) -> None:
    # Before, "" and "nova==" planned the whole series or all of nova without a word.
    code, err = _run(
        capsys, "--workdir", str(tmp_path), "release", "2025.2", "--projects", projects, "--dry-run"
    )
    assert code == 2
    assert err.strip().splitlines()[-1] == (
        f"venvpkg: error: {message}; e.g. --projects nova,keystone==28.0.2"
    )


@pytest.mark.parametrize(("flag", "what"), [("SERIES", "series"), ("--target", "target")])
def test_an_empty_series_or_target_is_named_not_defaulted(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, flag: str, what: str
) -> None:
    args = ["", "--dry-run"] if flag == "SERIES" else ["2025.2", "--target", "", "--dry-run"]
    code, err = _run(capsys, "--workdir", str(tmp_path), "release", *args)
    assert code == 2 and f"unknown {what} ''" in err and "Traceback" not in err


@pytest.mark.parametrize("kind", ["file", "under a file"])
def test_a_workdir_that_cannot_be_made_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, kind: str
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    workdir = blocker if kind == "file" else blocker / "sub"
    code, err = _run(capsys, "--workdir", str(workdir), "release", "2025.2", "--dry-run")
    assert code == 2 and "Traceback" not in err
    assert (
        err.strip().splitlines()[-1].startswith(f"venvpkg: error: workdir {workdir} cannot be made")
    )


@pytest.mark.parametrize("action", ["list", "create", "remove"])
def test_chroot_names_an_unknown_dist_instead_of_ignoring_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, action: str
) -> None:
    code, err = _run(capsys, "--workdir", str(tmp_path), "chroot", action, "bookwrm")
    assert code == 2
    assert err.strip().splitlines()[-1] == (
        "venvpkg: error: unknown target 'bookwrm'; did you mean bookworm?"
    )


def test_build_names_a_bad_project_before_any_work(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # keystone comes first, and its work would stop on the missing requirements package.
    code, err = _run(capsys, "--workdir", str(tmp_path), "build", "keystone", "novaa")
    assert code == 2 and "unknown project 'novaa'" in err and "requirements package" not in err
    code, err = _run(capsys, "--workdir", str(tmp_path), "debianize", "keystone", "--version", "")
    assert code == 2 and err.strip().endswith(
        "--version is empty; give a version, or leave it out for the latest"
    )


def test_release_warns_once_for_a_target_the_series_was_not_tested_on(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, err = _run(
        capsys,
        "--workdir",
        str(tmp_path),
        "release",
        "2023.1",
        "--target",
        "bookworm",
        "--services",
        "none",  # the services' closure would ask PyPI
        "--dry-run",
    )
    assert code == 0
    assert err.count("warning: 2023.1 (antelope) was tested on Python 3.8 to 3.10;") == 1


@pytest.mark.parametrize("args", [["2025.2"], ["2025.2", "keystone", "--all"]])
def test_pipeline_takes_projects_or_all_but_not_both(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str]
) -> None:
    code, err = _run(capsys, "--workdir", str(tmp_path), "pipeline", *args)
    assert code == 2
    assert err.strip().splitlines() == [
        "venvpkg: error: name the projects, or give --all for every service of the series; "
        "e.g. venvpkg pipeline 2025.2 keystone nova"
    ]
    assert not (tmp_path / "repo").exists()


def test_a_mistyped_service_is_named_not_left_out(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    args = ["release", "2025.2", "--services", "keystne", "--dry-run"]
    code, err = _run(capsys, "--workdir", str(tmp_path), *args)
    assert code == 2
    assert "unknown project 'keystne'" in err and "did you mean keystone" in err
    assert "left out" not in err
