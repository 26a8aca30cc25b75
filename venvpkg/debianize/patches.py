"""Quilt patches a project's source package carries: venvpkg's for the series, then the site's.

venvpkg ships a patch only where a release's own code cannot run on every Python the
series' targets have (nova 17 uses `async` as a name); it sits in
venvpkg/data/patches/SERIES/PROJECT/ with a DEP-3 header saying why. A site adds its own
with `[projects.NAME] patches = DIR`; a site patch with the name of a shipped one
replaces it, which is also how a site drops one (an empty file of that name).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from venvpkg.errors import UsageError

SUFFIXES = (".patch", ".diff")


@dataclass(frozen=True)
class Patch:
    name: str
    text: bytes
    origin: str

    @property
    def description(self) -> str:
        """The first line of the DEP-3 Description (or Subject) header."""
        for line in self.text.decode("utf-8", "replace").splitlines():
            if line.startswith(("---", "diff ", "Index:")):
                break
            key, _, value = line.partition(":")
            if key.strip().lower() in ("description", "subject") and value.strip():
                return value.strip()
        return "no description"


def chosen(series: str, project: str, site_directory: str | None) -> list[Patch]:
    """The series' shipped patches in name order, then the site's; same name: the site's."""
    site = _from_site(site_directory)
    replaced = {p.name for p in site}
    kept = [p for p in _shipped(series, project) if p.name not in replaced]
    return [p for p in kept + site if p.text.strip()]


def add(debian: Path, patches: list[Patch]) -> None:
    """debian/patches/ and its series file, for dpkg-source's 3.0 (quilt) format."""
    if not patches:
        return
    (debian / "patches").mkdir(exist_ok=True)
    for patch in patches:
        (debian / "patches" / patch.name).write_bytes(patch.text)
    (debian / "patches" / "series").write_text("".join(f"{p.name}\n" for p in patches))


def _shipped(series: str, project: str) -> list[Patch]:
    folder = resources.files("venvpkg").joinpath("data", "patches", series, project)
    if not folder.is_dir():
        return []
    origin = f"venvpkg's {series} patches"
    found = [p for p in folder.iterdir() if p.name.endswith(SUFFIXES)]
    return [Patch(p.name, p.read_bytes(), origin) for p in sorted(found, key=lambda p: p.name)]


def _from_site(directory: str | None) -> list[Patch]:
    if not directory:
        return []
    found = sorted(p for p in Path(directory).glob("*") if p.name.endswith(SUFFIXES))
    if not found:
        raise UsageError(f"no *.patch files in {directory}", "check [projects.NAME] patches")
    return [Patch(p.name, p.read_bytes(), f"site {directory}") for p in found]
