"""Records between stages: what one stage writes, the next reads back unchanged."""

from __future__ import annotations

from pathlib import Path

from venvpkg import records
from venvpkg.records import BuildRecord, ReleaseRecord, SourceRecord, Step, TestRecord


def test_each_record_reads_back_as_it_was_written(tmp_path: Path) -> None:
    written = [
        (
            ReleaseRecord(
                "bookworm", "2025.2", "openstack-requirements-2025.2", "20260505.1+deb12",
                tmp_path / "r.deb", "clean", "f" * 64, 2, tmp_path / "wheelhouse",
            ),
            ReleaseRecord.from_dict,
        ),
        (SourceRecord(tmp_path / "t", tmp_path / "t.dsc", "90:1.0-1", ("venv-x", "x")),
         SourceRecord.from_dict),
        (
            BuildRecord("venv-x-1.0", "x", "90:1.0-1", "f", ("a.deb",), {"a.deb": 3}, ("a.deb",)),
            BuildRecord.from_dict,
        ),
        (
            TestRecord("bookworm", "2025.2", {"x": "1"}, {}, (Step("install", True, "2"),)),
            TestRecord.from_dict,
        ),
    ]  # fmt: skip
    for number, (record, load) in enumerate(written):
        path = tmp_path / f"{number}.json"
        records.write(path, record)
        assert records.read(path, load) == record


def test_a_missing_or_half_written_record_reads_as_none(tmp_path: Path) -> None:
    path = tmp_path / "release.json"
    assert records.read(path, ReleaseRecord.from_dict) is None
    path.write_text('{"dist": "bookworm", "series"')
    assert records.read(path, ReleaseRecord.from_dict) is None
    path.write_text('{"dist": "bookworm"}')
    assert records.read(path, ReleaseRecord.from_dict) is None


def test_a_test_run_lets_its_versions_be_promoted_only_when_every_step_passed() -> None:
    passed = TestRecord(
        "bookworm", "2025.2", {"venv-x": "1"}, {}, (Step("a", True),), sources={"venv-x": "1"}
    )
    assert passed.passed_versions() == {("venv-x", "1")}
    failed = TestRecord("bookworm", "2025.2", {"venv-x": "1"}, {}, (Step("a", False),))
    assert failed.passed_versions() == set()
    assert TestRecord("bookworm", "2025.2", {"venv-x": "1"}, {}).passed_versions() == set()
