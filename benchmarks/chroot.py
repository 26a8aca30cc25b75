#!/usr/bin/env python3
"""Time clean chroot builds against their obvious baselines, measured in the same run.

1. venv-PROJECT in sbuild, including making the chroot from the mirror, against the same
   build on the host (target <= 2x).
2. Several projects with -j N against the same builds one after another (target <= 0.6x).
3. A no-op re-run of all of them (target < 5 s).

Run as root after `venvpkg release SERIES` (the host build installs its Build-Depends):

    python benchmarks/chroot.py --workdir venvpkg-work --series 2025.2 \
        --projects keystone,nova,glance,neutron,cinder,placement --jobs 2
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from timing import venvpkg


def statuses(summary: dict[str, object]) -> list[str]:
    return [str(b["status"]) for b in summary.get("builds", [])]  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("venvpkg-work"))
    parser.add_argument("--series", default="2025.2")
    parser.add_argument("--dist", default="bookworm")
    parser.add_argument("--projects", default="keystone,nova,glance,neutron,cinder,placement")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--parts",
        default="single,parallel",
        help="single (sbuild vs host), parallel (-j, then a no-op), noop (the no-op alone)",
    )
    options = parser.parse_args()
    workdir = options.workdir.absolute()
    projects = [p for p in options.projects.split(",") if p]
    common = ("--series", options.series, "--dist", options.dist)
    first = projects[0]

    parts = set(options.parts.split(","))
    if "single" in parts:
        single(workdir, first, common, options.dist)
    if "parallel" in parts:
        parallel(workdir, projects, common, options.jobs)
    elif "noop" in parts:
        venvpkg(workdir, "build", *projects, *common)  # build whatever is missing, untimed
        noop = no_op(workdir, projects, common)
        print(f"no-op re-run of all             {noop:7.2f} s  (target < 5)")


def single(workdir: Path, first: str, common: tuple[str, ...], dist: str) -> None:
    # The host build also debianizes, which is shared by both variants and not timed.
    venvpkg(workdir, "build", first, *common, "--backend", "host")
    host, _ = venvpkg(workdir, "build", first, *common, "--backend", "host", "--rebuild")
    # A first sbuild build makes its chroot from the mirror; the second finds it cached.
    venvpkg(workdir, "chroot", "remove", dist)
    cold, _ = venvpkg(workdir, "build", first, *common, "--rebuild")
    warm, _ = venvpkg(workdir, "build", first, *common, "--rebuild")
    print(f"{first}: host build                     {host:7.1f} s")
    print(f"{first}: sbuild, making the chroot      {cold:7.1f} s")
    print(f"{first}: sbuild, chroot cached          {warm:7.1f} s")
    print(f"  ratio sbuild with chroot setup / host {cold / host:5.2f}  (target <= 2)")
    print(f"  ratio sbuild / host                   {warm / host:5.2f}")


def parallel(workdir: Path, projects: list[str], common: tuple[str, ...], jobs: int) -> None:
    serial, summary = venvpkg(workdir, "-j", "1", "build", *projects, *common, "--rebuild")
    assert statuses(summary) == ["built"] * len(projects), summary
    concurrent, summary = venvpkg(
        workdir, "-j", str(jobs), "build", *projects, *common, "--rebuild"
    )
    assert statuses(summary) == ["built"] * len(projects), summary
    noop = no_op(workdir, projects, common)
    print(f"{len(projects)} projects, one after another  {serial:7.1f} s")
    print(f"{len(projects)} projects, -j {jobs}              {concurrent:7.1f} s")
    print(f"  ratio parallel / serial       {concurrent / serial:5.2f}  (target <= 0.6)")
    print(f"no-op re-run of all             {noop:7.2f} s  (target < 5)")
    print(f"  ratio no-op / -j {jobs} build       {noop / concurrent:7.4f}")


def no_op(workdir: Path, projects: list[str], common: tuple[str, ...]) -> float:
    seconds, summary = venvpkg(workdir, "build", *projects, *common)
    assert statuses(summary) == ["cached"] * len(projects), summary
    return seconds


if __name__ == "__main__":
    main()
