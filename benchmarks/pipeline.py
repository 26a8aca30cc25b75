#!/usr/bin/env python3
"""Time `venvpkg pipeline` cold and re-run, and each stage's share of the cold run.

Cold means a new workdir: the wheelhouse is fetched and built, the chroots are made, the
packages built, published, tested and promoted. The re-run has nothing to do (target <
10 s). Run as root on bookworm:

    python benchmarks/pipeline.py --series 2025.2 --projects keystone [--workdir DIR]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from timing import venvpkg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", default="2025.2")
    parser.add_argument("--projects", default="keystone")
    parser.add_argument("--workdir", type=Path, help="default: a new temporary directory")
    options = parser.parse_args()
    workdir = (options.workdir or Path(tempfile.mkdtemp(prefix="venvpkg-bench-"))).absolute()
    projects = [p for p in options.projects.split(",") if p]

    cold, summary = venvpkg(workdir, "pipeline", options.series, *projects)
    again, rerun = venvpkg(workdir, "pipeline", options.series, *projects)
    stages = summary["seconds"]
    print(f"pipeline {options.series} {' '.join(projects)} in {workdir}")
    print(f"cold      {cold:8.1f} s")
    for stage, seconds in stages.items():
        print(f"  {stage:<10} {seconds:8.1f} s  {100 * seconds / cold:5.1f} %")
    print(f"  start-up and report {cold - sum(stages.values()):8.1f} s")
    print(f"re-run    {again:8.2f} s  (target < 10)")
    for stage, seconds in rerun["seconds"].items():
        print(f"  {stage:<10} {seconds:8.2f} s")
    statuses = sorted({b["status"] for b in rerun["builds"]})
    print(f"re-run builds: {', '.join(statuses)}; tests: {rerun['tests']}")


if __name__ == "__main__":
    main()
