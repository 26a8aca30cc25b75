"""Command line: argument parsing, progress display and exit codes, nothing else."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from venvpkg import __version__, chroot, debianize, pipeline, runner, series, targets
from venvpkg import build as builder
from venvpkg.config import Settings, load_settings
from venvpkg.errors import BuildFailed, UsageError, VenvpkgError
from venvpkg.progress import Display
from venvpkg.release.wheelhouse import ReleaseResult, run_release
from venvpkg.ship import publish, report
from venvpkg.ship import test as check

Handler = Callable[[argparse.Namespace, Settings, Display], int]


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
    listing.set_defaults(handler=cmd_series)

    release = commands.add_parser(
        "release",
        parents=common,
        help="build the wheelhouse and requirements .deb of a series",
    )
    release.add_argument(
        "series", metavar="SERIES", help="number or codename, e.g. 2025.2 or flamingo"
    )
    release.add_argument("--target", metavar="DIST", help="Debian release (default: per series)")
    release.add_argument(
        "--projects",
        metavar="P,...",
        help="only the dependency closure of these projects (NAME or NAME==VERSION)",
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
    release.set_defaults(handler=cmd_release)

    chroots = commands.add_parser(
        "chroot", parents=common, help="create, update, list or remove clean build chroots"
    )
    chroots.add_argument("action", choices=["create", "update", "list", "remove"])
    chroots.add_argument("dists", metavar="DIST", nargs="*", help="e.g. bookworm trixie")
    chroots.set_defaults(handler=cmd_chroot)

    for name, handler, text in (
        ("debianize", cmd_debianize, "render the debian/ source package of a project"),
        ("build", cmd_build, "debianize projects and build their .debs"),
    ):
        command = commands.add_parser(name, parents=common, help=text)
        if name == "build":
            command.add_argument(
                "projects", metavar="PROJECT", nargs="+", help="OpenStack deliverable names"
            )
            command.add_argument(
                "--backend",
                choices=builder.BACKENDS,
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
        command.add_argument("--series", metavar="S", help="default: newest maintained series")
        command.add_argument("--version", metavar="V", help="default: the series' latest release")
        command.add_argument(
            "--source", metavar="SRC", help="DIR, TARBALL or GIT-URL@REF (default: PyPI sdist)"
        )
        command.add_argument("--dist", metavar="DIST", help="Debian release (default: per series)")
        command.set_defaults(handler=handler)
    _ship_commands(commands, common)
    return parser


def _ship_commands(commands: Any, common: list[argparse.ArgumentParser]) -> None:
    for name, handler, text in (
        ("publish", cmd_publish, "add the built packages to the staging repository"),
        ("test", cmd_test, "install, upgrade, downgrade and purge staging's packages"),
        ("promote", cmd_promote, "copy what passed its tests from staging to production"),
        ("rollback", cmd_rollback, "restore production as it was before the last promote"),
    ):
        command = commands.add_parser(name, parents=common, help=text)
        command.add_argument("--dist", metavar="DIST", help="Debian release (default: per series)")
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
    chain = commands.add_parser(
        "pipeline", parents=common, help="release, debianize, build, publish, test and promote"
    )
    chain.add_argument("series", metavar="SERIES")
    chain.add_argument("projects", metavar="PROJECT", nargs="+")
    chain.add_argument("--dist", metavar="DIST", help="Debian release (default: per series)")
    chain.add_argument("--backend", choices=builder.BACKENDS, help="default: sbuild")
    chain.set_defaults(handler=cmd_pipeline)


def _dist_series(args: argparse.Namespace) -> tuple[str, str]:
    chosen, target = series.with_target(args.series, args.dist)
    return target.name, chosen.id


def cmd_publish(args: argparse.Namespace, settings: Settings, display: Display) -> int:
    dist, series_id = _dist_series(args)
    debs = [Path(d).absolute() for d in args.debs]
    result = publish.publish(settings, display, dist, series_id, debs or None)
    report.write(settings, display)
    if settings.json:
        print(json.dumps(asdict(result), indent=1))
        return 0
    rows = [[p, "added"] for p in result.added] + [[p, "unchanged"] for p in result.unchanged]
    display.table(f"venvpkg publish ({result.codename})", ["Package", "Status"], rows, sys.stdout)
    return 0


def cmd_test(args: argparse.Namespace, settings: Settings, display: Display) -> int:
    dist, series_id = _dist_series(args)
    previous = series.lookup(args.upgrade_from).id if args.upgrade_from else None
    result = check.run_tests(settings, display, dist, series_id, args.projects, previous)
    report.write(settings, display)
    if settings.json:
        print(json.dumps(dict(asdict(result), passed=result.passed), indent=1))
    else:
        rows = [[s.name, "ok" if s.ok else "FAILED", s.detail[:90]] for s in result.steps]
        title = f"venvpkg test {dist}-{series_id} ({result.seconds:.0f}s, log {result.log})"
        display.table(title, ["Step", "Result", "Detail"], rows, sys.stdout)
    if not result.passed:
        failed = ", ".join(s.name for s in result.steps if not s.ok)
        raise BuildFailed(f"tests failed: {failed}", f"see {result.log}", [])
    return 0


def cmd_promote(args: argparse.Namespace, settings: Settings, display: Display) -> int:
    dist, series_id = _dist_series(args)
    passed = check.passed_versions(settings.workdir, dist, series_id)
    if not passed:
        raise UsageError(
            f"nothing in {dist}-{series_id}-staging has passed its tests",
            f"run: venvpkg test --dist {dist} --series {series_id}",
        )
    result = publish.promote(settings, display, dist, series_id, passed)
    report.write(settings, display)
    if settings.json:
        print(json.dumps(asdict(result), indent=1))
        return 0
    rows = [[p] for p in result.promoted] or [["nothing new: production is up to date"]]
    note = f", snapshot {result.snapshot}" if result.snapshot else ""
    display.table(f"venvpkg promote ({result.codename}{note})", ["Package"], rows, sys.stdout)
    return 0


def cmd_rollback(args: argparse.Namespace, settings: Settings, display: Display) -> int:
    dist, series_id = _dist_series(args)
    snapshot = publish.rollback(settings, display, dist, series_id)
    report.write(settings, display)
    display.info(f"{dist}-{series_id} restored to snapshot {snapshot}")
    return 0


def cmd_pipeline(args: argparse.Namespace, settings: Settings, display: Display) -> int:
    chosen, target = series.with_target(args.series, args.dist)
    result = pipeline.run(chosen, target, args.projects, settings, display, args.backend)
    passed = result.tests_cached or bool(result.tests and result.tests.passed)
    tested = "cached: passed" if result.tests_cached else "passed" if passed else "FAILED"
    rows = [
        [
            b.project,
            b.version,
            b.status,
            b.lintian,
            tested,
            "production" if (f"venv-{b.project}", b.version) in result.production else "staging",
        ]
        for b in result.builds
    ]
    stages = ", ".join(f"{k} {v:.0f}s" for k, v in result.seconds.items())
    if settings.json:
        summary = builder.summary(result.builds)
        summary |= {"tests": tested, "seconds": result.seconds, "report": str(result.report)}
        print(json.dumps(summary, indent=1))
    else:
        columns = ["Project", "Version", "Build", "Lintian", "Tests", "Published"]
        display.table(f"venvpkg pipeline ({stages})", columns, rows, sys.stdout)
        print(result.report)
    if not passed:
        raise BuildFailed("tests failed: nothing was promoted", f"see {result.report}", [])
    return 0


def cmd_series(args: argparse.Namespace, settings: Settings, display: Display) -> int:
    rows = [
        [s.number or "-", s.codename, s.status, s.ref, s.default_target.name]
        for s in series.catalog()
    ]
    if settings.json:
        keys = ["number", "codename", "status", "requirements_ref", "default_target"]
        print(json.dumps([dict(zip(keys, row, strict=True)) for row in rows], indent=1))
    else:
        columns = ["Number", "Codename", "Status", "Requirements ref", "Default target"]
        display.table("OpenStack series", columns, rows, sys.stdout)
    return 0


def cmd_release(args: argparse.Namespace, settings: Settings, display: Display) -> int:
    chosen, target = series.with_target(args.series, args.target)
    # An empty item is a typo, not "everything": only leaving --projects out means that.
    specs = [p.strip() for p in args.projects.split(",")] if args.projects is not None else []
    if not targets.host_is(target):
        flags = [
            f
            for f, on in (("--allow-missing", args.allow_missing), ("--dry-run", args.dry_run))
            if on
        ]
        return pipeline.release_in_chroot(
            chosen, target, specs, args.requirements, flags, settings, display
        )
    plan = pipeline.plan_release(
        chosen, target, specs, args.requirements, args.allow_missing, settings, display
    )
    if args.dry_run:
        for name, version in sorted(plan.wanted.items()):
            print(f"{name}=={version}")
        display.info(f"{len(plan.wanted)} distributions for {plan.id}")
        return 0
    result = run_release(plan, settings, display)
    _report_release(result, settings, display)
    return 0


def _report_release(result: ReleaseResult, settings: Settings, display: Display) -> None:
    fetched = sum(e.downloaded for e in result.entries)
    built = sum(e.built for e in result.entries)
    summary = {
        "wheelhouse": result.plan.id,
        "up_to_date": result.up_to_date,
        "pins": len(result.entries) + len(result.failures),
        "fetched": fetched,
        # An sdist fetched and then built this run counts in both columns, so count directly.
        "cached": sum(not (e.downloaded or e.built) for e in result.entries),
        "built": built,
        "failed": len(result.failures),
        "size": result.size,
        "seconds": round(result.seconds, 2),
        "pack_seconds": round(result.pack_seconds, 2),
        "package": result.package.deb if result.package else None,
        "version": result.package.version if result.package else None,
        "lintian": result.package.lintian if result.package else None,
        "missing": [f"{f.name}=={f.version}: {f.cause}" for f in result.failures],
    }
    if result.up_to_date:
        display.info(f"{result.plan.id}: nothing to do, wheelhouse and package are up to date")
    for failure in result.failures:
        display.warn(f"missing {failure.name}=={failure.version}: {failure.cause} ({failure.log})")
    if settings.json:
        print(json.dumps(summary, indent=1))
        return
    row = [str(summary[k]) for k in ("wheelhouse", "pins", "fetched", "cached", "built", "failed")]
    row += [f"{result.size / 1e6:.1f} MB", f"{result.seconds:.1f}s", str(summary["version"])]
    columns = [
        "Wheelhouse",
        "Pins",
        "Fetched",
        "Cached",
        "Built",
        "Failed",
        "Size",
        "Time",
        "Package",
    ]
    display.table("venvpkg release", columns, [row], sys.stdout)
    if result.package:
        print(result.package.deb)


def cmd_chroot(args: argparse.Namespace, settings: Settings, display: Display) -> int:
    if args.action != "list" and not args.dists:
        raise UsageError(f"chroot {args.action} needs a DIST", "e.g. venvpkg chroot create trixie")
    # A typo must not be ignored by list, nor handed to mmdebstrap by create.
    dists = [targets.lookup(dist).name for dist in args.dists]
    for dist in dists:
        if args.action == "create":
            chroot.ensure(dist, settings, display)
        elif args.action == "update":
            chroot.update(dist, settings, display)
        elif args.action == "remove":
            chroot.remove(dist, settings.workdir)
            display.info(f"removed the {dist} chroot")
    found = [c for c in chroot.listing(settings.workdir) if not dists or c.dist in dists]
    if settings.json:
        print(json.dumps([dict(c.record, tarball=str(c.tarball)) for c in found], indent=1))
        return 0
    rows = [
        [
            c.dist,
            c.flavour,
            c.arch,
            f"{c.age_days:.1f} days",
            f"{c.record['size'] / 1e6:.0f} MB",
            c.sha256[:12],
            str(c.tarball),
        ]
        for c in found
    ]
    columns = ["Dist", "Kind", "Arch", "Age", "Size", "sha256", "Tarball"]
    display.table("venvpkg chroots", columns, rows, sys.stdout)
    return 0


def _request(project: str, args: argparse.Namespace, settings: Settings) -> debianize.Request:
    if args.version is not None and getattr(args, "projects", [project])[1:]:
        raise UsageError("--version names one project's release", "build one project with it")
    if args.version == "":
        raise UsageError("--version is empty", "give a version, or leave it out for the latest")
    return debianize.make_request(
        project, args.series, args.version, args.source, args.dist, settings
    )


def cmd_debianize(args: argparse.Namespace, settings: Settings, display: Display) -> int:
    request = _request(args.project, args, settings)
    result = debianize.debianize(request, settings, display)
    summary = {
        "source": str(result.source_dir),
        "dsc": str(result.dsc),
        "version": result.version,
        "packages": result.packages,
        "changed": result.changed,
    }
    if settings.json:
        print(json.dumps(summary, indent=1))
    else:
        row = [request.project, result.version, ", ".join(result.packages)]
        display.table("venvpkg debianize", ["Project", "Version", "Packages"], [row], sys.stdout)
        print(result.source_dir)
    return 0


def cmd_build(args: argparse.Namespace, settings: Settings, display: Display) -> int:
    if args.source and len(args.projects) > 1:
        raise UsageError("--source names one project's tree", "build one project with it")
    opts = builder.options(settings, args.backend, args.verify_reproducible, args.rebuild)
    # Every name and version is checked before the first project's work starts.
    requests = [_request(p, args, settings) for p in args.projects]
    jobs = [builder.Job(r, debianize.debianize(r, settings, display)) for r in requests]
    results = builder.build_all(jobs, settings, display, opts)
    if settings.json:
        print(json.dumps(builder.summary(results), indent=1))
    else:
        rows = [
            [
                r.project,
                r.version,
                r.status,
                f"{r.seconds:.0f}s",
                r.lintian or "-",
                r.reproducible or "-",
                str(len(r.debs)),
                f"{sum(d.stat().st_size for d in r.debs) / 1e6:.1f} MB",
            ]
            for r in results
        ]
        columns = ["Project", "Version", "Status", "Time", "Lintian", "Reproducible"]
        columns += ["Debs", "Size"]
        display.table(f"venvpkg build ({opts.backend})", columns, rows, sys.stdout)
    failed = [r for r in results if r.status == "failed"]
    if failed:
        raise BuildFailed(
            f"{len(failed)} of {len(results)} builds failed: "
            + ", ".join(r.project for r in failed),
            "see the warnings above and the logs they name",
            [],
        )
    return 0


def _flags(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "workdir": getattr(args, "workdir", None),
        "config_file": getattr(args, "config_file", None),
        "jobs": getattr(args, "jobs", None),
        "index_url": getattr(args, "index_url", None),
        "json": getattr(args, "json", False),
        "debug": getattr(args, "debug", False),
        "verbosity": getattr(args, "verbose", 0) - getattr(args, "quiet", 0),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = getattr(args, "debug", False)
    display = Display(getattr(args, "verbose", 0) - getattr(args, "quiet", 0))
    _stop_on_termination()
    try:
        settings = load_settings(_flags(args))
        handler: Handler = args.handler
        if handler is not cmd_series:
            _require_workdir(settings.workdir)
        return handler(args, settings, display)
    except VenvpkgError as error:
        _print_error(error, debug)
        return error.exit_code
    except OSError as error:
        # The machine refused (full disk, read-only mount, permissions): say what and where.
        if debug:
            traceback.print_exc()
        where = f": {error.filename}" if error.filename else ""
        print(f"venvpkg: error: {error.strerror or error}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "venvpkg: interrupted; nothing half-written was kept, re-run to finish", file=sys.stderr
        )
        return 130


def _require_workdir(workdir: Path) -> None:
    """Refuse a workdir we cannot write before any stage starts writing into it."""
    try:
        workdir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(
            f"workdir {workdir} cannot be made: {error.strerror}",
            "give --workdir (or VENVPKG_WORKDIR) a directory you can write",
        ) from None
    if not os.access(workdir, os.W_OK | os.X_OK):
        raise UsageError(
            f"workdir {workdir} is not writable",
            "give --workdir (or VENVPKG_WORKDIR) a directory you can write",
        )


def _stop_on_termination() -> None:
    """SIGTERM and SIGHUP end a run the way Ctrl-C does: children stopped, nothing
    half-written kept. Python's default would die at once and orphan them."""

    def stop(number: int, _frame: object) -> None:
        signal.signal(number, signal.SIG_IGN)
        runner.stop_all()
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        for number in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(number, stop)


def _print_error(error: VenvpkgError, debug: bool) -> None:
    if debug:
        traceback.print_exc()
    for line in error.details if isinstance(error, BuildFailed) else []:
        print(f"  {line}", file=sys.stderr)
    print(f"venvpkg: error: {error.line()}", file=sys.stderr)


__all__ = ["UsageError", "main"]
