"""Stage 2: turn an OpenStack project into a Debian source package of a venv.

source -> wheel built offline from the release's wheelhouse -> model -> layout ->
context -> rendered debian/ tree, written beside its orig tarball and checked by
dpkg-source.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.utils import NormalizedName
from packaging.version import Version

from venvpkg import runner, series, sysdeps, targets
from venvpkg.config import Settings
from venvpkg.debianize import context as contexts
from venvpkg.debianize import inputs, lock, model, render, site, source, versions
from venvpkg.debianize import layout as layouts
from venvpkg.errors import UsageError
from venvpkg.files import Store, exclusive
from venvpkg.index import Index
from venvpkg.progress import Display
from venvpkg.release import plan
from venvpkg.release import wheels as wheelbuild
from venvpkg.scratch import private_dir

DEFAULT_MAINTAINER = "venvpkg builders <venvpkg@debian.invalid>"


@dataclass(frozen=True)
class Request:
    project: str
    pypi_name: str
    version: Version
    series: series.Series
    target: targets.Target
    source: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Result:
    source_dir: Path
    dsc: Path
    version: str
    packages: list[str]
    changed: bool


class Release:
    """The requirements package and wheelhouse a venv is built from."""

    def __init__(self, workdir: Path, series: series.Series, target: targets.Target) -> None:
        self.wheelhouse = workdir / "wheelhouse" / f"{series.id}-{target.name}"
        state = workdir / "debs" / f"{target.name}-{series.id}" / "state.json"
        if not (self.wheelhouse / "requirements.lock").is_file() or not state.is_file():
            raise UsageError(
                f"no requirements package for {series.label} on {target.name} in {workdir}",
                f"run: venvpkg release {series.id} --target {target.name}",
            )
        result = json.loads(state.read_text())["result"]
        self.package: str = result["package"]
        self.version: str = result["version"]
        self.deb = Path(result["deb"])
        self.installed_dir = f"/usr/lib/venvpkg/wheelhouse/{series.id}"


def make_request(
    project_name: str,
    series_name: str | None,
    version: str | None,
    source_spec: str | None,
    dist: str | None,
    settings: Settings,
) -> Request:
    """Resolve defaults: newest maintained series, its latest release, the series' target."""
    chosen, target = series.with_target(series_name, dist)
    (pin,) = plan.project_pins(
        chosen, [f"{project_name}=={version}" if version is not None else project_name]
    )
    options = project_options(pin.name, settings)
    return Request(pin.name, pin.pypi_name, pin.version, chosen, target, source_spec, options)


def project_options(name: str, settings: Settings) -> dict[str, Any]:
    """Built-in defaults (layouts.toml) < [debianize] < [projects.NAME] of venvpkg.toml."""
    options: dict[str, Any] = {}
    builtin = layouts.builtin_options(name)
    if builtin.get("extra_packages"):
        options["extra-packages"] = list(builtin["extra_packages"])
    options |= dict(settings.section("debianize"))
    options |= dict(settings.section("projects").get(name, {}))
    return options


def debianize(request: Request, settings: Settings, display: Display) -> Result:
    """Write WORKDIR/src/DIST-SERIES/venv-PROJECT-VERSION/ and its .dsc."""
    workdir = settings.workdir
    release = Release(workdir, request.series, request.target)
    out = workdir / "src" / f"{request.target.name}-{request.series.id}"
    out.mkdir(parents=True, exist_ok=True)
    guard = workdir / "locks" / f"debianize-{request.project}.lock"
    # The scratch directory is beside the output, so the new tree moves in with a rename.
    with (
        exclusive(guard, display.info),
        private_dir(str(out), 0, f"debianize-{request.project}") as scratch,
    ):
        return _unless_unchanged(request, settings, release, out, scratch, display)


def _unless_unchanged(
    request: Request,
    settings: Settings,
    release: Release,
    out: Path,
    scratch: Path,
    display: Display,
) -> Result:
    """The recorded result when no input changed since it was made; else debianize anew."""
    origin = _obtain(request, settings, scratch)
    display.info(f"source: {origin.origin}")
    record = out / "inputs" / f"{request.project}-{versions.upstream(request.version)}.json"
    wanted = inputs.digest(request, settings.index_url, release, origin.archive)
    seen = inputs.recall(record, wanted)
    if seen is not None:
        display.info(f"debianize: venv-{request.project} {seen['version']} unchanged")
        paths = Path(seen["source_dir"]), Path(seen["dsc"])
        return Result(*paths, seen["version"], list(seen["packages"]), False)
    done = _debianize(request, settings, release, origin, out, scratch, display)
    inputs.remember(record, wanted, done)
    return done


