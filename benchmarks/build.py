#!/usr/bin/env python3
"""venv-PROJECT with venvpkg's recipe against stock dh-virtualenv, measured in one run.

Stock: the same debian/ tree with `dh $@ --with python-virtualenv` and only the flags an
offline build needs, plus the one override without which it fails on manylinux wheels
(dh_dwz); so dh_strip, dh_strip_nondeterminism, dh_shlibdeps over everything, pip's own
byte-compilation and xz -6 all run. venvpkg's recipe installs with uv when the
requirements package carries its wheel (`venvpkg release` adds it); it is built twice to
see that its packages stay bit-identical, and checked by lintian; the same recipe with
pip as dh_virtualenv's installer is the third build. Prints the build time and .deb size
ratios, and the start-up time of PROJECT-manage --help from the installed package against
the same from a pip-installed venv. Run as root after `venvpkg release SERIES --projects
PROJECT` and `venvpkg debianize PROJECT`:

    python benchmarks/build.py --workdir venvpkg-work --project keystone --series 2025.2

Every variant builds in the same place, the one venvpkg's own builds use (a tmpfs with
room, as `[build] scratch` chooses); --scratch DIR measures them elsewhere, e.g. on disk.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import timing
from debian.debian_support import Version

from venvpkg import lintian, records
from venvpkg.errors import VenvpkgError
from venvpkg.records import ReleaseRecord
from venvpkg.scratch import scratch_dir
from venvpkg.workdir import Workdir

STOCK_RULES = """#!/usr/bin/make -f
export PIP_CONFIG_FILE = /dev/null
unexport PIP_FIND_LINKS
export PBR_VERSION = {version}

%:
\tdh $@ --with python-virtualenv --buildsystem=none

override_dh_virtualenv:
\tdh_virtualenv --package venv-{project} --install-suffix {project} --builtin-venv \\
\t\t--python {python} --requirements debian/requirements.lock \\
\t\t--extra-pip-arg=--no-index --extra-pip-arg=--find-links={wheelhouse}

