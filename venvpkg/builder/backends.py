"""Where a .dsc becomes .debs: a clean sbuild chroot with the network cut, or this host.

Both take the same small interface, so the build stage (and git-buildpackage-like
settings: [build] backend) chooses one without knowing how it works.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from venvpkg import chroot, runner, sysdeps, targets
from venvpkg.config import Settings
from venvpkg.errors import BuildFailed, CommandFailed, ToolMissing
from venvpkg.progress import Display
from venvpkg.records import ReleaseRecord
from venvpkg.scratch import private_dir, require_passable, scratch_dir

# What the debian/ trees we render need on the build host, besides the requirements .deb.
HOST_TOOLS = ["dpkg-dev", "debhelper", "dh-virtualenv", "fakeroot", "lintian"]
# What dpkg-buildpackage -b leaves beside the tree.
OUTPUTS = (".deb", ".buildinfo", ".changes")


class Backend(Protocol):
    """Builds one source package into .debs in an empty directory."""

    @property
    def name(self) -> str: ...

    @property
    def identity(self) -> str:
        """What a build's outputs depend on besides the .dsc (the chroot's sha256)."""
        ...

    def build(self, dsc: Path, source: str, output: Path, logs: Path) -> None: ...


def make_backend(
    name: str, release: ReleaseRecord, settings: Settings, display: Display
) -> Backend:
    """The backend `name`, ready for every build of one release (dist and series)."""
    if name == "host":
        targets.require_host_can_build(targets.lookup(release.dist))
        _require_build_depends(release, settings.paths.log("build-host-apt.log"))
        return HostBackend(str(_build_place(release, settings)))
    chroot.require_tools()
    chroot.require_subids(display)
    found = chroot.ensure(release.dist, settings, display)
    # Each concurrent build unpacks the chroot too.
    unpack = _build_place(release, settings, found.record["size"])
    require_passable(unpack)
    return SbuildBackend(found, release.deb, str(unpack))


def _build_place(release: ReleaseRecord, settings: Settings, chroot_size: int = 0) -> Path:
    """The scratch place for every build of this run: each installs the wheelhouse (and
    unpacks a chroot of `chroot_size` bytes) there. Chosen once, so -j builds do not
    scatter to disk as the first ones fill the tmpfs."""
    need = chroot_size + 4 * release.deb.stat().st_size + (1 << 30)
    return scratch_dir(settings.build.scratch, need * settings.jobs)


@dataclass(frozen=True)
class HostBackend:
    """dpkg-buildpackage on this machine; the requirements package must be installed.

    The tree is unpacked and built in the scratch place (a tmpfs with room), as sbuild's
    chroots are: a venv is thousands of files, written, stripped, hashed and packed, and
    on this project's test machine keystone's build takes 13 s there against 20 s on disk.
    """

    unpack: str
    name: str = "host"

    @property
    def identity(self) -> str:
        return "host"

    def build(self, dsc: Path, source: str, output: Path, logs: Path) -> None:
        log = logs / "build.log"
        with private_dir(self.unpack, 0, "build") as place:
            tree = place / source
            runner.run(["dpkg-source", "-x", dsc, tree], log=log)
            runner.run(
                ["dpkg-buildpackage", "-b", "--no-sign"],
                cwd=tree,
                log=log,
                env=dict(os.environ, DEB_BUILD_OPTIONS="parallel=1"),
                timeout=7200,
            )
            for made in place.iterdir():
                if made.suffix in OUTPUTS:
                    shutil.move(made, output / made.name)


@dataclass(frozen=True)
class SbuildBackend:
    """sbuild in unshare mode: network cut for the build, the requirements .deb as input."""

    chroot: chroot.Chroot
    requirements: Path
    unpack: str
    environment: dict[str, str] = field(
        default_factory=lambda: dict(os.environ, DEB_BUILD_OPTIONS="parallel=1")
    )
    name: str = "sbuild"

    @property
    def identity(self) -> str:
        return self.chroot.sha256

    def build(self, dsc: Path, source: str, output: Path, logs: Path) -> None:
        chroot.verify(self.chroot)
        log = logs / "sbuild.log"
        start = log.stat().st_size if log.exists() else 0
        with private_dir(self.unpack, 0, "sbuild") as unpack:
            env = dict(self.environment, SBUILD_CONFIG=str(_sbuildrc(unpack)))
            try:
                runner.run(self._command(dsc, source, output), log=log, env=env, timeout=7200)
            except CommandFailed as error:
                raise _sbuild_failure(source, log, start, error) from None

    def _command(self, dsc: Path, source: str, output: Path) -> list[str | os.PathLike[str]]:
        found = self.chroot
        return [
            "sbuild",
            "--chroot-mode=unshare",
            f"--chroot={found.tarball}",
            f"--dist={found.dist}",
            f"--arch={found.arch}",
            "--arch-all",
            "--arch-any",
            "--no-source",
            f"--build-dir={output}",
            # A fixed path: nothing built may depend on where the build ran.
            f"--build-path=/build/{source}",
            f"--extra-package={self.requirements}",
            "--no-apt-upgrade",
            "--no-apt-distupgrade",
            "--no-run-lintian",
            "--no-run-piuparts",
            "--no-run-autopkgtest",
            "--no-source-only-changes",
            "--bd-uninstallable-explainer=apt",
            "--nolog",
            dsc,
        ]


def _sbuildrc(unpack: Path) -> Path:
    """sbuild's configuration for one build: it unpacks the chroot into `unpack`."""
    template = str(unpack / "chroot.XXXXXXXXXX").replace("\\", "\\\\").replace("'", "\\'")
    config = unpack / "sbuildrc"
    # sbuild reads ~/.sbuildrc; our builds must not depend on what the user keeps there.
    config.write_text(
        "# venvpkg passes every other setting on the command line.\n"
        f"$unshare_tmpdir_template = '{template}';\n1;\n"
    )
    return config


