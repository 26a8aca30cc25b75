"""The command line's words: global options, commands and their arguments."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from venvpkg import __version__
from venvpkg.cli import commands as handlers
from venvpkg.config import BACKENDS


def _global_options(defaults: bool) -> argparse.ArgumentParser:
    """Options accepted before and after the command name."""
    # The copy on each command uses SUPPRESS so it does not overwrite a value given earlier.
    default = None if defaults else argparse.SUPPRESS
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("global options")
    group.add_argument(
        "--workdir",
        dest="workdir",
        metavar="DIR",
        default=default,
        help="where caches, wheelhouses and packages go (env VENVPKG_WORKDIR; "
        "default ./venvpkg-work)",
    )
    group.add_argument(
        "--config",
        dest="config_file",
        metavar="FILE",
        default=default,
        help="settings file (default ./venvpkg.toml when present)",
    )
    group.add_argument(
        "-j",
        "--jobs",
        type=int,
        metavar="N",
        default=default,
        help="parallel jobs (default: number of cores)",
    )
    group.add_argument(
        "--index-url",
        metavar="URL",
        default=default,
        help="package index for fetching (env VENVPKG_INDEX_URL; default PyPI)",
    )
    group.add_argument(
        "--json",
        action="store_true",
        default=False if defaults else argparse.SUPPRESS,
        help="print a machine-readable summary on stdout",
    )
    group.add_argument(
        "--debug",
        action="store_true",
        default=False if defaults else argparse.SUPPRESS,
        help="show tracebacks",
    )
    group.add_argument(
        "-q", "--quiet", action="count", default=0 if defaults else argparse.SUPPRESS
    )
    group.add_argument(
        "-v", "--verbose", action="count", default=0 if defaults else argparse.SUPPRESS
    )
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="venvpkg",
        parents=[_global_options(True)],
        description="Turn OpenStack releases into Debian packages.",
    )
    parser.add_argument("--version", action="version", version=f"venvpkg {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = [_global_options(False)]

    listing = commands.add_parser("series", parents=common, help="list the OpenStack series")
    listing.set_defaults(handler=handlers.cmd_series)

    refresh = commands.add_parser(
        "update",
        parents=common,
        help="fetch fresh openstack/releases and openstack/requirements data into the workdir",
        description="Fetch openstack/releases and each series' openstack/requirements ref "
        "from git (venvpkg.toml [data] names other URLs, a mirror or a local repository); "
        "the workdir's copy then wins over the data bundled with venvpkg.",
    )
    refresh.set_defaults(handler=handlers.cmd_update)

    release = commands.add_parser(
        "release",
        parents=common,
        help="build the wheelhouse and requirements .deb of a series",
    )
    release.add_argument(
        "series", metavar="SERIES", help="number or codename, e.g. 2025.2 or flamingo"
    )
    _target_option(release)
    release.add_argument(
        "--projects",
        metavar="P,...",
        help="only the dependency closure of these projects (NAME or NAME==VERSION)",
    )
    release.add_argument(
        "--services",
        metavar="P,...",
        help="without --projects: add what these services need beyond upper-constraints "
        "(default: every service of the series; 'none': upper-constraints alone)",
    )
    release.add_argument(
        "--requirements",
        metavar="SRC",
        help="openstack/requirements checkout or git URL[@REF] (default: bundled)",
    )
    release.add_argument(
        "--allow-missing",
        action="store_true",
        help="pack what builds and record the pins that do not",
    )
    release.add_argument("--dry-run", action="store_true", help="print the plan and stop")
    release.set_defaults(handler=handlers.cmd_release)

    chroots = commands.add_parser(
        "chroot", parents=common, help="create, update, list or remove clean build chroots"
    )
    chroots.add_argument("action", choices=["create", "update", "list", "remove"])
    chroots.add_argument("dists", metavar="DIST", nargs="*", help="e.g. bookworm trixie")
    chroots.set_defaults(handler=handlers.cmd_chroot)

    for name, handler, text in (
        ("debianize", handlers.cmd_debianize, "render the debian/ source package of a project"),
        ("build", handlers.cmd_build, "debianize projects and build their .debs"),
    ):
        command = commands.add_parser(name, parents=common, help=text)
        if name == "build":
            command.add_argument(
                "projects", metavar="PROJECT", nargs="+", help="OpenStack deliverable names"
            )
            command.add_argument(
                "--backend",
                choices=BACKENDS,
                help="sbuild: a clean chroot, network cut (default); host: this machine",
            )
            command.add_argument(
                "--verify-reproducible",
                action="store_true",
                help="build twice and fail unless the .debs are bit-identical",
            )
            command.add_argument(
                "--rebuild", action="store_true", help="build even when nothing changed"
            )
        else:
            command.add_argument("project", metavar="PROJECT", help="OpenStack deliverable name")
            command.add_argument(
                "--git",
                metavar="DIR",
                type=Path,
                help="also commit debian/ to branch debian/DIST-SERIES of this packaging "
                "repository and tag the version (debian/90%%28.1.0-1+deb13)",
            )
        command.add_argument("--series", metavar="S", help="default: newest maintained series")
        command.add_argument("--version", metavar="V", help="default: the series' latest release")
        command.add_argument(
            "--source", metavar="SRC", help="DIR, TARBALL or GIT-URL@REF (default: PyPI sdist)"
        )
        command.add_argument(
            "--requirements",
            metavar="SRC",
            help="openstack/requirements checkout or git URL[@REF] for the requirements "
            "package when it must be made (default: bundled)",
        )
        _target_option(command)
        command.set_defaults(handler=handler)
    _ship_commands(commands, common)
    return parser


def _ship_commands(commands: Any, common: list[argparse.ArgumentParser]) -> None:
    for name, handler, text in (
        ("publish", handlers.cmd_publish, "add the built packages to the staging repository"),
        ("test", handlers.cmd_test, "install, upgrade, downgrade and purge staging's packages"),
        ("promote", handlers.cmd_promote, "copy what passed its tests from staging to production"),
        ("rollback", handlers.cmd_rollback, "restore production as it was before the last promote"),
    ):
        command = commands.add_parser(name, parents=common, help=text)
        _target_option(command)
        command.add_argument("--series", metavar="S", help="default: newest maintained series")
        if name == "publish":
            command.add_argument("debs", metavar="DEB", nargs="*", help="default: all built")
        if name == "test":
            command.add_argument("projects", metavar="PROJECT", nargs="*", help="default: all")
            command.add_argument(
                "--upgrade-from",
                metavar="SERIES",
                help="upgrade from this series' production (default: the same series)",
            )
        command.set_defaults(handler=handler)
    exporter = commands.add_parser(
        "export",
        parents=common,
        help="write a project's newest build as one bundle, for the repository's machine",
    )
    exporter.add_argument("project", metavar="PROJECT")
    _target_option(exporter)
    exporter.add_argument("--series", metavar="S", help="default: newest maintained series")
    exporter.add_argument(
        "--to", metavar="FILE", type=Path, help="default: ./DIST-SERIES-PROJECT.venvpkg.tar"
    )
    exporter.set_defaults(handler=handlers.cmd_export)
    importer = commands.add_parser(
        "import",
        parents=common,
        help="check bundles against their manifests and take them as this workdir's builds",
    )
    importer.add_argument("bundles", metavar="BUNDLE", nargs="+", type=Path)
    importer.set_defaults(handler=handlers.cmd_import)
    _farm_commands(commands, common)
    chain = commands.add_parser(
        "pipeline", parents=common, help="release, debianize, build, publish, test and promote"
    )
    chain.add_argument("series", metavar="SERIES")
    chain.add_argument("projects", metavar="PROJECT", nargs="*")
    chain.add_argument(
        "--all", action="store_true", help="every service of the series, from a full release"
    )
    _target_option(chain)
    chain.add_argument("--backend", choices=BACKENDS, help="default: sbuild")
    chain.set_defaults(handler=handlers.cmd_pipeline)

    watcher = commands.add_parser(
        "watch",
        parents=common,
        help="rebuild, test and promote what changed upstream, once or every --interval",
        description="Each round: venvpkg update, then compare what watch last shipped for "
        "each dist and series with upstream (new point releases on the index, the series' "
        "requirements, venvpkg's code and templates, site settings) and run the pipeline "
        "for exactly what changed. One watch per workdir.",
    )
    watcher.add_argument(
        "series", metavar="SERIES", nargs="*", help="default: every one watched or published"
    )
    watcher.add_argument(
        "--projects", nargs="+", metavar="PROJECT", help="default: those watched or published"
    )
    _target_option(watcher)
    watcher.add_argument("--backend", choices=BACKENDS, help="default: sbuild")
    watcher.add_argument("--once", action="store_true", help="one round, then exit")
    watcher.add_argument(
        "--interval", default="1h", help="time between rounds: 90s, 30m, 1h, 1d (default 1h)"
    )
    watcher.add_argument(
        "--no-update",
        dest="refresh",
        action="store_false",
        help="decide from the data in use, without venvpkg update first",
    )
    watcher.add_argument(
        "--dry-run",
        action="store_true",
        help="say what one round would rebuild and why; build and record nothing",
    )
    watcher.add_argument(
        "--shipped",
        action="store_true",
        help="record the named projects as shipped from their newest build in this workdir "
        "(a Buildbot master, after promoting a worker's build); build nothing",
    )
    watcher.set_defaults(handler=handlers.cmd_watch)


def _farm_commands(commands: Any, common: list[argparse.ArgumentParser]) -> None:
    farm = commands.add_parser("buildbot", help="a Buildbot farm that builds what changed")
    actions = farm.add_subparsers(dest="action", metavar="ACTION", required=True)
    init = actions.add_parser(
        "init",
        parents=common,
        help="write a Buildbot master (master.cfg, venvpkg.toml) into a new directory",
        description="Its builders are the pipeline's stages per dist, series and project; "
        "its poller runs venvpkg watch --dry-run; workers build, the master publishes, "
        "tests and promotes. Start it with: buildbot start DIR",
    )
    init.add_argument("directory", metavar="DIR", type=Path)
    init.add_argument("--series", nargs="+", required=True, metavar="S", help="e.g. 2025.2")
    init.add_argument("--projects", nargs="+", required=True, metavar="PROJECT")
    _target_option(init)
    init.add_argument(
        "--workers",
        nargs="+",
        default=["worker1", "worker2"],
        metavar="NAME",
        help="worker names (default: worker1 worker2)",
    )
    init.add_argument("--backend", choices=BACKENDS, default="sbuild", help="default: sbuild")
    init.add_argument("--interval", default="1h", help="between two polls (default 1h)")
    init.add_argument("--port", type=int, default=9989, help="for workers (default 9989)")
    init.add_argument("--www-port", type=int, default=8010, help="web UI (default 8010)")
    init.add_argument(
        "--worker-venvpkg",
        default="venvpkg",
        metavar="COMMAND",
        help="how workers run venvpkg (default: venvpkg, from the worker's PATH)",
    )
    init.set_defaults(handler=handlers.cmd_buildbot)


def _target_option(command: argparse.ArgumentParser) -> None:
    # README and `venvpkg series` say "target"; --dist stays for scripts written before.
    command.add_argument(
        "--target",
        "--dist",
        dest="target",
        metavar="DIST",
        help="Debian release (default: per series)",
    )
