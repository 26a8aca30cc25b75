"""Stage 1: plan, fetch, build, lock and pack the per-release wheelhouse.

plan_release() decides the wheelhouse's contents (release/plan.py); run_release() fetches
and compiles them (fetch.py, sdists.py), locks them (lock.py) and packs the requirements
package (pack.py), handing on a records.ReleaseRecord. A target other than the host's
release has its sdists compiled in that release's root, driven from here (buildroot.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from venvpkg import projects, series, targets
from venvpkg.config import Settings
from venvpkg.places import Place
from venvpkg.progress import Display
from venvpkg.release import buildroot, plan, requirements, wheels
from venvpkg.release.plan import ReleasePlan


@dataclass(frozen=True)
class ReleaseRequest:
    """What `venvpkg release` was asked for."""

    series: series.Series
    target: targets.Target
    # NAME or NAME==VERSION; empty: the whole upper-constraints.
    projects: tuple[str, ...] = ()
    # A checkout or GIT-URL[@REF] of openstack/requirements; None: the bundled copy.
    requirements: str | None = None
    allow_missing: bool = False
    dry_run: bool = False
    # A full release's services (NAME or NAME==VERSION) whose dependencies outside
    # upper-constraints it adds; None: every service deliverable of the series.
    services: tuple[str, ...] | None = None


def _say_left_out(left_out: tuple[str, ...], display: Display) -> None:
    """One line each for a few; one line for all when the index serves none of them."""
    if len(left_out) <= 3:
        for line in left_out:
            display.warn(f"service left out of the wheelhouse: {line}")
        return
    names = ", ".join(line.partition(":")[0] for line in left_out)
    display.warn(
        f"{len(left_out)} services left out of the wheelhouse ({names}); the first: {left_out[0]}"
    )


def _users(users: tuple[str, ...], services: int) -> str:
    """Who needs a name: the few by name, the many by count (setuptools: 35 of 36)."""
    if len(users) <= 3:
        return ", ".join(users)
    return f"{len(users)} of {services} services"


def _place(request: ReleaseRequest, settings: Settings, display: Display) -> Place:
    """Where the wheels build; unless this is a dry run, its build venv starts being
    made there while the plan reads the index."""
    place = buildroot.for_target(request.target, settings, display)
    if not request.dry_run:
        wheels.start_build_environment(request.target, settings.paths, place)
    return place


def plan_release(request: ReleaseRequest, settings: Settings, display: Display) -> ReleasePlan:
    """The wheelhouse plan for these projects, with the extra packages their venvs take."""
    chosen, target = request.series, request.target
    data = requirements.load(chosen, request.requirements, settings.paths)
    display.info(f"planning {chosen.label} for {target.name} from {data.origin}")
    untested = series.untested(chosen, target)
    if untested:
        display.warn(untested)
    if data.dated_by == "newest file":
        display.warn(
            f"{data.origin} has no commit; dated {data.commit_date} by its newest file, which "
            "a copy changes (and with it the wheels' digests): set SOURCE_DATE_EPOCH to fix it"
        )
    elif data.dated_by != "commit":
        display.info(f"dated {data.commit_date} by {data.dated_by}")
    made = plan.make_plan(request, data, settings, lambda: _place(request, settings, display))
    stand_ins = sorted({p.for_python for p in made.constraints.values() if p.for_python})
    if stand_ins:
        count = sum(bool(p.for_python) for p in made.constraints.values())
        python = ".".join(map(str, target.python))
        display.info(
            f"{count} pins that the branch gives only per Python take its Python "
            f"{' and '.join(stand_ins)} line for {target.name}'s Python {python}"
        )
    for pin in (*made.projects, *made.services):
        if newer := projects.newer_than_data(made.series, pin):
            display.info(newer)
    name, version = plan.INSTALLER
    if made.installer:
        display.info(f"installer: {made.installer} joins the wheelhouse; builds install with it")
    else:
        display.warn(
            f"{name} {version} has no wheel for {target.name} on {settings.index_url}: "
            "builds install with pip (slower)"
        )
    for line in made.overrides.splitlines():
        display.info(f"override: {line}")
    _say_left_out(made.left_out, display)
    if made.unconstrained:
        names = ", ".join(
            f"{n}=={made.wanted[n]} ({_users(users, len(made.services))})"
            for n, users in made.unconstrained.items()
        )
        display.info(
            f"{len(made.unconstrained)} dependencies of {len(made.services)} services are "
            f"outside upper-constraints, pinned by this release: {names}"
        )
    return made
