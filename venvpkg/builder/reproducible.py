"""Compare two builds of the same inputs: which .debs differ, and which files inside them."""

from __future__ import annotations

import contextlib
import hashlib
import io
import shutil
import tarfile
from pathlib import Path

from venvpkg import runner
from venvpkg.errors import BuildFailed, CommandFailed
from venvpkg.files import sha256_file


def differing_debs(first: list[Path], second: list[Path]) -> list[str]:
    """Names of .debs that are missing from one build or differ in their bytes."""
    a = {p.name: p for p in first}
    b = {p.name: p for p in second}
    differ = sorted(set(a) ^ set(b))
    differ += sorted(n for n in set(a) & set(b) if sha256_file(a[n]) != sha256_file(b[n]))
    return differ


def _members(deb: Path) -> dict[str, tuple[str, ...]]:
    """Each file of the .deb's control and data parts with what would make it differ."""
    found: dict[str, tuple[str, ...]] = {}
    for part in ("--ctrl-tarfile", "--fsys-tarfile"):
        raw = runner.capture_bytes(["dpkg-deb", part, deb])
        with tarfile.open(fileobj=io.BytesIO(raw)) as archive:
            for member in archive:
                digest = ""
                if member.isfile():
                    extracted = archive.extractfile(member)
                    digest = hashlib.sha256(extracted.read() if extracted else b"").hexdigest()
                prefix = "DEBIAN/" if part == "--ctrl-tarfile" else ""
                found[prefix + member.name.removeprefix("./")] = (
                    digest,
                    oct(member.mode),
                    f"{member.uname}:{member.gname}",
                    str(member.mtime),
                    member.linkname,
                )
    return found


def differing_files(first: Path, second: Path) -> list[str]:
    """Paths inside two .debs whose content, mode, owner, mtime or link target differ."""
    a, b = _members(first), _members(second)
    return sorted(name for name in set(a) | set(b) if a.get(name) != b.get(name))


def diffoscope(first: Path, second: Path, report: Path) -> Path | None:
    """A diffoscope text report when diffoscope is installed; None otherwise."""
    if shutil.which("diffoscope") is None:
        return None
    # diffoscope exits 1 when it finds differences, which is why it runs at all.
    with contextlib.suppress(CommandFailed):
        runner.run(["diffoscope", "--text", report, first, second], log=report.with_suffix(".log"))
    return report


def compare(first: list[Path], second: list[Path], logs: Path) -> str:
    differ = differing_debs(first, second)
    if not differ:
        return "identical"
    by_name = {p.name: p for p in second}
    details = []
    for name in differ:
        original = next((p for p in first if p.name == name), None)
        if original is None or name not in by_name:
            details.append(f"{name}: produced by one build only")
            continue
        files = differing_files(original, by_name[name])
        details.append(f"{name}: {', '.join(files[:10]) or 'archive metadata'}")
        report = diffoscope(original, by_name[name], logs / f"diffoscope-{name}.txt")
        if report:
            details.append(f"  diffoscope report: {report}")
    raise BuildFailed(
        f"two builds differ in {len(differ)} package(s): {', '.join(differ)}",
        "the inputs are the same, so something in the build is not reproducible",
        details,
    )
