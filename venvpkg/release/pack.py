"""Stage 1c: pack a wheelhouse into the per-release requirements .deb."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from email.utils import formatdate
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2
from debian.changelog import Changelog

from venvpkg import runner
from venvpkg.errors import VenvpkgError
from venvpkg.files import atomic_write_text, place
from venvpkg.progress import Display
from venvpkg.scratch import private_dir

if TYPE_CHECKING:
    from venvpkg.release.plan import ReleasePlan

DEFAULT_MAINTAINER = "venvpkg builders <venvpkg@debian.invalid>"
OUTPUTS = (".deb", ".buildinfo", ".changes")


@dataclass(frozen=True)
class PackResult:
    package: str
    version: str
    deb: str
    lintian: str
    built: bool = True


# Part of what makes a packed .deb current: a change to how it is packed repacks it.
# 2: Depends on the shared libraries of the wheels compiled from sdists.
PACK_RECIPE = 2


def package_name(plan: ReleasePlan) -> str:
    return f"openstack-requirements-{plan.series.id}"


def current(debs: Path, plan: ReleasePlan) -> PackResult | None:
    """The package already built for exactly this plan, if any."""
    state = debs / "state.json"
    if not state.is_file():
        return None
    recorded = json.loads(state.read_text())
    deb = debs / recorded.get("deb", "")
    if recorded.get("fingerprint") != plan.fingerprint() or not deb.is_file():
        return None
    if recorded.get("recipe") != PACK_RECIPE:
        return None
    return PackResult(**{**recorded["result"], "deb": str(deb), "built": False})


def next_version(plan: ReleasePlan, debs: Path) -> str:
    """Date of the requirements commit, a counter, and the Debian release suffix.

    The counter grows with every repack, so content changes always raise the version;
    the suffix gives bookworm and trixie builds different file names in one pool.
    """
    base = plan.data.commit_date.replace("-", "")
    counter = 1
    state = debs / "state.json"
    if state.is_file():
        previous = json.loads(state.read_text()).get("result", {}).get("version", "")
        stem = previous.split("+")[0]
        if stem.startswith(f"{base}."):
            counter = int(stem.split(".")[1]) + 1
    return f"{base}.{counter}{plan.target.version_suffix}"


def render_source(
    plan: ReleasePlan, wheelhouse: Path, source: Path, version: str, maintainer: str
) -> None:
    """The source package tree: debian/ from requirements-packages/, the wheels beside it."""
    context: dict[str, object] = {
        "package": package_name(plan),
        "series": plan.series.id,
        "series_label": plan.series.label,
        "target": plan.target.name,
        "python": ".".join(map(str, plan.target.python)),
        "requirements_ref": f"{plan.data.ref} {plan.data.commit_date}",
        "build_depends": list(plan.build_depends),
        "architecture": runner.capture(["dpkg", "--print-architecture"]).strip(),
        "maintainer": maintainer,
        "year": plan.data.commit_date[:4],
    }
    templates = resources.files("venvpkg.requirements_packages").joinpath("debian")
    with resources.as_file(templates) as directory:
        _render_tree(directory, source / "debian", context)
    (source / "debian" / "rules").chmod(0o755)
    _write_changelog(source / "debian" / "changelog", plan, version, maintainer)
    for item in wheelhouse.iterdir():
        place(item, source / "wheelhouse" / item.name)


def _render_tree(templates: Path, destination: Path, context: dict[str, object]) -> None:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    for path in sorted(templates.rglob("*")):
        if path.is_dir() or path.name == "__init__.py" or "__pycache__" in path.parts:
            continue
        relative = path.relative_to(templates)
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".j2":
            text = environment.get_template(relative.as_posix()).render(context)
            target.with_suffix("").write_text(text)
        else:
            shutil.copyfile(path, target)


def _write_changelog(path: Path, plan: ReleasePlan, version: str, maintainer: str) -> None:
    changelog = Changelog()
    changelog.new_block(
        package=package_name(plan),
        version=version,
        distributions=plan.target.name,
        urgency="medium",
        author=maintainer,
        date=formatdate(localtime=True),
    )
    changelog.add_change("")
    changelog.add_change(f"  * Wheelhouse of OpenStack {plan.series.label} for {plan.target.name},")
    changelog.add_change(
        f"    pinned by openstack/requirements {plan.data.ref} ({plan.data.commit_date})."
    )
    changelog.add_change("")
    path.write_text(str(changelog))


def pack(
    plan: ReleasePlan,
    wheelhouse: Path,
    debs: Path,
    workdir: Path,
    display: Display,
    maintainer: str = DEFAULT_MAINTAINER,
    scratch: str | None = None,
) -> PackResult:
    """Build the requirements .deb with dpkg-buildpackage and check it with lintian."""
    version = next_version(plan, debs)
    log = workdir / "logs" / f"release-{plan.id}" / "pack.log"
    with private_dir(str(workdir / "tmp"), 0, f"pack-{plan.id}") as build_root:
        source = build_root / f"{package_name(plan)}-{version}"
        render_source(plan, wheelhouse, source, version, maintainer)
        display.info(f"packing {package_name(plan)} {version}")
        runner.run(
            ["dpkg-buildpackage", "-b", "--no-sign", "--no-pre-clean"],
            cwd=source,
            log=log,
            env=dict(os.environ, DEB_BUILD_OPTIONS="parallel=1"),
        )
        deb = next(build_root.glob("*.deb"))
        verdict = lintian(deb, log, scratch=scratch)
        result = PackResult(package_name(plan), version, str(debs / deb.name), verdict)
        _publish(build_root, debs, plan, result)
        return result


def lintian(
    deb: Path, log: Path, allow: Mapping[str, str] | None = None, scratch: str | None = None
) -> str:
    """Run lintian; errors and warnings fail, except tags the site allows (with a reason)."""
    suppress = ["--suppress-tags", ",".join(sorted(allow))] if allow else []
    # lintian unpacks every package it checks; a venv is thousands of files.
    packed = sum(p.stat().st_size for p in deb.parent.glob("*.deb"))
    try:
        # lintian leaves its ELF caches (mldbm-elf-*) in TMPDIR: a private one goes with them.
        with private_dir(scratch, 5 * packed + (1 << 30), "lintian") as tmpdir:
            command = ["lintian", "--fail-on", "error,warning", "--tag-display-limit", "0"]
            runner.run(
                [*command, *suppress, deb],
                log=log,
                env=dict(os.environ, TMPDIR=str(tmpdir)),
            )
    except VenvpkgError as error:
        tags = [line for line in getattr(error, "tail", []) if line[:2] in ("E:", "W:")]
        raise VenvpkgError(
            f"lintian rejects {deb.name}: {'; '.join(tags[:3])}", f"see {log}"
        ) from None
    return f"clean, {len(allow)} allowed" if allow else "clean"


def _publish(build_root: Path, debs: Path, plan: ReleasePlan, result: PackResult) -> None:
    """Move the outputs into debs/ and drop older versions; state.json is written last."""
    debs.mkdir(parents=True, exist_ok=True)
    produced = [p for p in build_root.iterdir() if p.suffix in OUTPUTS]
    for path in produced:
        place(path, debs / path.name)
    names = {p.name for p in produced}
    for old in debs.glob(f"{package_name(plan)}_*"):
        if old.name not in names:
            old.unlink()
    atomic_write_text(
        debs / "state.json",
        json.dumps(
            {
                "fingerprint": plan.fingerprint(),
                "recipe": PACK_RECIPE,
                "deb": Path(result.deb).name,
                "result": asdict(result),
            },
            indent=1,
        ),
    )
