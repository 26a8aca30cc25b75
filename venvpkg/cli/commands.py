"""What each command does: call its stage, print its summary table or JSON."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from venvpkg import (
    builder,
    chroot,
    debianize,
    farm,
    pipeline,
    projects,
    series,
    targets,
    update,
    watch,
)
from venvpkg.config import Settings
from venvpkg.debianize import archive, history
from venvpkg.errors import BuildFailed, NetworkError, UsageError, VenvpkgError
from venvpkg.progress import Display
from venvpkg.release import ReleaseRequest, plan_release
from venvpkg.release.wheelhouse import ReleaseResult, run_release
from venvpkg.ship import bundle, publish, report
from venvpkg.ship import test as check


def _dist_series(args: argparse.Namespace, settings: Settings) -> tuple[str, str]:
    chosen, target = series.with_target(args.series, _target(args.target, settings))
    return target.name, chosen.id


def cmd_publish(args: argparse.Namespace, settings: Settings, display: Display) -> int:
    dist, series_id = _dist_series(args, settings)
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
    dist, series_id = _dist_series(args, settings)
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
    dist, series_id = _dist_series(args, settings)
    passed = check.passed_versions(settings.paths, dist, series_id)
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


def cmd_export(args: argparse.Namespace, settings: Settings, display: Display) -> int:
    dist, series_id = _dist_series(args, settings)
    dest = bundle.exported_path(args.to, dist, series_id, args.project)
    done = bundle.export(settings, dist, series_id, args.project, dest)
    _bundles_summary("venvpkg export", [done], settings, display)
    return 0


def cmd_import(args: argparse.Namespace, settings: Settings, display: Display) -> int:
    done = [bundle.import_bundle(settings, path.absolute()) for path in args.bundles]
    _bundles_summary("venvpkg import", done, settings, display)
    return 0


def _bundles_summary(
    title: str, done: list[bundle.Bundle], settings: Settings, display: Display
) -> None:
    if settings.json:
        print(json.dumps([dict(asdict(b), path=str(b.path)) for b in done], indent=1))
        return
    rows = [[f"{b.dist}-{b.series}", b.project, b.version, str(b.files), str(b.path)] for b in done]
    columns = ["Codename", "Project", "Version", "Files", "Bundle"]
    display.table(title, columns, rows, sys.stdout)


def cmd_buildbot(args: argparse.Namespace, settings: Settings, display: Display) -> int:
    wanted = farm.FarmRequest(
        args.directory,
        tuple(args.series),
        tuple(args.projects),
        _target(args.target, settings),
        tuple(args.workers),
        args.backend,
        watch.parse_interval(args.interval),
        args.port,
        args.www_port,
        args.worker_venvpkg,
    )
    made = farm.describe(farm.init(wanted, settings))
    if settings.json:
        print(json.dumps(made, indent=1))
        return 0
    rows = [[name, ""] for name in made["builders"]]
    display.table(f"venvpkg buildbot init {made['directory']}", ["Builder", ""], rows, sys.stdout)
    print(f"start the master:  {made['start']}")
    for name, command in made["worker_commands"].items():
        print(f"start {name} (on its machine; MASTER: this machine's address):  {command}")
    print(f"then watch it build: {made['web']}")
    return 0


def cmd_rollback(args: argparse.Namespace, settings: Settings, display: Display) -> int:
    dist, series_id = _dist_series(args, settings)
    snapshot = publish.rollback(settings, display, dist, series_id)
    report.write(settings, display)
    display.info(f"{dist}-{series_id} restored to snapshot {snapshot}")
    return 0


def cmd_pipeline(args: argparse.Namespace, settings: Settings, display: Display) -> int:
    chosen, target = series.with_target(args.series, _target(args.target, settings))
    if bool(args.projects) == args.all:
        raise UsageError(
            "name the projects, or give --all for every service of the series",
            f"e.g. venvpkg pipeline {chosen.id} keystone nova",
        )
    names = tuple(p.name for p in projects.services(chosen)) if args.all else tuple(args.projects)
    wanted = pipeline.PipelineRequest(chosen, target, names, args.backend, args.all)
    result = pipeline.run(wanted, settings, display)
    passed = result.passed
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
    if result.failed:
        raise BuildFailed(
            f"{len(result.failed)} of {len(names)} projects failed: {', '.join(result.failed)}",
            "the others were built, tested and promoted; see the warnings above",
            [],
        )
    return 0


def cmd_watch(args: argparse.Namespace, settings: Settings, display: Display) -> int:
    interval = watch.parse_interval(args.interval)
    only, dist = tuple(args.projects or ()), _target(args.target, settings)
    if args.shipped:
        return _watch_shipped(args, only, dist, settings, display)
    while True:
        began = time.monotonic()
        options = watch.Options(args.backend, args.refresh, args.dry_run)
        rounds = watch.watch(args.series, only, dist, options, settings, display)
        _watch_summary(rounds, time.monotonic() - began, args.dry_run, settings, display)
        if args.once or args.dry_run:
            break
        display.info(f"next round in {args.interval}")
        time.sleep(interval)
    failed = [f"{r.watched.codename}: {r.error}" for r in rounds if r.error]
    if failed:
        raise BuildFailed(failed[0], "the next round tries again; see the warnings above", [])
    return 0


def _watch_shipped(
    args: argparse.Namespace,
    only: tuple[str, ...],
    dist: str | None,
    settings: Settings,
    display: Display,
) -> int:
    if not args.series or not only:
        raise UsageError(
            "--shipped records named projects of a named series",
            "e.g. venvpkg watch 2025.2 --projects keystone --shipped",
        )
    done = watch.record_shipped(args.series, only, dist, settings, display)
    columns = ["Codename", "Project", "Version"]
    if settings.json:
        keys = [c.lower() for c in columns]
        print(json.dumps([dict(zip(keys, d, strict=True)) for d in done]))
    else:
        rows = [list(d) for d in done]
        display.table("venvpkg watch --shipped", columns, rows, sys.stdout)
    return 0


def _watch_summary(
    rounds: list[watch.RoundResult],
    seconds: float,
    dry_run: bool,
    settings: Settings,
    display: Display,
) -> None:
    if settings.json:
        print(json.dumps([_watch_json(r) for r in rounds], indent=1))
        return
    rows = []
    for done in rounds:
        shipped = "would ship" if dry_run else "shipped"
        result = f"FAILED: {done.error}" if done.error else shipped if done.rebuilt else "-"
        for decision in done.decisions or [watch.Decision("", "nothing changed")]:
            rows.append([done.watched.codename, decision.line, result, f"{done.seconds:.1f}s"])
    title = f"venvpkg watch ({seconds:.1f}s{', dry run: nothing built' if dry_run else ''})"
    display.table(title, ["Codename", "Decision", "Result", "Round"], rows, sys.stdout)


def _watch_json(done: watch.RoundResult) -> dict[str, object]:
    return {
        "codename": done.watched.codename,
        "projects": list(done.watched.projects),
        "decisions": [d.line for d in done.decisions],
        "rebuilt": done.rebuilt,
        # What a farm's poller hands its builders: each rebuild, at which version, why.
        "builds": [
            {"project": d.project, "version": done.versions.get(d.project, ""), "why": d.line}
            for d in done.decisions
            if d.project
        ],
        "error": done.error,
        "seconds": done.seconds,
    }


def _target(given: str | None, settings: Settings) -> str | None:
    """--target, else the site's (VENVPKG_TARGET, [venvpkg] target), else the series'."""
    return given if given is not None else settings.target


def cmd_series(args: argparse.Namespace, settings: Settings, display: Display) -> int:
    data = series.releases_snapshot()
    age = data.age_days()
    said = f"series and releases: {data.origin} {data.commit[:10]} of {data.date}, {age} days old"
    if age > series.STALE_DAYS:
        display.warn(
            f"{said}: a series' status and new deliverables may be out of date (point "
            "releases are taken from the index); run: venvpkg update"
        )
    else:
        display.info(said)
    rows = [
        [s.number or "-", s.codename, s.status, s.ref, s.commit_date, *s.target_columns()]
        for s in series.catalog()
    ]
    if settings.json:
        keys = ["number", "codename", "status", "requirements_ref", "requirements_date"]
        keys += ["default_target", "why"]
        print(json.dumps([dict(zip(keys, row, strict=True)) for row in rows], indent=1))
    else:
        columns = ["Number", "Codename", "Status", "Requirements ref", "of", "Default target"]
        display.table("OpenStack series", [*columns, "Why"], rows, sys.stdout)
    return 0


def cmd_update(args: argparse.Namespace, settings: Settings, display: Display) -> int:
    before = series.releases_snapshot()
    try:
        done = update.update(settings, display)
    except NetworkError as error:
        if update.data_root(settings) is None:
            raise
        # Out of reach is no fault of the data: the earlier update stays in use.
        display.warn(f"{error.line()}; keeping {before.origin} {before.commit[:10]}")
        return 0
    except VenvpkgError:
        if update.data_root(settings) is not None:
            display.warn(f"keeping {before.origin} {before.commit[:10]} of {before.date}")
        raise
    update.use(settings)
    after = series.releases_snapshot()
    changed = "unchanged" if after.commit == before.commit else f"was {before.commit[:10]}"
    display.info(f"openstack/releases {after.commit[:10]} of {after.date} ({changed})")
    rows = [
        [number, update.short(ref), commit[:10], date]
        for number, (ref, commit, date) in done.requirements.items()
    ]
    for number in done.missing:
        rows.append([number, "-", "-", "no ref upstream: the bundled copy stays"])
    if settings.json:
        print(json.dumps({"releases": [after.commit, after.date], "requirements": rows}, indent=1))
    else:
        columns = ["Series", "Requirements ref", "Commit", "Date"]
        display.table("venvpkg update", columns, rows, sys.stdout)
    return 0


def cmd_release(args: argparse.Namespace, settings: Settings, display: Display) -> int:
    chosen, target = series.with_target(args.series, _target(args.target, settings))
    specs = _listed(args.projects) or ()
    services = () if (args.services or "").strip() == "none" else _listed(args.services)
    if services is not None and specs:
        raise UsageError(
            "--services applies to a full release, not to --projects",
            "--projects already adds everything those projects need",
        )
    request = ReleaseRequest(
        chosen, target, specs, args.requirements, args.allow_missing, args.dry_run, services
    )
    plan = plan_release(request, settings, display)
    if args.dry_run:
        for name, version in sorted(plan.wanted.items()):
            print(f"{name}=={version}")
        display.info(f"{len(plan.wanted)} distributions for {plan.id}")
        return 0
    result = run_release(plan, settings, display)
    _report_release(result, settings, display)
    return 0


def _listed(option: str | None) -> tuple[str, ...] | None:
    """A comma-separated option's items; None when it was not given."""
    if option is None:
        return None
    # An empty item is a typo, not "everything": only leaving the option out means that.
    return tuple(p.strip() for p in option.split(","))


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
        "package": str(result.package.deb) if result.package else None,
        "version": result.package.version if result.package else None,
        "lintian": result.package.lintian if result.package else None,
        "missing": [f.line() for f in result.failures],
        "overrides": result.plan.overrides.splitlines(),
        "unconstrained": result.plan.unconstrained_pins,
    }
    if result.up_to_date:
        display.info(f"{result.plan.id}: nothing to do, wheelhouse and package are up to date")
    for failure in result.failures:
        display.warn(f"missing {failure.line()}; see {failure.log}")
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


