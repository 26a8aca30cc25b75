"""Stage 2: turn an OpenStack project into a Debian source package of a venv.

source -> wheel built offline from the release's wheelhouse -> model -> layout ->
context -> rendered debian/ tree, written beside its orig tarball and checked by
dpkg-source. Hands on a records.SourceRecord.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from venvpkg import debformats, projects, provenance, records, runner, series, sysdeps, targets
from venvpkg.config import ProjectSettings, Settings
from venvpkg.debianize import archive, inputs, lock, model, render, site, source, versions
from venvpkg.debianize import context as contexts
from venvpkg.debianize import layout as layouts
from venvpkg.debianize import patches as quilt
from venvpkg.errors import NetworkError, UsageError
from venvpkg.files import UNDATED_EPOCH, exclusive, replace_dir
from venvpkg.index import Index
from venvpkg.places import HOST
from venvpkg.progress import Display
from venvpkg.records import ReleaseRecord, SourceRecord
from venvpkg.release import plan, wheels
from venvpkg.scratch import private_dir
from venvpkg.workdir import ReleasePaths


@dataclass(frozen=True)
class Request:
    project: str
    pypi_name: str
    version: Version
    series: series.Series
    target: targets.Target
    source: str | None = None
    options: ProjectSettings = field(default_factory=ProjectSettings)
    # The deliverable's repositories: its PyPI sdist must name one (provenance.py).
    repos: tuple[str, ...] = ()


@dataclass(frozen=True)
class Result:
    """A debianized project, and whether this run changed it."""

    record: SourceRecord
    changed: bool

    @property
    def source_dir(self) -> Path:
        return self.record.source_dir

    @property
    def dsc(self) -> Path:
        return self.record.dsc

    @property
    def version(self) -> str:
        return self.record.version

    @property
    def packages(self) -> tuple[str, ...]:
        return self.record.packages


@dataclass(frozen=True)
class Job:
    """One debianize run: the request, what it builds on, and where it works."""

    request: Request
    settings: Settings
    release: ReleaseRecord
    paths: ReleasePaths
    scratch: Path
    display: Display

    @property
    def logs(self) -> Path:
        # Outlives the scratch directory: an error names it.
        return self.settings.paths.log(f"debianize-{self.request.project}")

    @property
    def index(self) -> Index:
        return Index(self.settings.index_url, self.settings.paths.cache("index"))


def has_release(settings: Settings, chosen: series.Series, target: targets.Target) -> bool:
    """Whether the workdir holds a requirements package for the series and target."""
    paths = settings.paths.release(target.name, chosen.id)
    record = records.read(paths.record, ReleaseRecord.from_dict)
    return record is not None and record.lock.is_file()


def release_record(
    settings: Settings, chosen: series.Series, target: targets.Target
) -> ReleaseRecord:
    """The requirements package a venv is built from; it must have been released first."""
    paths = settings.paths.release(target.name, chosen.id)
    record = records.read(paths.record, ReleaseRecord.from_dict)
    if record is None or not record.lock.is_file():
        raise UsageError(
            f"no requirements package for {chosen.label} on {target.name} in {settings.workdir}",
            f"run: venvpkg release {chosen.id} --target {target.name}",
        )
    return record


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
    _require_not_a_library(project_name, chosen)
    (pin,) = projects.project_pins(
        chosen, [f"{project_name}=={version}" if version is not None else project_name]
    )
    if source_spec is None and not pin.requested:
        pin = _newest_on_index(pin, chosen, settings)
    options = projects.project_settings(pin.name, settings)
    return Request(
        pin.name, pin.pypi_name, pin.version, chosen, target, source_spec, options, pin.repos
    )


# Deliverables that are imported, not run: their wheels are in the requirements package.
LIBRARY_KINDS = ("library", "client-library", "tempest-plugin")


def _require_not_a_library(name: str, chosen: series.Series) -> None:
    try:
        project = projects.lookup(chosen, name)
    except UsageError:
        return  # a site's own NAME==VERSION, or a typo project_pins names
    if project.kind in LIBRARY_KINDS:
        raise UsageError(
            f"{project.name} is a {project.kind} of {chosen.label}, not a service: its wheel is "
            f"in the requirements package (venvpkg release {chosen.id})",
            "debianize the service that uses it, e.g. "
            + ", ".join(p.name for p in projects.services(chosen)[:4]),
        )


def debianize(request: Request, settings: Settings, display: Display) -> Result:
    """Write WORKDIR/src/DIST-SERIES/venv-PROJECT-VERSION/ and its .dsc."""
    pin = projects.ProjectPin(request.project, request.pypi_name, request.version, request.repos)
    if newer := projects.newer_than_data(request.series, pin):
        display.info(newer)
    release = release_record(settings, request.series, request.target)
    paths = settings.paths.release(request.target.name, request.series.id)
    paths.sources.mkdir(parents=True, exist_ok=True)
    guard = settings.paths.lock(f"debianize-{request.project}")
    # The scratch directory is beside the output, so the new tree moves in with a rename.
    with (
        exclusive(guard, display.info),
        private_dir(str(paths.sources), 0, f"debianize-{request.project}") as scratch,
    ):
        return _unless_unchanged(Job(request, settings, release, paths, scratch, display))


def _unless_unchanged(job: Job) -> Result:
    """The recorded result when no input changed since it was made; else debianize anew."""
    request = job.request
    if request.source is None:
        request = _verified(request, job)
    origin = source.obtain(request, job.index, job.settings.paths.store, job.scratch, job.logs)
    job.display.info(f"source: {origin.origin}")
    upstream = versions.upstream(request.version)
    where = job.paths.debianized / f"{request.project}-{upstream}.json"
    debian_data = job.settings.paths.cache("debian-archive")
    wanted = inputs.digest(
        request, job.settings.index_url, job.release, origin.archive, debian_data
    )
    seen = inputs.recall(where, wanted)
    if seen is not None:
        job.display.info(f"debianize: venv-{request.project} {seen.version} unchanged")
        return Result(seen, False)
    done = _debianize(job, origin)
    inputs.remember(where, wanted, done.record)
    return done


def _newest_on_index(
    pin: projects.ProjectPin, chosen: series.Series, settings: Settings
) -> projects.ProjectPin:
    """The series' newest release on the index (provenance.newest_release), found under
    the PyPI name that is the deliverable's."""
    index = Index(settings.index_url, settings.paths.cache("index"))
    paths = settings.paths
    try:
        checked = provenance.verified(pin, index, paths.store, paths.cache("provenance"))
        newest = provenance.newest_release(checked, index, projects.version_line(chosen, pin))
    except NetworkError:
        return pin  # offline: the data's release, as far as the cache serves it
    # The verified PyPI name too: debianize's own check then starts with the right one.
    return dataclasses.replace(pin, pypi_name=checked.pypi_name, version=newest.version)


