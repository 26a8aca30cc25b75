from __future__ import annotations

from venvpkg import targets
from venvpkg.index import Artifact, choose

BOOKWORM = targets.lookup("bookworm")


def _files(*names: str) -> list[Artifact]:
    return [Artifact("x", "1.0", n, f"https://example/{n}", None) for n in names]


def test_specific_wheel_beats_abi3_beats_pure_beats_sdist() -> None:
    files = _files(
        "x-1.0.tar.gz",
        "x-1.0-py3-none-any.whl",
        "x-1.0-cp38-abi3-manylinux2014_x86_64.whl",
        "x-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    )
    assert choose(files, BOOKWORM).filename.startswith("x-1.0-cp311-cp311")  # type: ignore[union-attr]
    assert choose(files[:3], BOOKWORM).filename.startswith("x-1.0-cp38-abi3")  # type: ignore[union-attr]
    assert choose(files[:2], BOOKWORM).filename == "x-1.0-py3-none-any.whl"  # type: ignore[union-attr]


def test_wheels_for_another_python_or_newer_glibc_fall_back_to_the_sdist() -> None:
    files = _files(
        "x-1.0-cp312-cp312-manylinux_2_17_x86_64.whl",
        "x-1.0-cp311-cp311-manylinux_2_39_x86_64.whl",
        "x-1.0-cp311-cp311-musllinux_1_1_x86_64.whl",
        "x-1.0.zip",
        "x-1.0.tar.gz",
    )
    assert choose(files, BOOKWORM).filename == "x-1.0.tar.gz"  # type: ignore[union-attr]


def test_trixie_accepts_newer_manylinux_than_bookworm() -> None:
    files = _files("x-1.0-cp313-cp313-manylinux_2_39_x86_64.whl")
    assert choose(files, targets.lookup("trixie")) is not None
    assert choose(files, BOOKWORM) is None
