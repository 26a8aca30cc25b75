#!/usr/bin/env python3
"""Time `venvpkg watch` against `venvpkg pipeline`, measured in the same run.

PyPI is served through a proxy on 127.0.0.1 that hides one project's newest release in
the series (keystone 28.1.0 for 2025.2), so that release can "come out" mid-benchmark:

1. watch --once in a new workdir: the first round ships the projects (cold, for scale);
2. watch --once again: nothing changed (target < 5 s);
3. the release is revealed; the workdir is copied; in one copy watch --once rebuilds,
   tests and promotes that project, in the other `venvpkg pipeline SERIES PROJECT` does
   the same from the same state, the obvious way (target: watch <= 1.2x pipeline).

Run as root on bookworm; every round runs `venvpkg update` against --releases and
--requirements (opendev by default; a mirror where opendev is out of reach):

    python benchmarks/watch.py [--releases URL --requirements URL] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import json
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import requests
from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename
from timing import run, venvpkg

PYPI = "https://pypi.org/simple/"
JSON_PAGE = "application/vnd.pypi.simple.v1+json"
SIX = ("keystone", "nova", "glance", "neutron", "cinder", "placement")


def _version(filename: str) -> tuple[str, str] | None:
    try:
        parse = parse_wheel_filename if filename.endswith(".whl") else parse_sdist_filename
        name, version = parse(filename)[:2]
    except ValueError:
        return None
    return canonicalize_name(name), str(version)


# (name, version) whose files the proxy leaves out.
HIDDEN: set[tuple[str, str]] = set()


class Hiding(http.server.BaseHTTPRequestHandler):
    """PyPI's JSON project pages without the hidden (name, version) files."""

    def do_GET(self) -> None:
        upstream = requests.get(
            PYPI + self.path.split("/simple/", 1)[-1], headers={"Accept": JSON_PAGE}, timeout=60
        )
        body = upstream.content
        if upstream.ok:
            page = upstream.json()
            page["files"] = [f for f in page["files"] if _version(f["filename"]) not in HIDDEN]
            body = json.dumps(page).encode()
        self.send_response(upstream.status_code)
        self.send_header("Content-Type", JSON_PAGE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def proxy() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hiding)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple/"
    finally:
        server.shutdown()


def watch(workdir: Path, config: Path, url: str, *args: str) -> tuple[float, list[dict]]:
    seconds, rounds = venvpkg(
        workdir, "--config", str(config), "--index-url", url, "watch", "--once", *args
    )
    return seconds, list(rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--releases", default="https://opendev.org/openstack/releases")
    parser.add_argument("--requirements", default="https://opendev.org/openstack/requirements")
    parser.add_argument("--series", default="2025.2")
    parser.add_argument("--target", default="trixie")
    parser.add_argument("--projects", default=",".join(SIX))
    parser.add_argument("--release", default="keystone==28.1.0", help="NAME==VERSION to reveal")
    parser.add_argument("--workdir", type=Path, help="default: a new temporary directory")
    options = parser.parse_args()
    workdir = (options.workdir or Path(tempfile.mkdtemp(prefix="venvpkg-watch-"))).absolute()
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir.parent / f"{workdir.name}.toml"
    config.write_text(
        f'[data]\nreleases = "{options.releases}"\nrequirements = "{options.requirements}"\n'
    )
    projects = [p for p in options.projects.split(",") if p]
    name, version = options.release.split("==")
    HIDDEN.add((canonicalize_name(name), version))
    where = [options.series, "--target", options.target]
    with proxy() as url:
        first, rounds = watch(workdir, config, url, *where, "--projects", *projects)
        print(
            f"first round, {len(projects)} projects shipped: {first:8.1f} s  {rounds[0]['rebuilt']}"
        )
        noop, rounds = watch(workdir, config, url, *where)
        assert not rounds[0]["rebuilt"], rounds
        print(f"no-op round:                      {noop:8.2f} s  (target < 5)")
        HIDDEN.clear()
        baseline = workdir.with_name(f"{workdir.name}-pipeline")
        shutil.rmtree(baseline, ignore_errors=True)
        subprocess.run(["cp", "-a", "--reflink=auto", str(workdir), str(baseline)], check=True)
        seconds, rounds = watch(workdir, config, url, *where)
        print(f"{name} {version} out, watch:         {seconds:8.1f} s  {rounds[0]['decisions']}")
        alone, code, _summary, stderr = run(
            baseline,
            "--config",
            str(config),
            "--index-url",
            url,
            "pipeline",
            options.series,
            name,
            "--target",
            options.target,
        )
        if code:
            raise SystemExit(f"pipeline failed:\n{stderr[-3000:]}")
        print(f"the same by venvpkg pipeline {name}:  {alone:8.1f} s")
        print(f"watch / pipeline: {seconds / alone:.2f}x  (target <= 1.2)")


if __name__ == "__main__":
    main()