def _verified(request: Request, job: Job) -> Request:
    """The request under the PyPI name whose metadata names the deliverable's repository."""
    pin = projects.ProjectPin(request.project, request.pypi_name, request.version, request.repos)
    paths = job.settings.paths
    checked = provenance.verified(pin, job.index, paths.store, paths.cache("provenance"))
    if checked.pypi_name != request.pypi_name:
        job.display.info(f"{request.project} is {checked.pypi_name} on the index")
    return dataclasses.replace(request, pypi_name=checked.pypi_name)


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
    patches: tuple[quilt.Patch, ...]


def _debianize(job: Job, origin: source.Source) -> Result:
    request, out = job.request, job.paths.sources
    seen = _inspect(job, origin)
    upstream = versions.upstream(request.version)
    final = out / f"venv-{request.project}-{upstream}"
    staging = job.scratch / final.name
    shutil.copytree(seen.tree, staging, symlinks=True)
    # The revision rises whenever the rendered tree (or the source) changes, so render
    # once with a placeholder version to learn whether it did.
    _render(job, seen, staging, "0:0-0")
    fingerprint = _fingerprint(staging / "debian", seen.origin.archive)
    key = f"{request.project}-{upstream}"
    revision, changed = versions.next_revision(job.paths.revisions, key, fingerprint)
    suffix = request.target.version_suffix
    version = versions.debian_version(request.version, revision, suffix, request.options.epoch)
    context = _render(job, seen, staging, version)
    dsc = out / f"venv-{request.project}_{version.split(':', 1)[-1]}.dsc"
    packages = tuple(p["name"] for p in context["packages"])
    if not changed and dsc.exists() and final.exists():
        # Nothing changed: keep the .dsc as it is. A new one would differ in its changelog
        # date alone, and every build keyed on it would run again for nothing.
        return Result(SourceRecord(final, dsc, version, packages), False)
    _write_changelog(job, seen, staging / "debian", version)
    orig = out / f"venv-{request.project}_{upstream}.orig.tar.gz"
    _place_orig(seen.origin.archive, orig, seen.tree, job.scratch)
    log = job.logs / "dpkg-source.log"
    runner.run(["dpkg-source", "-b", staging.name], cwd=job.scratch, log=log)
    _publish(job.scratch, out, final, request.project, upstream)
    versions.remember_revision(job.paths.revisions, key, fingerprint, revision)
    return Result(SourceRecord(final, dsc, version, packages), changed)