def _obtain(request: Request, settings: Settings, scratch: Path) -> source.Source:
    index = Index(settings.index_url, settings.workdir / "cache" / "index")
    store = Store(settings.workdir / "cache" / "files")
    logs = settings.workdir / "logs" / f"debianize-{request.project}"
    # The log outlives the scratch directory: an error names it.
    return source.obtain(
        request.source, request.pypi_name, request.version, index, store, scratch, logs
    )


@dataclass(frozen=True)
class Inspected:
    """The project as read from its source, and what goes into its venv."""

    origin: source.Source
    tree: Path
    project: model.ProjectModel
    layout: layouts.Layout
    overrides: dict[NormalizedName, Path]
    locked: lock.VenvLock
    runtime: tuple[str, ...]


def _debianize(
    request: Request,
    settings: Settings,
    release: Release,
    origin: source.Source,
    out: Path,
    scratch: Path,
    display: Display,
) -> Result:
    logs = settings.workdir / "logs" / f"debianize-{request.project}"
    seen = _inspect(request, settings, release, origin, scratch, logs)
    upstream = versions.upstream(request.version)
    final = out / f"venv-{request.project}-{upstream}"
    staging = scratch / final.name
    shutil.copytree(seen.tree, staging, symlinks=True)
    # The revision rises whenever the rendered tree (or the source) changes, so render
    # once with a placeholder version to learn whether it did.
    _render(request, release, seen, staging, "0:0-0")
    fingerprint = _fingerprint(staging / "debian", seen.origin.archive)
    state, key = out / "revisions.json", f"{request.project}-{upstream}"
    revision, changed = versions.next_revision(state, key, fingerprint)
    epoch = int(request.options.get("epoch", versions.DEFAULT_EPOCH))
    version = versions.debian_version(
        request.version, revision, request.target.version_suffix, epoch
    )
    context = _render(request, release, seen, staging, version)
    dsc = out / f"venv-{request.project}_{version.split(':', 1)[-1]}.dsc"
    if not changed and dsc.exists() and final.exists():
        # Nothing changed: keep the .dsc as it is. A new one would differ in its changelog
        # date alone, and every build keyed on it would run again for nothing.
        return Result(final, dsc, version, [p["name"] for p in context["packages"]], False)
    _write_changelog(request, release, seen, staging / "debian", version)
    orig = out / f"venv-{request.project}_{upstream}.orig.tar.gz"
    _place_orig(seen.origin.archive, orig, seen.tree, scratch)
    runner.run(["dpkg-source", "-b", staging.name], cwd=scratch, log=logs / "dpkg-source.log")
    _publish(scratch, out, final, request.project, upstream)
    versions.remember_revision(state, key, fingerprint, revision)
    return Result(final, dsc, version, [p["name"] for p in context["packages"]], changed)


def _inspect(
    request: Request,
    settings: Settings,
    release: Release,
    origin: source.Source,
    scratch: Path,
    logs: Path,
) -> Inspected:
    workdir = settings.workdir
    index = Index(settings.index_url, workdir / "cache" / "index")
    tree = scratch / "tree"
    source.unpack(origin.archive, tree, logs / "unpack.log")
    wheel = _project_wheel(request, origin, release, workdir, logs)
    project = model.read(request.project, wheel, tree)
    overrides = site.override_wheels(request, index, release, workdir, logs)
    locked = lock.venv_lock(project, release.wheelhouse, request.target, request.options, overrides)
    bindep = tree / "bindep.txt"
    runtime = (
        sysdeps.runtime_dependencies(bindep.read_text(), request.target, str(bindep))
        if bindep.is_file()
        else []
    )
    layout = layouts.plan_layout(project)
    return Inspected(origin, tree, project, layout, overrides, locked, tuple(runtime))


