"""Bad input: one clear line, a non-zero exit, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

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
    listed = json.loads(capsys.readouterr().out)
    assert listed[-1] == {
        "number": "2026.2",
        "codename": "hibiscus",
        "status": "development",
        "requirements_ref": "master",
        "default_target": "bookworm",
    }
