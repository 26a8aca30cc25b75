"""Compile the wheelhouse's sdists into wheels for the target, offline and in parallel."""

from __future__ import annotations

import tempfile
from pathlib import Path

from packaging.utils import NormalizedName
from packaging.version import Version

from venvpkg.files import atomic_write_text, place, remembered, sha256_file
from venvpkg.release import resolve, wheels
from venvpkg.release.entries import Context, Entry, Failure, parallel

# Backends that import setuptools and, before setuptools 70.1, need wheel for bdist_wheel.
SETUPTOOLS_BACKENDS = ("setuptools", "pbr")


def build_dependencies(
    entries: dict[NormalizedName, Entry], ctx: Context, project_sdists: list[Path]
) -> dict[NormalizedName, Version]:
    """Everything the sdists (and the projects themselves) need to build offline."""
    store = ctx.workdir.store
    sdists = [
        store.path(e.sha256) for e in entries.values() if e.artifact and not e.artifact.is_wheel
    ]
    requires = sorted({r for sdist in sdists + project_sdists for r in _requires(sdist, ctx)})
    if not requires:
        return {}
    ctx.display.info(f"resolving {len(requires)} build requirements")
    plan = ctx.plan
    pins = {n: p.version for n, p in plan.constraints.items()} | dict(plan.wanted)
    # An sdist pinning its own build tools against the branch (krb5 0.9.0 wants
    # Cython==3.2.1 where 2026.1 pins 3.2.4) fails alone, with pip's cause.
    return resolver(ctx, "build").closure(requires, pins, strict=False)


def resolver(ctx: Context, purpose: str) -> resolve.Resolver:
    """resolve.Resolver under the plan's build constraints, logged per purpose."""
    log = ctx.paths.logs / f"resolve-{purpose}.log"
    plan = ctx.plan
    return resolve.Resolver(ctx.index, ctx.workdir, plan.target, plan.rules, log, ctx.place)


def _requires(sdist: Path, ctx: Context) -> list[str]:
    """Build requirements of an sdist, cached by its digest."""

    def read() -> list[str]:
        requires = wheels.build_requires(sdist)
        if any(r.split("[")[0].strip().lower().startswith(SETUPTOOLS_BACKENDS) for r in requires):
            requires = [*requires, "setuptools", "wheel"]
        return sorted(set(requires))

    return list(remembered(ctx.workdir.cache("build-requires") / f"{sdist.name}.json", read))


def stage(entries: list[Entry], ctx: Context) -> None:
    """Link every fetched wheel into the staging directory, the find-links of builds."""
    for entry in entries:
        if entry.wheel is None and entry.artifact and entry.artifact.is_wheel and entry.sha256:
            entry.wheel = ctx.paths.staging / entry.artifact.filename
            entry.wheel_sha256 = entry.sha256
            place(ctx.workdir.store.path(entry.sha256), entry.wheel)


def build(everything: list[Entry], to_build: list[Entry], ctx: Context) -> list[Failure]:
    """Compile sdists in parallel, build dependencies first; reuse earlier builds."""
    if not to_build:
        return []
    plan, paths = ctx.plan, ctx.paths
    constraints = paths.staging.parent / f".{plan.id}.build-constraints.txt"
    atomic_write_text(
        constraints,
        "".join(f"{e.name}=={e.version}\n" for e in sorted(everything, key=lambda e: e.name))
        + plan.build_constraints,
    )
    python = wheels.build_environment(plan.target, ctx.workdir, ctx.place)
    epoch = plan.data.source_date_epoch
    toolchain = wheels.Toolchain(ctx.place, python, paths.staging, constraints, epoch)
    ctx.workdir.tmp.mkdir(parents=True, exist_ok=True)
    failures = []
    with tempfile.TemporaryDirectory(
        prefix=f"build-envs-{plan.id}-", dir=ctx.workdir.tmp, ignore_cleanup_errors=True
    ) as root:
        environments = wheels.SharedEnvironments(toolchain, plan.target, Path(root))
        for group in (
            [e for e in to_build if e.build_dependency],
            [e for e in to_build if not e.build_dependency],
        ):

            def build_one(entry: Entry) -> str:
                entry.wheel, entry.wheel_sha256, entry.built = _build_cached(
                    entry, environments, ctx
                )
                return entry.wheel.name

            errors = parallel(_longest_first(group, ctx), ctx.jobs, build_one, ctx.display, "build")
            failures += [
                Failure.of(e, err, paths.logs / f"build-{e.name}.log") for e, err in errors
            ]
    return failures


def _longest_first(group: list[Entry], ctx: Context) -> list[Entry]:
    """Biggest sdists first: a long build (py-pure-client, 35 s) started last would run
    alone at the end while the other workers idle."""
    store = ctx.workdir.store
    return sorted(group, key=lambda e: (-store.path(e.sha256).stat().st_size, e.name))


def _build_cached(
    entry: Entry, environments: wheels.SharedEnvironments, ctx: Context
) -> tuple[Path, str, bool]:
    """The wheel built from this exact sdist for this target, building it if new, with
    the digest recorded when it was built."""
    built = ctx.workdir.built_wheels(ctx.plan.target.name, wheels.BUILD_RECIPE)
    slot = built / entry.sha256[:2] / entry.sha256
    existing = sorted(slot.glob("*.whl")) if slot.is_dir() else []
    if existing:
        wheel, fresh = existing[0], False
    else:
        slot.mkdir(parents=True, exist_ok=True)
        assert entry.artifact is not None
        log = ctx.paths.logs / f"build-{entry.name}.log"
        sdist = _named_sdist(entry, ctx)
        requires = _requires(ctx.workdir.store.path(entry.sha256), ctx)
        wheel = wheels.build_wheel_shared(
            sdist, entry.artifact.name, entry.version, requires, environments, slot, log
        )
        fresh = True
    record = wheel.with_name(f"{wheel.name}.sha256")
    if fresh or not record.is_file():
        # A wheel built before digests were recorded is taken as it is, once.
        atomic_write_text(record, sha256_file(wheel) + "\n")
    staged = ctx.paths.staging / wheel.name
    place(wheel, staged)
    return staged, record.read_text().strip(), fresh


def _named_sdist(entry: Entry, ctx: Context) -> Path:
    """pip needs the real file name of an sdist; link the stored file under it."""
    assert entry.artifact is not None
    named = ctx.workdir.tmp / "sdists" / entry.sha256[:16] / entry.artifact.filename
    place(ctx.workdir.store.path(entry.sha256), named)
    return named
