"""Stage 1c: pack a wheelhouse into the per-release requirements .deb."""

from __future__ import annotations

import hashlib
import re
import shutil
import zipfile
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name

from venvpkg import debformats, records, rendering, runner
from venvpkg.config import DEFAULT_MAINTAINER
from venvpkg.files import atomic_write_text, place
from venvpkg.places import HOST, Place
from venvpkg.progress import Display
from venvpkg.records import ReleaseRecord
from venvpkg.release import lock
from venvpkg.scratch import private_dir
from venvpkg.workdir import ReleasePaths, Workdir

if TYPE_CHECKING:
    from venvpkg.release.plan import ReleasePlan

OUTPUTS = (".deb",)


# Part of what makes a packed .deb current: a change to how it is packed repacks it.
# 2: Depends on the shared libraries of the wheels compiled from sdists.
PACK_RECIPE = 2


def package_name(plan: ReleasePlan) -> str:
    return f"openstack-requirements-{plan.series.id}"


def current(paths: ReleasePaths, plan: ReleasePlan) -> ReleaseRecord | None:
    """The package already built for exactly this plan, if any."""
    record = records.read(paths.record, ReleaseRecord.from_dict)
    if record is None or record.fingerprint != plan.fingerprint() or record.recipe != PACK_RECIPE:
        return None
    return record if record.deb.is_file() else None


def next_version(plan: ReleasePlan, paths: ReleasePaths, content: str) -> str:
    """Date of the requirements commit, a counter, the wheelhouse's content digest and
    the Debian release suffix: 20260505.1.3f2a9c1e+deb12.

    The counter grows with every repack, so a repack always raises the version; the
    digest keeps two different wheelhouses (a closure of keystone's and one of nova's,
    packed in two workdirs or on two workers) from sharing a version, which apt and
    reprepro would take for one package; the suffix gives bookworm and trixie builds
    different file names in one pool.
    """
    base = plan.data.commit_date.replace("-", "")
    counter = 1
    previous = records.read(paths.record, ReleaseRecord.from_dict)
    stem = previous.version.split("+")[0] if previous else ""
    if stem.startswith(f"{base}."):
        counter = int(stem.split(".")[1]) + 1
    return f"{base}.{counter}.{content[:8]}{plan.target.version_suffix}"


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


def _build(place: Place, source: Path, log: Path, epoch: int) -> None:
    """The .deb alone: debian/rules binary, as dpkg-buildpackage runs it.

    dpkg-buildpackage would go on to write a .buildinfo and a .changes, hashing the .deb
    three ways each: 5.9 s of a 14 s re-run for the full series' 436 MB. Nothing takes
    them: publish includes the .deb itself (reprepro includedeb), a farm ships the .deb
    and its record, and what the package was made from is its lock (every wheel's
    sha256) and wheelhouse.json, inside it. SOURCE_DATE_EPOCH is the changelog's date,
    which dpkg-buildpackage would export. lintian checks the package when it is first
    published (the pipeline's check-and-ship stage), not on every pack.
    """
    place.run(["dpkg-checkbuilddeps"], cwd=source, log=log)
    place.run(
        [source / "debian" / "rules", "binary"],
        cwd=source,
        log=log,
        env={"DEB_BUILD_OPTIONS": "parallel=1", "SOURCE_DATE_EPOCH": str(epoch)},
    )


# Members of a wheel that dpkg-shlibdeps reads: shared objects (_ldap.so, libfoo.so.1).
SHARED_OBJECT = re.compile(r"\.so(\.[0-9.]+)?$")