def _read_archive(dist: str, settings: Settings, display: Display) -> None:
    """Debian's own split of the OpenStack projects, read from the same mirror as the
    chroot; debianize uses it instead of the bundled copy from now on."""
    cache = settings.paths.cache("debian-archive")
    path = archive.refresh(dist, settings.chroot.mirror, cache, projects.service_names())
    found = archive.load(dist, cache)
    display.info(f"read Debian's split of {len(found.sources)} OpenStack sources ({dist}): {path}")


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
            _read_archive(dist, settings, display)
        elif args.action == "remove":
            chroot.remove(dist, settings.paths)
            display.info(f"removed the {dist} chroot")
    found = [c for c in chroot.listing(settings.paths) if not dists or c.dist in dists]
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
        project, args.series, args.version, args.source, _target(args.target, settings), settings
    )


def _released(
    requests: list[debianize.Request],
    args: argparse.Namespace,
    settings: Settings,
    display: Display,
) -> None:
    """debianize and build need the series' requirements package; where a workdir has
    none yet, make it for the projects' closure, as `release --projects` would."""
    groups: dict[tuple[str, str], list[debianize.Request]] = {}
    for request in requests:
        groups.setdefault((request.series.id, request.target.name), []).append(request)
    for group in groups.values():
        first = group[0]
        # From a given source the project need not be on the index: say what to run.
        if debianize.has_release(settings, first.series, first.target) or first.source:
            continue
        specs = tuple(f"{r.project}=={r.version}" for r in group)
        display.info(
            f"no requirements package for {first.series.label} on {first.target.name} yet: "
            f"making it for {', '.join(specs)} (venvpkg release {first.series.id} "
            f"--target {first.target.name} --projects {','.join(specs)})"
        )
        wanted = ReleaseRequest(first.series, first.target, specs, args.requirements)
        run_release(plan_release(wanted, settings, display), settings, display)


def cmd_debianize(args: argparse.Namespace, settings: Settings, display: Display) -> int:
    request = _request(args.project, args, settings)
    _released([request], args, settings, display)
    result = debianize.debianize(request, settings, display)
    summary: dict[str, object] = {
        "source": str(result.source_dir),
        "dsc": str(result.dsc),
        "version": result.version,
        "packages": result.packages,
        "changed": result.changed,
    }
    if args.git is not None:
        codename = f"{request.target.name}-{request.series.id}"
        log = settings.paths.log(f"debianize-{request.project}") / "git.log"
        kept = history.record(args.git.absolute(), result.source_dir, codename, log)
        said = "tagged" if kept.new else "already tagged"
        display.info(f"git: {said} {kept.tag} on {kept.branch} in {args.git}")
        summary["git"] = {"branch": kept.branch, "tag": kept.tag, "commit": kept.commit}
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
    _released(requests, args, settings, display)
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