def _render(
    request: Request, release: Release, seen: Inspected, staging: Path, version: str
) -> dict[str, Any]:
    """debian/ of the staging tree for `version` (the changelog comes separately)."""
    options = request.options
    inputs = contexts.Inputs(
        seen.project,
        seen.layout,
        request.target,
        request.series.id,
        request.series.label,
        version,
        release.package,
        release.version,
        release.installed_dir,
        str(options.get("maintainer", DEFAULT_MAINTAINER)),
        extras=tuple(options.get("extras", ())),
        depends=tuple(options.get("depends", ())),
        override_wheels=bool(seen.overrides),
        runtime_depends=seen.runtime,
    )
    context = contexts.build(inputs)
    templates = options.get("templates")
    debian = staging / "debian"
    render.render_tree(context, debian, Path(templates) if templates else None)
    (debian / "requirements.lock").write_text(seen.locked.text)
    site.add_overrides(debian, seen.overrides)
    site.add_patches(debian, options.get("patches"))
    return context


def _write_changelog(
    request: Request, release: Release, seen: Inspected, debian: Path, version: str
) -> None:
    before = lock.wheelhouse_pins(release.wheelhouse)
    changes = [
        f"{request.project} {request.version} for OpenStack {request.series.label} "
        f"on {request.target.name}.",
        f"Built offline from {release.package} {release.version}.",
        f"Source: {seen.origin.origin}.",
    ]
    changes += [
        f"Pin override: {name} {before[name][0] if name in before else '-'} -> "
        f"{seen.locked.pins[name]}."
        for name in sorted(seen.overrides)
    ]
    maintainer = str(request.options.get("maintainer", DEFAULT_MAINTAINER))
    log = render.changelog(
        f"venv-{request.project}", version, request.target.name, maintainer, changes
    )
    (debian / "changelog").write_text(str(log))


def _project_wheel(
    request: Request, origin: source.Source, release: Release, workdir: Path, logs: Path
) -> Path:
    """The project built offline against the wheelhouse, cached by source digest."""
    digest = hashlib.sha256(origin.archive.read_bytes()).hexdigest()
    slot = workdir / "cache" / "projects" / request.target.name / digest
    existing = sorted(slot.glob("*.whl")) if slot.is_dir() else []
    if existing:
        return existing[0]
    slot.mkdir(parents=True, exist_ok=True)
    # Only the project's metadata is read from this wheel, and any Python 3 writes the same;
    # the venv itself is built by the target's own Python in its build chroot.
    host = targets.TARGETS.get(targets.host_release() or "")
    python = wheelbuild.build_environment(host or request.target, workdir)
    return wheelbuild.build_wheel(
        origin.archive,
        request.pypi_name,
        request.version,
        python=python,
        find_links=release.wheelhouse,
        constraints=release.wheelhouse / "build-constraints.txt",
        output=slot,
        log=logs / "wheel.log",
        source_date_epoch="1577836800",
        extra_env={"PBR_VERSION": str(request.version)},
    )


def _fingerprint(debian: Path, archive: Path) -> str:
    """Digest of the source and every rendered file but the changelog."""
    digest = hashlib.sha256(hashlib.sha256(archive.read_bytes()).digest())
    for path in sorted(p for p in debian.rglob("*") if p.is_file() and p.name != "changelog"):
        digest.update(path.relative_to(debian).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _place_orig(archive: Path, orig: Path, tree: Path, scratch: Path) -> None:
    """The orig tarball beside the tree, linked for dpkg-source.

    It is replaced whenever the upstream archive differs: a trunk build from git may
    reuse a version with new content.
    """
    made = scratch / f".{orig.name}"
    if archive.name.endswith(".tar.gz"):
        shutil.copyfile(archive, made)
    else:
        source.tar_tree(tree, made)
    if not orig.exists() or orig.read_bytes() != made.read_bytes():
        made.replace(orig)
    os.link(orig, scratch / orig.name)


def _publish(scratch: Path, out: Path, final: Path, project: str, upstream: str) -> None:
    """Swap in the new tree and its .dsc/.debian.tar; older revisions of it go."""
    for old in out.glob(f"venv-{project}_{upstream}-*"):
        old.unlink()
    for produced in scratch.glob(f"venv-{project}_*"):
        if not produced.name.endswith(".orig.tar.gz"):
            produced.replace(out / produced.name)
    old_tree = out / f".{final.name}.old"
    shutil.rmtree(old_tree, ignore_errors=True)
    if final.exists():
        final.rename(old_tree)
    (scratch / final.name).rename(final)
    shutil.rmtree(old_tree, ignore_errors=True)