def _linked_libraries(wheelhouse: Path, debian: Path, workdir: Workdir, place: Place) -> Path:
    """Prepare debian/rules' dpkg-shlibdeps: the answer of an earlier pack of the same
    compiled wheels against the same installed libraries, or their shared objects to scan.

    Returns where this pack's answer is kept. Unpacking and scanning took 2 s of every
    full-series repack, and a moved pin almost never touches the wheels compiled here.
    """
    compiled = sorted(wheelhouse.glob("*-linux_*.whl"))
    # The lock's digests: pack has just checked every wheel against them.
    locked = lock.read_lock(wheelhouse / "requirements.lock")
    key = hashlib.sha256(f"{PACK_RECIPE}\n".encode())
    for wheel in compiled:
        digest = locked[canonicalize_name(wheel.name.split("-")[0])][1]
        key.update(f"{wheel.name} {digest}\n".encode())
    key.update(place.stamps("/var/lib/dpkg/status").encode())
    kept = workdir.cache("shlibs") / f"{key.hexdigest()[:32]}.substvars"
    if kept.is_file():
        shutil.copyfile(kept, debian / "shlibs.answer")
        return kept
    for wheel in compiled:
        with zipfile.ZipFile(wheel) as archive:
            for member in archive.namelist():
                if SHARED_OBJECT.search(member):
                    # extract() keeps a member inside the directory whatever its name.
                    archive.extract(member, debian / ".shlibs-scan" / wheel.name)
    return kept


def _remember_libraries(debian: Path, kept: Path) -> None:
    """Keep what dpkg-shlibdeps answered for the next pack of the same wheels."""
    answer = debian / "shlibs.answer"
    if answer.is_file() and not kept.is_file():
        atomic_write_text(kept, answer.read_text())


def _render_tree(templates: Path, destination: Path, context: dict[str, object]) -> None:
    environment = rendering.environment([templates])
    for path in sorted(templates.rglob("*")):
        if path.is_dir() or path.name == "__init__.py" or "__pycache__" in path.parts:
            continue
        relative = path.relative_to(templates)
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".j2":
            text = rendering.render(environment, relative.as_posix(), context)
            target.with_suffix("").write_text(text)
        else:
            shutil.copyfile(path, target)


def _write_changelog(path: Path, plan: ReleasePlan, version: str, maintainer: str) -> None:
    """Dated by the requirements commit, as the wheels are: a repack is bit-identical."""
    data = plan.data
    change = (
        f"Wheelhouse of OpenStack {plan.series.label} for {plan.target.name},\n"
        f"pinned by openstack/requirements {data.ref} ({data.commit_date})."
    )
    text = debformats.changelog(
        package_name(plan), version, plan.target.name, maintainer, [change], data.source_date_epoch
    )
    path.write_text(text)


def pack(
    plan: ReleasePlan,
    paths: ReleasePaths,
    workdir: Workdir,
    display: Display,
    place: Place = HOST,
    jobs: int = 2,
) -> ReleaseRecord:
    """Build the requirements .deb with debian/rules binary; publishing checks it with lintian.

    It is built in `place`, the target's root for another release: dh_shlibdeps must
    read the target's libraries, not the host's, to say what the wheels link against.
    """
    # Every wheel is checked against its lock before it is packed, and names the version.
    version = next_version(plan, paths, lock.verify(paths.wheelhouse, jobs))
    log = paths.logs / "pack.log"
    with private_dir(str(workdir.tmp), 0, f"pack-{plan.id}") as build_root:
        source = build_root / f"{package_name(plan)}-{version}"
        render_source(plan, paths.wheelhouse, source, version, DEFAULT_MAINTAINER)
        known = _linked_libraries(paths.wheelhouse, source / "debian", workdir, place)
        display.info(f"packing {package_name(plan)} {version}")
        _build(place, source, log, plan.data.source_date_epoch)
        deb = next(build_root.glob("*.deb"))
        _remember_libraries(source / "debian", known)
        record = ReleaseRecord(
            plan.target.name,
            plan.series.id,
            package_name(plan),
            version,
            paths.debs / deb.name,
            records.NOT_CHECKED,
            plan.fingerprint(),
            PACK_RECIPE,
            paths.wheelhouse,
        )
        _publish(build_root, paths, record)
        return record


def _publish(build_root: Path, paths: ReleasePaths, record: ReleaseRecord) -> None:
    """Move the outputs into debs/ and drop older versions; the record is written last."""
    paths.debs.mkdir(parents=True, exist_ok=True)
    produced = [p for p in build_root.iterdir() if p.suffix in OUTPUTS]
    for path in produced:
        place(path, paths.debs / path.name)
    names = {p.name for p in produced}
    for old in paths.debs.glob(f"{record.package}_*"):
        if old.name not in names:
            old.unlink()
    records.write(paths.record, record)
