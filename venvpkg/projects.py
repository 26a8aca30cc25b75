"""OpenStack deliverables per series, from the bundled openstack/releases data."""

from __future__ import annotations

import csv
import difflib
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from venvpkg.errors import UsageError
from venvpkg.series import Series

# Deliverables whose PyPI distribution name differs from the deliverable name.
PYPI_NAMES = {
    "placement": "openstack-placement",
    "heat": "openstack-heat",
    "cyborg": "openstack-cyborg",
    "skyline-apiserver": "skyline-apiserver",
}


@dataclass(frozen=True)
class Project:
    """A deliverable of one series."""

    name: str
    kind: str
    latest: str

    @property
    def pypi_name(self) -> str:
        return PYPI_NAMES.get(self.name, self.name)

    @property
    def version(self) -> Version | None:
        """The latest release of the series, or None where only an end-of-life tag is known."""
        try:
            return Version(self.latest)
        except InvalidVersion:
            return None


@cache
def _deliverables() -> dict[str, dict[str, Project]]:
    text = resources.files("venvpkg").joinpath("data", "openstack-releases", "deliverables.tsv")
    by_series: dict[str, dict[str, Project]] = {}
    for row in csv.DictReader(io.StringIO(text.read_text()), delimiter="\t"):
        by_series.setdefault(row["series"], {})[row["deliverable"]] = Project(
            row["deliverable"], row["type"], row["latest_version"]
        )
    return by_series


def lookup(series: Series, name: str) -> Project:
    """A deliverable of `series` by deliverable or PyPI name."""
    known = _deliverables().get(series.codename, {})
    wanted = canonicalize_name(name)
    for project in known.values():
        if wanted in (canonicalize_name(project.name), canonicalize_name(project.pypi_name)):
            return project
    close = difflib.get_close_matches(name, list(known), n=3)
    hint = f"did you mean {', '.join(close)}?" if close else "check the deliverable name"
    raise UsageError(f"unknown project {name!r} in {series.label}", hint)
