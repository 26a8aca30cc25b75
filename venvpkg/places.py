"""Where a command runs: this host, or a Debian release's root entered from the host.

A wheelhouse for another Debian release is compiled by that release's own python3 and
pip, so its wheels link against that release's libraries; venvpkg keeps running on the
host's Python and enters the root only for each command (apt, dpkg-query, pip wheel).
The root sees the workdir at the same path, so paths mean the same on both sides.
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from venvpkg import runner

# How the host reaches the index and the mirror: proxies, and a CA bundle when the host
# names one (a TLS-intercepting proxy's CA lives only there). A root must reach them the
# same way.
PROXY_VARIABLES = ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")
CA_VARIABLES = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "PIP_CERT", "CURL_CA_BUNDLE")
INSIDE_CA = "/etc/venvpkg/host-ca.crt"
CLEAN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Place:
    """The host (root None) or a chroot directory, with host paths visible inside it."""

    root: Path | None = None
    binds: tuple[Path, ...] = ()

    def run(
        self,
        command: runner.Command,
        *,
        log: Path,
        env: Mapping[str, str] | None = None,
        network: bool = True,
        timeout: float | None = None,
        cwd: Path | None = None,
    ) -> str:
        """runner.run here; without `network` a root gets an empty network namespace, so a
        build that reaches for the index fails instead of fetching."""
        if self.root is None:
            environment = runner.pip_environment(env)
            return runner.run(command, log=log, env=environment, timeout=timeout, cwd=cwd)
        inside = ["env", f"--chdir={cwd}", *command] if cwd else command
        wrapped = _entered(self.root, inside, self.binds, env, network)
        return runner.run(wrapped, log=log, timeout=timeout)

    def host_path(self, path: str) -> Path:
        """Where the place's absolute `path` is, seen from the host."""
        return (self.root or Path("/")) / path.lstrip("/")

    def stamps(self, *paths: str) -> str:
        """Name, size and time of each file at or under `paths` in this place: what
        changes when dpkg installs there or apt's lists or settings change."""
        stamps = []
        for path in map(self.host_path, paths):
            for file in [path] if path.is_file() else sorted(path.rglob("*")):
                if file.is_file():
                    stat = file.stat()
                    stamps.append(f"{file} {stat.st_size} {stat.st_mtime_ns}")
        return "\n".join(stamps)

    def capture(self, command: runner.Command, ok_codes: Sequence[int] = (0,)) -> str:
        """runner.capture here: the stdout of a quick query (dpkg-query, apt-cache)."""
        if self.root is not None:
            command = _entered(self.root, command, self.binds)
        return runner.capture(command, ok_codes=ok_codes)


HOST = Place()


def _entered(
    root: Path,
    command: runner.Command,
    binds: Sequence[Path] = (),
    env: Mapping[str, str] | None = None,
    network: bool = True,
) -> list[str | os.PathLike[str]]:
    """`command` chrooted in `root`, in private namespaces that die with it.

    The environment inside is clean (no host PATH, pip configuration or PYTHONPATH)
    plus `env`.
    """
    script = ["set -e", "mount --make-rprivate /"]
    for path in binds:
        inside = shlex.quote(str(root) + str(path))
        script += [f"mkdir -p {inside}", f"mount --bind {shlex.quote(str(path))} {inside}"]
    quoted = shlex.quote(str(root))
    script += [
        f"mkdir -p {quoted}/proc {quoted}/dev",
        f"mount -t proc proc {quoted}/proc",
        f"mount --rbind /dev {quoted}/dev",
        f"cat /etc/resolv.conf > {quoted}/etc/resolv.conf",
        f'exec chroot {quoted} "$@"',
    ]
    clean = {"PATH": CLEAN_PATH, "HOME": "/root", "LANG": "C.UTF-8"}
    clean |= {"DEBIAN_FRONTEND": "noninteractive", "PIP_CONFIG_FILE": "/dev/null"}
    clean |= {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    clean |= _host_network(root) if network else {}
    clean |= dict(env or {})
    namespaces = ["--mount", "--pid", "--fork", "--kill-child=SIGTERM"]
    namespaces += [] if network else ["--net"]
    wrapped: list[str | os.PathLike[str]] = ["unshare", *namespaces, "sh", "-c", "\n".join(script)]
    return [*wrapped, "sh", "env", "-i", *_assignments(clean), *command]


def _assignments(env: Mapping[str, str]) -> list[str]:
    return [f"{key}={value}" for key, value in sorted(env.items())]


def _host_network(root: Path) -> dict[str, str]:
    found = {k: os.environ[k] for k in PROXY_VARIABLES if os.environ.get(k)}
    bundle = next(
        (os.environ[k] for k in CA_VARIABLES if os.path.isfile(os.environ.get(k, ""))), ""
    )
    if bundle:
        copy = root / INSIDE_CA.lstrip("/")
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(bundle, copy)
        found |= {k: INSIDE_CA for k in CA_VARIABLES}
    return found
