#!/usr/bin/env python3
"""Every service of a series, debianized and built: which work, how long, how big.

Debianizes each project on its own (one failure must not hide the others), builds all
that debianized with `venvpkg build -j N` (sbuild unless --backend host), and prints a
table (service, packages, build time, .deb size, result) with the total wall time.
With --serial it then rebuilds them one at a time in the same run (--rebuild -j 1) and
prints the parallel wall time against the sum of the serial build times. Run as root
on a workdir where `venvpkg release SERIES` made the series' requirements package:

    python benchmarks/coverage.py --workdir W --series 2025.2 --target trixie -j 2
    python benchmarks/coverage.py --workdir W --series 2025.2 octavia aodh --rebuild --serial
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import timing

from venvpkg import projects, series


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--series", default="2025.2")
    parser.add_argument("--target", help="Debian release (default: the series')")
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument("--backend", default="sbuild", choices=["sbuild", "host"])
    parser.add_argument("--serial", action="store_true", help="also build one at a time")
    parser.add_argument("--rebuild", action="store_true", help="build even what is cached")
    parser.add_argument("projects", nargs="*", help="default: every service deliverable")
    args = parser.parse_args()
    chosen = series.lookup(args.series)
    names = args.projects or [p.name for p in projects.services(chosen)]
    where = ["--series", chosen.id] + (["--target", args.target] if args.target else [])
    began = time.monotonic()
    failed: dict[str, str] = {}
    for name in names:
        _elapsed, code, _summary, stderr = timing.run(args.workdir, "debianize", name, *where)
        if code:
            failed[name] = "debianize: " + _last_line(stderr)
        print(f"debianize {name}: {'ok' if not code else failed[name]}", file=sys.stderr)
    ready = [n for n in names if n not in failed]
    build = ["build", *ready, *where, "--backend", args.backend]
    again = ["--rebuild"] if args.rebuild else []
    wall, _code, summary, stderr = timing.run(args.workdir, "-j", str(args.jobs), *build, *again)
    builds = {b["project"]: b for b in summary.get("builds", [])}
    rows = [_row(name, builds.get(name), failed.get(name, "")) for name in names]
    _print(rows, f"{chosen.label}, {args.target or 'default target'}, -j {args.jobs}")
    ok = sum(1 for r in rows if r[4] in ("built", "cached"))
    total = time.monotonic() - began
    print(f"\n{ok} of {len(names)} built; build wall time {wall:.0f} s with -j {args.jobs}")
    print(f"total wall time {total:.0f} s (debianize included)")
    if args.serial and ready:
        _elapsed, _code, serial, _err = timing.run(args.workdir, "-j", "1", *build, "--rebuild")
        alone = {b["project"]: float(b["seconds"]) for b in serial.get("builds", [])}
        sum_serial = sum(alone.values())
        print("serial build times: " + ", ".join(f"{n} {s:.0f} s" for n, s in alone.items()))
        print(
            f"serial: sum of build times {sum_serial:.0f} s; -j {args.jobs} wall "
            f"{wall:.0f} s = {wall / sum_serial:.2f}x of it"
        )


def _row(name: str, build: dict[str, Any] | None, failure: str) -> list[str]:
    if build is None:
        return [name, "-", "-", "-", failure or "not built"]
    debs = [Path(d) for d in build.get("debs", [])]
    size = sum(d.stat().st_size for d in debs if d.exists()) / 1e6
    return [
        name,
        str(len(debs)),
        f"{float(build['seconds']):.0f} s",
        f"{size:.1f} MB",
        str(build["status"])
        if build["status"] != "failed"
        else f"failed: {build.get('error', '')}",
    ]


def _print(rows: list[list[str]], title: str) -> None:
    header = ["service", "packages", "build time", ".deb size", "result"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    print(title)
    for row in [header, *rows]:
        cells = [row[i].ljust(widths[i]) for i in range(4)] + [row[4][:100]]
        print("  ".join(cells))


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else "failed"


if __name__ == "__main__":
    main()