# dwz aborts on manylinux libraries ("Allocatable section after non-allocatable ones").
override_dh_dwz:
"""
# The flag that makes dh_virtualenv run uv (templates/debian/rules.j2), with its line break.
UV_FLAG = re.compile(r" \\\n\t+--pip-tool \S+")
# A venv that uv fills has no pip; one that pip fills needs it.
WITHOUT_PIP = " --extra-virtualenv-arg=--without-pip"
ENV = timing.ENV | {"DEBIAN_FRONTEND": "noninteractive"}


def build(dsc: Path, scratch: Path, variant: str, project: str) -> tuple[float, Path]:
    """Build one variant (ours, pip or stock) of the source; its time and venv .deb."""
    tree = scratch / "tree"
    scratch.mkdir(parents=True)
    subprocess.run(["dpkg-source", "-x", dsc, tree], check=True, capture_output=True)
    env = ENV
    if variant == "pip":
        rules = tree / "debian/rules"
        rules.write_text(UV_FLAG.sub("", rules.read_text()).replace(WITHOUT_PIP, ""))
    if variant == "stock":
        rules = (tree / "debian/rules").read_text()
        values = {
            "project": project,
            "version": re.search(r"PBR_VERSION = (\S+)", rules).group(1),  # type: ignore[union-attr]
            "python": re.search(r"^PYTHON = (\S+)", rules, re.M).group(1),  # type: ignore[union-attr]
            "wheelhouse": re.search(r"^WHEELHOUSE = (\S+)", rules, re.M).group(1),  # type: ignore[union-attr]
        }
        (tree / "debian/rules").write_text(STOCK_RULES.format(**values))
        for overrides in (tree / "debian").glob("*.lintian-overrides"):
            overrides.unlink()
    began = time.monotonic()
    subprocess.run(
        ["dpkg-buildpackage", "-b", "--no-sign"], cwd=tree, check=True, capture_output=True, env=env
    )
    return time.monotonic() - began, next(scratch.glob(f"venv-{project}_*.deb"))


def _rules(dsc: Path) -> str:
    """debian/rules of the source package, read from its debian tarball."""
    (debian,) = dsc.parent.glob(f"{dsc.stem}.debian.tar.*")
    listing = subprocess.run(
        ["tar", "-xOf", debian, "debian/rules"], capture_output=True, text=True, check=True
    )
    return listing.stdout


def lintian_verdict(deb: Path) -> str:
    """lintian's verdict on the venv package, as venvpkg's own check runs it."""
    try:
        return lintian.check(deb, deb.parent / "lintian.log")
    except VenvpkgError as error:
        return str(error)


def startup(first: list[str], second: list[str], runs: int = 9) -> tuple[float, float]:
    """Median wall time of two commands, run alternately so machine noise hits both."""
    for command in (first, second):
        subprocess.run(command, capture_output=True, check=False)  # warm the page cache
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs):
        for command, found in zip((first, second), times, strict=True):
            began = time.monotonic()
            subprocess.run(command, capture_output=True, check=False)
            found.append(time.monotonic() - began)
    return statistics.median(times[0]), statistics.median(times[1])


def pip_venv(scratch: Path, wheelhouse: Path, lock: Path, sdist: Path, python: str) -> Path:
    venv = scratch / "pip-venv"
    subprocess.run([python, "-m", "venv", venv], check=True)
    pip = [str(venv / "bin/python"), "-m", "pip", "install", "-q", "--no-index", "--find-links"]
    subprocess.run([*pip, str(wheelhouse), "-r", str(lock)], check=True, env=ENV)
    subprocess.run([*pip, str(wheelhouse), str(sdist)], check=True, env=ENV)
    return venv


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", type=Path, default=Path("venvpkg-work"))
    parser.add_argument("--project", default="keystone")
    parser.add_argument("--series", default="2025.2")
    parser.add_argument("--dist", default="bookworm")
    parser.add_argument("--scratch", help="where to build (default: where venvpkg builds)")
    options = parser.parse_args()
    src = options.workdir.absolute() / "src" / f"{options.dist}-{options.series}"
    # Newest by Debian version: a plain sort puts revision 10 before 9.
    dsc = max(
        src.glob(f"venv-{options.project}_*.dsc"), key=lambda p: Version(p.stem.split("_")[1])
    )
    # Four build trees of the venv (~100 MB each for keystone) and their packages.
    place = scratch_dir(options.scratch, 2 << 30)
    scratch = Path(tempfile.mkdtemp(prefix="venvpkg-bench-build-", dir=place))
    # A failed run must not leave half a gigabyte of build trees behind.
    try:
        # The requirements package is a Build-Depends of both builds.
        paths = Workdir(options.workdir.absolute()).release(options.dist, options.series)
        requirements = records.read(paths.record, ReleaseRecord.from_dict)
        assert requirements is not None, f"no requirements package in {paths.debs}: release first"
        subprocess.run(
            ["apt-get", "install", "-y", "--allow-downgrades", str(requirements.deb)],
            check=True,
            capture_output=True,
            env=ENV,
        )
        installer = "uv" if UV_FLAG.search(_rules(dsc)) else "pip"
        # The first build also warms the page cache (the wheelhouse, the toolchain): the
        # second is timed, so every variant is measured as the later ones are.
        _cold, ours = build(dsc, scratch / "ours", "ours", options.project)
        # Bit-identical at the same build path, as venvpkg's sbuild builds run
        # (--build-path): RECORD holds the digest of each script as the installer wrote
        # it, shebang and path included, before dh_virtualenv rewrites the shebangs.
        first = scratch / f"first-{ours.name}"
        shutil.move(ours, first)
        shutil.rmtree(scratch / "ours")
        ours_time, again = build(dsc, scratch / "ours", "ours", options.project)
        identical = first.read_bytes() == again.read_bytes()
        ours = first
        ours_lintian = lintian_verdict(again)
        pip_time, _pip = build(dsc, scratch / "pip", "pip", options.project)
        stock_time, stock = build(dsc, scratch / "stock", "stock", options.project)
        tool = f"{options.project}-manage"
        subprocess.run(
            ["apt-get", "install", "-y", "--allow-downgrades", ours],
            check=True,
            capture_output=True,
            env=ENV,
        )
        wheelhouse = paths.wheelhouse
        lock = Path(f"/opt/venvs/{options.project}/share/venvpkg/requirements.lock")
        sdist = next(src.glob(f"venv-{options.project}_*.orig.tar.gz"))
        venv = pip_venv(scratch, wheelhouse, lock, sdist, "/usr/bin/python3")
        packaged, piped = startup(
            [f"/opt/venvs/{options.project}/bin/{tool}", "--help"],
            [str(venv / "bin" / tool), "--help"],
        )
        # Leave the host as it was: the next benchmark or test installs its own.
        subprocess.run(
            ["dpkg", "--purge", f"venv-{options.project}", requirements.package],
            capture_output=True,
        )
        print(f"venv-{options.project} from {dsc.name}, every build in {place}")
        size = ours.stat().st_size / 1e6
        print(f"build, venvpkg ({installer:3})   {ours_time:7.1f} s   {size:6.1f} MB")
        print(f"build, venvpkg with pip {pip_time:7.1f} s")
        print(f"build, stock            {stock_time:7.1f} s   {stock.stat().st_size / 1e6:6.1f} MB")
        print(f"  ratio build time      {ours_time / stock_time:7.2f}  (target <= 0.15)")
        print(f"  ratio with pip        {pip_time / stock_time:7.2f}")
        same = "bit-identical" if identical else "DIFFER"
        print(f"  venvpkg: two builds {same}; lintian {ours_lintian}")
        size_ratio = ours.stat().st_size / stock.stat().st_size
        print(f"  ratio .deb size       {size_ratio:7.2f}  (target <= 1.0)")
        print(f"{tool} --help, package  {packaged * 1000:7.0f} ms")
        print(f"{tool} --help, pip venv {piped * 1000:7.0f} ms")
        print(f"  ratio start-up        {packaged / piped:7.2f}  (target <= 1.1)")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
