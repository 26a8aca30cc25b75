#!/usr/bin/env python3
"""venv-PROJECT with venvpkg's recipe against stock dh-virtualenv, measured in one run.

Stock: the same debian/ tree with `dh $@ --with python-virtualenv` and only the flags an
offline build needs, plus the one override without which it fails on manylinux wheels
(dh_dwz); so dh_strip, dh_strip_nondeterminism, dh_shlibdeps over everything, pip's own
byte-compilation and xz -6 all run. uv: venvpkg's recipe with uv (from PyPI) as the
installer dh_virtualenv runs instead of pip, built twice to see whether its packages stay
bit-identical, and checked by lintian. Prints the build time and .deb size ratios, and the
start-up time of PROJECT-manage --help from the installed package against the same from a
pip-installed venv. Run as root after `venvpkg release SERIES --projects PROJECT` and
`venvpkg debianize PROJECT`:

    python benchmarks/build.py --workdir venvpkg-work --project keystone --series 2025.2
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import timing
from debian.debian_support import Version

from venvpkg import lintian, records
from venvpkg.errors import VenvpkgError
from venvpkg.records import ReleaseRecord
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
# dh_virtualenv runs `VENV/bin/python TOOL install --log=F ARGS`; an absolute TOOL is used
# as it is. uv compiles no bytecode unless asked and keeps no pip log.
UV_TOOL = """#!/usr/bin/python3
import os, sys
args = [a for a in sys.argv[2:] if not a.startswith("--log=") and a != "--no-compile"]
uv = os.environ["VENVPKG_UV"]
fixed = ["--python", sys.executable, "--no-config", "--offline", "--no-cache", "--link-mode=copy"]
os.execv(uv, [uv, "pip", "install", *fixed, *args])
"""
# What uv leaves that pip does not: a timestamp per installed wheel (uv_cache.json, in
# RECORD), its lock file, and the empty *.libs directories some wheels list.
UV_CLEANUP = """\tfind $(VENV)/lib -path '*.dist-info/uv_cache.json' | while read -r f; do \\
\t\tsed -i '/\\/uv_cache\\.json,/d' "$${f%/*}/RECORD" && rm "$$f"; done
\trm -f $(VENV)/.lock
\tfind $(VENV)/lib -type d -empty -name '*.libs' -delete
"""
ENV = timing.ENV | {"DEBIAN_FRONTEND": "noninteractive"}


def build(dsc: Path, scratch: Path, variant: str, project: str) -> tuple[float, Path]:
    """Build one variant (ours, uv or stock) of the source; its time and venv .deb."""
    tree = scratch / "tree"
    scratch.mkdir(parents=True)
    subprocess.run(["dpkg-source", "-x", dsc, tree], check=True, capture_output=True)
    env = ENV
    if variant == "uv":
        env = ENV | {"VENVPKG_UV": str(uv_binary(scratch.parent))}
        _use_uv(tree)
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


def _use_uv(tree: Path) -> None:
    tool = tree / "debian/uv-pip"
    tool.write_text(UV_TOOL)
    tool.chmod(0o755)
    rules = tree / "debian/rules"
    flag = "--extra-pip-arg=--no-compile"
    text = rules.read_text().replace(flag, f"{flag} --pip-tool $(CURDIR)/debian/uv-pip")
    anchor = "\tinstall -D -m 0644 debian/requirements.lock"
    rules.write_text(text.replace(anchor, UV_CLEANUP + anchor, 1))


def uv_binary(scratch: Path) -> Path:
    """The newest uv from PyPI, unpacked once per run (timed apart from the builds)."""
    found = scratch / "uv-tool"
    binaries = list(found.glob("uv-*.data/scripts/uv"))
    if binaries:
        return binaries[0]
    download = ["pip", "download", "-q", "--no-deps", "--only-binary=:all:", "-d", str(found), "uv"]
    subprocess.run([sys.executable, "-m", *download], check=True, env=ENV)
    wheel = next(found.glob("uv-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        member = next(n for n in archive.namelist() if n.endswith(".data/scripts/uv"))
        binary = Path(archive.extract(member, found))
    binary.chmod(0o755)
    return binary


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
    options = parser.parse_args()
    src = options.workdir.absolute() / "src" / f"{options.dist}-{options.series}"
    # Newest by Debian version: a plain sort puts revision 10 before 9.
    dsc = max(
        src.glob(f"venv-{options.project}_*.dsc"), key=lambda p: Version(p.stem.split("_")[1])
    )
    scratch = Path(tempfile.mkdtemp(prefix="venvpkg-bench-build-"))
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
        uv_binary(scratch)
        ours_time, ours = build(dsc, scratch / "ours", "ours", options.project)
        uv_time, uv = build(dsc, scratch / "uv", "uv", options.project)
        # Bit-identical at the same build path, as venvpkg's sbuild builds run
        # (--build-path): RECORD holds the digest of each script as the installer wrote
        # it, shebang and path included, before dh_virtualenv rewrites the shebangs.
        first = scratch / f"first-{uv.name}"
        shutil.move(uv, first)
        shutil.rmtree(scratch / "uv")
        _again, uv_again = build(dsc, scratch / "uv", "uv", options.project)
        uv = first
        stock_time, stock = build(dsc, scratch / "stock", "stock", options.project)
        identical = uv.read_bytes() == uv_again.read_bytes()
        uv_lintian = lintian_verdict(uv_again)
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
        print(f"venv-{options.project} from {dsc.name}")
        print(f"build, venvpkg recipe   {ours_time:7.1f} s   {ours.stat().st_size / 1e6:6.1f} MB")
        print(f"build, recipe + uv      {uv_time:7.1f} s   {uv.stat().st_size / 1e6:6.1f} MB")
        print(f"build, stock            {stock_time:7.1f} s   {stock.stat().st_size / 1e6:6.1f} MB")
        print(f"  ratio build time      {ours_time / stock_time:7.2f}  (target <= 0.15)")
        against = f"(against pip {uv_time / ours_time:.2f})"
        print(f"  ratio with uv         {uv_time / stock_time:7.2f}  {against}")
        same = "bit-identical" if identical else "DIFFER"
        print(f"  uv: two builds {same}; lintian {uv_lintian}")
        size_ratio = ours.stat().st_size / stock.stat().st_size
        print(f"  ratio .deb size       {size_ratio:7.2f}  (target <= 1.0)")
        print(f"{tool} --help, package  {packaged * 1000:7.0f} ms")
        print(f"{tool} --help, pip venv {piped * 1000:7.0f} ms")
        print(f"  ratio start-up        {packaged / piped:7.2f}  (target <= 1.1)")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
