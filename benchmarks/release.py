#!/usr/bin/env python3
"""Time `venvpkg release` against the obvious baseline, measured in the same run.

Baseline: `pip download` + `pip wheel` of the same pins, serially, no cache. Then a
no-op re-run and three re-runs that each move one pin by one release (their median
against the cold run). Prints ratios.

    python benchmarks/release.py --series 2025.2 [--projects keystone] [--jobs 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

from packaging.version import Version
from pypi_simple import PyPISimple
from timing import ENV, venvpkg

from venvpkg import series
from venvpkg.metadata import is_version


def baseline(pins: list[str], scratch: Path) -> float:
    """What a packager would do by hand: download every pin, then build wheels, serially."""
    scratch.mkdir(parents=True, exist_ok=True)
    (scratch / "pins.txt").write_text("\n".join(pins) + "\n")
    python = Path("/usr/bin/python3")
    subprocess.run([python, "-m", "venv", scratch / "venv"], check=True)
    pip = [scratch / "venv/bin/python", "-m", "pip"]
    began = time.monotonic()
    subprocess.run(
        [
            *pip,
            "download",
            "-q",
            "--no-cache-dir",
            "--no-deps",
            "-r",
            scratch / "pins.txt",
            "-d",
            scratch / "dl",
        ],
        check=True,
        env=ENV,
    )
    subprocess.run(
        [
            *pip,
            "wheel",
            "-q",
            "--no-cache-dir",
            "--no-deps",
            "--use-pep517",
            "--find-links",
            scratch / "dl",
            "-r",
            scratch / "pins.txt",
            "-w",
            scratch / "wheels",
        ],
        env=ENV,
    )
    return time.monotonic() - began


def pin_moves(source: Path, lock: Path, scratch: Path) -> list[tuple[str, Path]]:
    """Copies of the requirements, each moving one pure-Python pin by one release from the
    copy before: v -> v-1 -> v-2 -> v-1. Three moves give a median on a noisy host."""
    client = PyPISimple()
    for line in lock.read_text().splitlines():
        if "==" not in line or line.startswith("#"):
            continue
        name, version = line.split()[0].split("==")
        spelled = f"{name}==={version}\n"
        text = (source / "upper-constraints.txt").read_text()
        if spelled not in text.lower():
            continue
        page = client.get_project_page(name)
        older = sorted(
            {
                Version(p.version)
                for p in page.packages
                if p.version
                and is_version(p.version)
                and Version(p.version) < Version(version)
                and p.filename.endswith("py3-none-any.whl")
            }
        )
        if len(older) < 2:
            continue
        at = text.lower().index(spelled)
        moves, before = [], version
        for step, chosen in enumerate((older[-1], older[-2], older[-1])):
            destination = scratch / f"requirements-move{step}"
            shutil.copytree(source, destination)
            (destination / "upper-constraints.txt").write_text(
                text[:at] + f"{name}==={chosen}\n" + text[at + len(spelled) :]
            )
            moves.append((f"{name} {before} -> {chosen}", destination))
            before = str(chosen)
        return moves
    sys.exit("no pin to move")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", default="2025.2")
    parser.add_argument("--projects", default="")
    parser.add_argument("--jobs", default=str(os.cpu_count()))
    # The baseline builds with this host's Python: the release is for the host's Debian.
    parser.add_argument("--target", default="bookworm")
    options = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="venvpkg-bench-"))
    chosen = series.lookup(options.series)
    reqs = scratch / "requirements"
    bundled = resources.files("venvpkg").joinpath("data", "openstack-requirements", chosen.id)
    with resources.as_file(bundled) as directory:
        shutil.copytree(directory, reqs)
    args = [options.series, "--requirements", str(reqs), "-j", options.jobs]
    args += ["--target", options.target]
    if options.projects:
        args += ["--projects", options.projects]
    cold, summary = venvpkg(scratch / "work", "release", *args)
    where = f"{options.target}-{chosen.id}"
    wheelhouse = Path(str(summary["package"])).parents[2] / "wheelhouse" / where
    lock = wheelhouse / "requirements.lock"
    pins = [
        line.split()[0]
        for line in lock.read_text().splitlines()
        if "==" in line and not line.startswith("#")
    ]
    base = baseline(pins, scratch / "baseline")
    noop, _ = venvpkg(scratch / "work", "release", *args)
    timed = []
    for what, moved in pin_moves(reqs, lock, scratch):
        args[2] = str(moved)
        seconds, bumped = venvpkg(scratch / "work", "release", *args)
        timed.append((seconds, what, bumped))
    one = statistics.median(seconds for seconds, _, _ in timed)
    pack_time = float(summary["pack_seconds"])  # type: ignore[arg-type]
    print(
        f"series {options.series} projects={options.projects or 'all'} pins={summary['pins']} "
        f"built={summary['built']} failed={summary['failed']} jobs={options.jobs}"
    )
    print(
        f"cold release        {cold:8.1f} s  "
        f"(wheelhouse {cold - pack_time:.1f} s, pack {pack_time:.1f} s)"
    )
    print(f"baseline pip        {base:8.1f} s  (pip download + pip wheel, serial)")
    print(f"  ratio wheelhouse/baseline   {(cold - pack_time) / base:.2f}  (target <= 0.5)")
    print(f"no-op re-run        {noop:8.2f} s  (target < 5 s)")
    for seconds, what, bumped in timed:
        print(
            f"one pin moved       {seconds:8.1f} s  "
            f"({what}; fetched {bumped['fetched']}, built {bumped['built']})"
        )
    print(f"  median of {len(timed)}      {one:8.1f} s")
    target = "0.25 for one closure" if options.projects else "0.1 for the full series"
    print(f"  ratio one-pin/cold          {one / cold:.2f}  (target <= {target})")
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
