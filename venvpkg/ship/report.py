"""The status report: per series, dist and project, what staging and production hold.

Written as Markdown and as a single HTML page to WORKDIR/reports/ after every command that
changes the repository, from the repository itself, the test reports and build records.
"""

from __future__ import annotations

import datetime
import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from venvpkg import records
from venvpkg.config import Settings
from venvpkg.files import atomic_write_text
from venvpkg.progress import Display
from venvpkg.records import BuildRecord, TestRecord
from venvpkg.ship import repository
from venvpkg.workdir import Workdir


@dataclass
class Row:
    codename: str
    project: str
    staging: str
    production: str
    tests: str
    build_seconds: str


def collect(repo: repository.Repository, workdir: Workdir) -> list[Row]:
    rows = []
    for codename in repository.codenames(repo):
        if codename.endswith("-staging"):
            continue
        staging = _sources(repo, f"{codename}-staging")
        production = _sources(repo, codename)
        dist, series = codename.split("-", 1)
        tested = _tests(workdir, dist, series)
        seconds = _build_seconds(workdir, dist, series)
        for source in sorted(set(staging) | set(production)):
            version = staging.get(source, "")
            rows.append(
                Row(
                    codename,
                    source.removeprefix("venv-"),
                    version or "-",
                    production.get(source, "-"),
                    tested.get((source, version), "not tested") if version else "-",
                    seconds.get(f"{source} {version}", "-"),
                )
            )
    return rows


def _sources(repo: repository.Repository, codename: str) -> dict[str, str]:
    entries = repository.listing(repo, codename).values()
    return {e.name: e.version for e in entries if e.arch == "source"}


def _tests(workdir: Workdir, dist: str, series: str) -> dict[tuple[str, str], str]:
    record = records.read(workdir.test_record(dist, series), TestRecord.from_dict)
    if record is None:
        return {}
    failed = [s.name for s in record.steps if not s.ok]
    verdict = "passed" if record.passed else "failed: " + ", ".join(failed) if failed else "failed"
    return {(name, version): verdict for name, version in record.sources.items()}


def _build_seconds(workdir: Workdir, dist: str, series: str) -> dict[str, str]:
    found = {}
    for path in workdir.release(dist, series).builds.glob("*.json"):
        record = records.read(path, BuildRecord.from_dict)
        if record is not None:
            source = path.stem.split("_")[0]
            found[f"{source} {record.version}"] = f"{record.seconds:.0f}s"
    return found


COLUMNS = ["Codename", "Project", "Staging", "Production", "Tests", "Build time"]


def decisions(log: Path, count: int = 20) -> list[list[str]]:
    """`venvpkg watch`'s newest decisions, newest first: [time, codename, decision]."""
    if not log.is_file():
        return []
    lines = log.read_text().splitlines()[-count:]
    return [line.split("\t", 2) for line in reversed(lines) if line.count("\t") >= 2]


def write(settings: Settings, display: Display) -> Path:
    """Write status.md and status.html for the repository; return the HTML page's path."""
    repo, workdir = repository.open_repository(settings, display, create=False), settings.paths
    with repo.lock(display):
        rows = collect(repo, workdir)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = workdir.reports
    watched = decisions(workdir.watch_log)
    atomic_write_text(out / "status.md", markdown(rows, stamp, repo.root, watched))
    atomic_write_text(out / "status.html", page(rows, stamp, repo.root, watched))
    return out / "status.html"


def _cells(row: Row) -> list[str]:
    return [row.codename, row.project, row.staging, row.production, row.tests, row.build_seconds]


def markdown(rows: list[Row], stamp: str, root: Path, watched: Sequence[list[str]] = ()) -> str:
    lines = [f"# venvpkg status, {stamp}", "", f"Repository: `{root}`", ""]
    lines += ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_cells(r)) + " |" for r in rows]
    if not rows:
        lines.append("Nothing published yet.")
    if watched:
        lines += ["", "## venvpkg watch, newest first", ""]
        lines += [f"- {when} {codename}: {line}" for when, codename, line in watched]
    return "\n".join(lines) + "\n"


STYLE = (
    "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:.3em .8em;text-align:left}"
    ".passed{background:#dfd}.failed{background:#fdd}.pending{background:#ffd}"
)


def page(rows: list[Row], stamp: str, root: Path, watched: Sequence[list[str]] = ()) -> str:
    def cls(row: Row) -> str:
        return (
            "passed"
            if row.tests == "passed"
            else "failed"
            if row.tests.startswith("failed")
            else "pending"
        )

    body = "".join(
        f'<tr class="{cls(r)}">'
        + "".join(f"<td>{html.escape(c)}</td>" for c in _cells(r))
        + "</tr>"
        for r in rows
    )
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    said = "".join(
        f"<li>{html.escape(when)} {html.escape(codename)}: {html.escape(line)}</li>"
        for when, codename, line in watched
    )
    watch = f"<h2>venvpkg watch, newest first</h2><ul>{said}</ul>" if said else ""
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>venvpkg status</title>"
        f"<style>{STYLE}</style></head><body><h1>venvpkg status</h1>"
        f"<p>{html.escape(stamp)} &middot; repository <code>{html.escape(str(root))}</code></p>"
        f"<table><tr>{head}</tr>{body}</table>{watch}</body></html>\n"
    )