def _inspect(job: Job, origin: source.Source) -> Inspected:
    request = job.request
    tree = job.scratch / "tree"
    source.unpack(origin.archive, tree, job.logs / "unpack.log")
    wheel = _project_wheel(job, origin)
    project = model.read(request.project, wheel, tree)
    for script, target in sorted(project.dead_scripts.items()):
        job.display.warn(
            f"{script} runs {target}, which {request.project} {request.version} does not ship "
            "(left over upstream): not packaged"
        )
    overrides = site.override_wheels(job)
    locked = lock.venv_lock(project, job.release, request.target, request.options, overrides)
    bindep = tree / "bindep.txt"
    runtime = (
        sysdeps.runtime_dependencies(bindep.read_text(), request.target, str(bindep))
        if bindep.is_file()
        else []
    )
    layout = layouts.plan_layout(project, _debian_split(job))
    patches = quilt.chosen(request.series.id, request.project, request.options.patches)
    for patch in patches:
        job.display.info(f"patch: {patch.name} ({patch.origin}): {patch.description}")
    return Inspected(
        origin, tree, project, layout, overrides, locked, tuple(runtime), tuple(patches)
    )


def _debian_split(job: Job) -> archive.DebianSource | None:
    """Debian's own package of the project, from the target's archive or the newest that
    has it; the six projects of layouts.toml's tables do not need it."""
    request = job.request
    if "packages" in (projects.layouts().get(request.project) or {}):
        return None
    cache = job.settings.paths.cache("debian-archive")
    found = archive.source(request.project, request.target.name, cache)
    if found is None:
        job.display.info(f"split: Debian has no {request.project}; the generic split")
    else:
        job.display.info(f"split: as Debian's {found.name} {found.version} ({found.dist})")
    return found


def _installer_wheel(wheelhouse: Path) -> str:
    """The uv wheel the requirements package carries ("" for one packed without it: pip)."""
    name = plan.INSTALLER[0]
    found = sorted(wheelhouse.glob(f"{name}-{plan.INSTALLER[1]}-*.whl"))
    return found[0].name if found else ""


def _render(job: Job, seen: Inspected, staging: Path, version: str) -> dict[str, Any]:
    """debian/ of the staging tree for `version` (the changelog comes separately)."""
    request, release, options = job.request, job.release, job.request.options
    context = contexts.build(
        contexts.Inputs(
            seen.project,
            seen.layout,
            request.target,
            request.series.id,
            request.series.label,
            version,
            release.package,
            release.version,
            release.installed_dir,
            options.maintainer,
            extras=options.extras,
            depends=options.depends,
            override_wheels=bool(seen.overrides),
            runtime_depends=seen.runtime,
            installer_wheel=_installer_wheel(release.wheelhouse),
        )
    )
    debian = staging / "debian"
    templates = Path(options.templates) if options.templates else None
    render.render_tree(context, debian, templates)
    (debian / "requirements.lock").write_text(seen.locked.text)
    site.add_overrides(debian, seen.overrides)
    quilt.add(debian, list(seen.patches))
    return context


def _write_changelog(job: Job, seen: Inspected, debian: Path, version: str) -> None:
    request, release = job.request, job.release
    before = lock.wheelhouse_pins(release)
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
    lines = [f"Series override: {line}" for line in _release_overrides(release, seen)]
    lines += [f"Patch {p.name} ({p.origin}): {p.description}." for p in seen.patches]
    # A changelog line stays within 80 columns (lintian): "  * " or "    " and 76 more.
    changes += ["\n".join(textwrap.wrap(line, 76, break_on_hyphens=False)) for line in lines]
    text = debformats.changelog(
        f"venv-{request.project}",
        version,
        request.target.name,
        request.options.maintainer,
        changes,
        debformats.source_date_epoch(),
    )
    (debian / "changelog").write_text(text)


def _release_overrides(release: ReleaseRecord, seen: Inspected) -> list[str]:
    """The release's override lines for pins this venv holds (overrides.txt)."""
    listing = release.wheelhouse / "overrides.txt"
    lines = listing.read_text().splitlines() if listing.is_file() else []
    return [line for line in lines if canonicalize_name(line.split()[0]) in seen.locked.pins]


def _project_wheel(job: Job, origin: source.Source) -> Path:
    """The project built offline against the wheelhouse, cached by source digest."""
    request, workdir = job.request, job.settings.paths
    digest = hashlib.sha256(origin.archive.read_bytes()).hexdigest()
    slot = workdir.cache("projects") / request.target.name / digest
    existing = sorted(slot.glob("*.whl")) if slot.is_dir() else []
    if existing:
        return existing[0]
    slot.mkdir(parents=True, exist_ok=True)
    # Only the project's metadata is read from this wheel, and any Python 3 writes the same;
    # the venv itself is built by the target's own Python in its build chroot.
    host = targets.TARGETS.get(targets.host_release() or "")
    python = wheels.build_environment(host or request.target, workdir, HOST)
    wheelhouse = job.release.wheelhouse
    toolchain = wheels.Toolchain(
        HOST,
        python,
        wheelhouse,
        wheelhouse / "build-constraints.txt",
        UNDATED_EPOCH,
        {"PBR_VERSION": str(request.version)},
    )
    log = job.logs / "wheel.log"
    return wheels.build_wheel(
        origin.archive, request.pypi_name, request.version, toolchain, slot, log
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
    replace_dir(scratch / final.name, final)
