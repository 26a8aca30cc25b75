#!/usr/bin/env python3
"""Release every series on its default target; optionally run keystone's and nova's pipeline.

For each series: its full upper-constraints released cold in one shared workdir (the
fetched files and built wheels of one series do not serve another: each target and
branch differs), then again with nothing to do (target < 5 s). Prints pins, wheels,
wheels built from sdists, overridden and missing pins, and with --pipeline the result of
`venvpkg pipeline SERIES keystone nova`. Run as root on bookworm (other targets are built
in their roots):

    python benchmarks/series.py [--series queens,2025.2] [--pipeline] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from timing import run

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from venvpkg import series as catalog


def last_line(stderr: str) -> str:
    return (stderr.strip().splitlines() or [""])[-1]


def release_row(workdir: Path, name: str) -> list[str]:
    target = catalog.lookup(name).default_target.name
    cold, code, summary, stderr = run(workdir, "release", name, "--allow-missing")
    if code:
        return [name, target, "-", "-", "-", "-", "-", f"{cold:.0f}", "-", last_line(stderr)[:60]]
    again, _code, _summary, _last = run(workdir, "release", name, "--allow-missing")
    pins = summary["pins"]
    missing = summary["failed"]
    share = f"{100 * missing / pins:.1f} %" if pins else "-"
    return [
        name,
        target,
        str(pins),
        str(pins - missing),
        str(summary["built"]),
        str(sum(not o.startswith("build-depends") for o in summary.get("overrides", []))),
        f"{missing} ({share})",
        f"{cold:.0f}",
        f"{again:.1f}",
        "; ".join(m.split(":")[0] for m in summary["missing"])[:60],
    ]


def pipeline_result(workdir: Path, name: str) -> str:
    elapsed, code, _summary, stderr = run(workdir, "pipeline", name, "keystone", "nova")
    if code:
        return f"failed in {elapsed:.0f} s: {last_line(stderr)[:80]}"
    return f"passed in {elapsed:.0f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", help="comma-separated; default: every series")
    parser.add_argument("--pipeline", action="store_true", help="also keystone and nova")
    parser.add_argument("--workdir", type=Path, help="default: a new temporary directory")
    options = parser.parse_args()
    workdir = (options.workdir or Path(tempfile.mkdtemp(prefix="venvpkg-series-"))).absolute()
    names = options.series.split(",") if options.series else [s.id for s in catalog.catalog()]
    header = ["series", "target", "pins", "wheels", "from sdist", "overridden", "missing"]
    header += ["cold s", "no-op s", "missing pins"]
    header += ["keystone+nova pipeline"] if options.pipeline else []
    print(" | ".join(header), flush=True)
    for name in names:
        row = release_row(workdir, name)
        if options.pipeline:
            row.append(pipeline_result(workdir, name))
        print(" | ".join(row), flush=True)
    print(f"workdir: {workdir}")


if __name__ == "__main__":
    main()
