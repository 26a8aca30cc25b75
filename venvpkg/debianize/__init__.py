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
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from venvpkg import plan, runner, series, sysdeps, targets, wheelbuild
from venvpkg.config import Settings
from venvpkg.debianize import context as contexts
from venvpkg.debianize import layout as layouts
from venvpkg.debianize import lock, model, render, source, versions
from venvpkg.errors import UsageError
from venvpkg.fetch import Index, choose
from venvpkg.progress import Display
from venvpkg.store import Store, exclusive, place

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
    chosen = series.lookup(series_name) if series_name else series.newest_maintained()
    target = targets.lookup(dist) if dist else chosen.default_target
    targets.require_host_can_build(target)
    (pin,) = plan.project_pins(chosen, [f"{project_name}=={version}" if version else project_name])
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
    with exclusive(workdir / "locks" / f"debianize-{request.project}.lock", display.info):
        scratch = Path(tempfile.mkdtemp(prefix=f"debianize-{request.project}-", dir=out))
        try:
            return _debianize(request, settings, release, out, scratch, display)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def _debianize(
    request: Request,
    settings: Settings,
    release: Release,
    out: Path,
    scratch: Path,
    display: Display,
) -> Result:
    workdir = settings.workdir
    logs = workdir / "logs" / f"debianize-{request.project}"
    index = Index(settings.index_url, workdir / "cache" / "index")
    origin = source.obtain(
        request.source,
        request.pypi_name,
        request.version,
        index,
        Store(workdir / "cache" / "files"),
        scratch,
    )
    display.info(f"source: {origin.origin}")
    tree = scratch / "tree"
    source.unpack(origin.archive, tree, logs / "unpack.log")
    wheel = _project_wheel(request, origin, release, workdir, logs)
    project = model.read(request.project, wheel, tree)
    layout = layouts.plan_layout(project)
    options = request.options
    overrides = _override_wheels(request, index, release, workdir, logs)
    locked = lock.venv_lock(project, release.wheelhouse, request.target, options, overrides)
    release_pins = lock.wheelhouse_pins(release.wheelhouse)
    bindep = tree / "bindep.txt"
    runtime = (
        sysdeps.runtime_dependencies(bindep.read_text(), request.target, str(bindep))
        if bindep.is_file()
        else []
    )
    upstream = versions.upstream(request.version)
    maintainer = str(options.get("maintainer", DEFAULT_MAINTAINER))
    final = out / f"venv-{request.project}-{upstream}"
    staging = scratch / final.name
    shutil.copytree(tree, staging, symlinks=True)
    site = options.get("templates")

    def render_with(version: str) -> dict[str, Any]:
        inputs = contexts.Inputs(
            project,
            layout,
            request.target,
            request.series.id,
            request.series.label,
            version,
            release.package,
            release.version,
            release.installed_dir,
            maintainer,
            extras=tuple(options.get("extras", ())),
            depends=tuple(options.get("depends", ())),
            override_wheels=bool(overrides),
            runtime_depends=tuple(runtime),
        )
        context = contexts.build(inputs)
        render.render_tree(context, staging / "debian", Path(site) if site else None)
        (staging / "debian" / "requirements.lock").write_text(locked.text)
        _add_overrides(staging / "debian", overrides)
        _add_patches(staging / "debian", options.get("patches"))
        return context

    # The revision rises whenever the rendered tree (or the source) changes, so render
    # once with a placeholder version to learn whether it did.
    render_with("0:0-0")
    fingerprint = _fingerprint(staging / "debian", origin.archive)
    state = out / "revisions.json"
    key = f"{request.project}-{upstream}"
    revision, changed = versions.next_revision(state, key, fingerprint)
    epoch = int(options.get("epoch", versions.DEFAULT_EPOCH))
    version = versions.debian_version(
        request.version, revision, request.target.version_suffix, epoch
    )
    context = render_with(version)
    changes = [
        f"{request.project} {request.version} for OpenStack {request.series.label} "
        f"on {request.target.name}.",
        f"Built offline from {release.package} {release.version}.",
        f"Source: {origin.origin}.",
    ]
    changes += [
        f"Pin override: {name} {release_pins[name][0] if name in release_pins else '-'} -> "
        f"{locked.pins[name]}."
        for name in sorted(overrides)
    ]
    log = render.changelog(
        f"venv-{request.project}", version, request.target.name, maintainer, changes
    )
    (staging / "debian" / "changelog").write_text(str(log))
    orig = out / f"venv-{request.project}_{upstream}.orig.tar.gz"
    _place_orig(origin.archive, orig, tree, scratch)
    runner.run(["dpkg-source", "-b", staging.name], cwd=scratch, log=logs / "dpkg-source.log")
    _publish(scratch, out, final, request.project, upstream)
    versions.remember_revision(state, key, fingerprint, revision)
    dsc = out / f"venv-{request.project}_{version.split(':', 1)[-1]}.dsc"
    return Result(final, dsc, version, [p["name"] for p in context["packages"]], changed)


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
    python = wheelbuild.build_environment(request.target, workdir)
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


def _override_wheels(
    request: Request, index: Index, release: Release, workdir: Path, logs: Path
) -> dict[NormalizedName, Path]:
    """Wheels for `[projects.NAME] pins`, fetched (or built offline) for the target."""
    found: dict[NormalizedName, Path] = {}
    store = Store(workdir / "cache" / "files")
    for raw_name, raw_version in dict(request.options.get("pins", {})).items():
        name, version = canonicalize_name(raw_name), Version(str(raw_version))
        artifact = choose(index.files(name, version), request.target)
        if artifact is None:
            raise UsageError(
                f"pin override {name}=={version}: no wheel or sdist for {request.target.name}",
                f"check the version in [projects.{request.project}] pins",
            )
        digest = index.download(artifact, store)
        slot = workdir / "cache" / "overrides" / digest
        slot.mkdir(parents=True, exist_ok=True)
        if artifact.is_wheel:
            wheel = slot / artifact.filename
            place(store.path(digest), wheel)
        else:
            sdist = slot / artifact.filename
            place(store.path(digest), sdist)
            wheel = next(iter(sorted(slot.glob("*.whl"))), None) or wheelbuild.build_wheel(
                sdist,
                name,
                version,
                python=wheelbuild.build_environment(request.target, workdir),
                find_links=release.wheelhouse,
                constraints=release.wheelhouse / "build-constraints.txt",
                output=slot,
                log=logs / f"override-{name}.log",
                source_date_epoch="1577836800",
            )
        found[name] = wheel
    return found


def _add_overrides(debian: Path, overrides: dict[NormalizedName, Path]) -> None:
    """Override wheels travel in debian/wheels, declared as binaries for dpkg-source."""
    if not overrides:
        return
    (debian / "wheels").mkdir(exist_ok=True)
    for wheel in overrides.values():
        shutil.copyfile(wheel, debian / "wheels" / wheel.name)
    listed = "".join(f"debian/wheels/{w.name}\n" for w in sorted(overrides.values()))
    (debian / "source" / "include-binaries").write_text(listed)


def _add_patches(debian: Path, directory: str | None) -> None:
    """Quilt patches from a site directory, applied in name order."""
    if not directory:
        return
    patches = sorted(Path(directory).glob("*.patch")) + sorted(Path(directory).glob("*.diff"))
    if not patches:
        raise UsageError(f"no *.patch files in {directory}", "check [projects.NAME] patches")
    (debian / "patches").mkdir(exist_ok=True)
    for patch in patches:
        shutil.copyfile(patch, debian / "patches" / patch.name)
    (debian / "patches" / "series").write_text("".join(f"{p.name}\n" for p in patches))


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
