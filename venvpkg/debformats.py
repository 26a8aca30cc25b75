"""Debian's file formats, read and written with python-debian, never by string hacking.

Changelogs (dated by SOURCE_DATE_EPOCH, so a rebuild is bit-identical), .dsc and .deb
control fields, Packages and Sources indices, and reprepro's conf/distributions.
"""

from __future__ import annotations

import gzip
import os
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

from debian.arfile import ArError
from debian.changelog import Changelog
from debian.deb822 import Deb822, Dsc, Packages
from debian.debfile import DebError, DebFile

from venvpkg.errors import DataError


def source_date_epoch() -> int:
    """SOURCE_DATE_EPOCH when the caller's environment sets one, else now."""
    value = os.environ.get("SOURCE_DATE_EPOCH")
    return int(value) if value else int(time.time())


def day_epoch(day: str) -> int:
    """A YYYY-MM-DD date (a requirements commit's) as seconds since 1970, at 00:00 UTC."""
    return int(datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp())


def changelog(
    source: str, version: str, dist: str, maintainer: str, changes: Iterable[str], epoch: int
) -> str:
    """A one-entry debian/changelog, dated `epoch`: one bullet per change, whose further
    lines (after a newline) are indented under it."""
    log = Changelog()
    log.new_block(
        package=source,
        version=version,
        distributions=dist,
        urgency="medium",
        author=maintainer,
        date=format_datetime(datetime.fromtimestamp(epoch, UTC)),
    )
    log.add_change("")
    for change in changes:
        first, *rest = change.splitlines()
        log.add_change(f"  * {first}")
        for line in rest:
            log.add_change(f"    {line}")
    log.add_change("")
    return str(log)


def dsc_fields(dsc: Path) -> tuple[str, str]:
    """(Source, Version) of a .dsc."""
    with dsc.open("rb") as stream:
        fields = Dsc(stream)
    if "Source" not in fields or "Version" not in fields:
        raise DataError(f"{dsc} is not a Debian source control file", "rebuild it")
    return str(fields["Source"]), str(fields["Version"])


def deb_fields(deb: Path) -> tuple[str, str, str]:
    """(Package, Version, Architecture) of a .deb, from its control file."""
    try:
        control = DebFile(str(deb)).debcontrol()
    except (ArError, DebError, OSError, KeyError) as error:
        raise DataError(f"{deb} is not a Debian package: {error}", "rebuild it") from None
    return str(control["Package"]), str(control["Version"]), str(control["Architecture"])


def index_names(index: bytes) -> set[str]:
    """Package names in a Packages or Sources index, gzip-compressed or not."""
    text = gzip.decompress(index) if index[:2] == b"\x1f\x8b" else index
    # use_apt_pkg=False: python3-apt is not in our venv, and its absence is only warned about.
    paragraphs = Packages.iter_paragraphs(text.decode("utf-8"), use_apt_pkg=False)
    return {str(p["Package"]) for p in paragraphs if "Package" in p}


def read_stanzas(path: Path) -> list[Deb822]:
    """The paragraphs of a deb822 file (conf/distributions); none when it is absent."""
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as stream:
        return list(Deb822.iter_paragraphs(stream, use_apt_pkg=False))


def stanzas_text(stanzas: Iterable[Mapping[str, str]]) -> str:
    """deb822 paragraphs separated by one blank line, fields in the order given."""
    return "\n".join(Deb822(dict(stanza)).dump() for stanza in stanzas)