def _sbuild_failure(source: str, log: Path, start: int, error: CommandFailed) -> BuildFailed:
    """Name the failing step and the lines that say why, not the whole log."""
    text = runner.output_since(log, start)
    stage = next(iter(re.findall(r"^Fail-Stage: (\S+)", text, re.MULTILINE)), "")
    reasons = [
        line.strip()[:240]
        for line in text.splitlines()
        if re.match(r"\s*(E: |make(\[\d+\])?: \*\*\*|[\w.-]+: error: |ERROR|error:)", line)
    ]
    where = f" at stage {stage}" if stage else ""
    return BuildFailed(
        f"{source} failed in sbuild{where}", f"see {log}", reasons[-8:] or error.tail[-8:]
    )


def _require_build_depends(release: ReleaseRecord, log: Path) -> None:
    """The requirements .deb at the exact version the tree names, and the host tools."""
    sysdeps.ensure_installed(HOST_TOOLS, log, install=True)
    installed = runner.capture(
        ["dpkg-query", "-W", "-f", "${Version}", release.package], ok_codes=(0, 1)
    ).strip()
    if installed == release.version and _installed_as_packed(release):
        return
    if os.geteuid() != 0:
        raise ToolMissing(
            f"{release.package} {release.version} is not installed (Build-Depends)",
            f"run: apt-get install {release.deb}",
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    runner.run(
        [
            "apt-get", *sysdeps.APT_WAIT, "install", "-y", "--no-install-recommends",
            "--allow-downgrades",
            "--reinstall", release.deb,
        ],
        log=log,
        env=env,
    )  # fmt: skip
    if not _installed_as_packed(release):
        raise BuildFailed(
            f"the installed {release.package} {release.version} is not {release.deb}",
            f"see {log}",
            [],
        )


def _installed_as_packed(release: ReleaseRecord) -> bool:
    """The installed files are those of the .deb the build was planned with, byte for byte
    (by their md5sums): a package of the same version from another workdir is not."""
    control = runner.capture(
        ["dpkg-query", "--control-path", release.package, "md5sums"], ok_codes=(0, 1)
    ).strip()
    if not control or not Path(control).is_file():
        return False
    packed = runner.capture(["dpkg-deb", "--info", release.deb, "md5sums"])
    return sorted(Path(control).read_text().splitlines()) == sorted(packed.splitlines())
