"""Debian's own split, read from the archive data venvpkg bundles, decides ours."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from packaging.version import Version

from venvpkg import projects
from venvpkg.debianize import archive, from_archive, layout, model
from venvpkg.errors import DataError

NOWHERE = Path("/nonexistent")  # no workdir copy: the bundled data


def _debians_model(source: archive.DebianSource) -> model.ProjectModel:
    """A release that ships what Debian's package ships: every tool in /usr/bin is a
    console script, every WSGI script Debian's uwsgi loads from there is pbr's, and a
    WSGI module serves where Debian loads a file of its own (aodh's app.wsgi)."""
    tools = {t for b in source.binaries for t in b.tools}
    served = [str(run.get("wsgi_app", "")) for b in source.binaries for _u, run in b.units]
    apps = {app.rpartition("/")[2] for app in served if app.startswith("/usr/bin/")}
    apps |= {t for t in tools if "wsgi" in t}  # glance-wsgi-api: pbr's, unused by Debian
    own_file = any(app and not app.startswith("/usr/bin/") for app in served)
    return model.ProjectModel(
        name=source.name,
        dist_name=source.name,
        version=Version("1.0"),
        modules=(source.name,),
        console_scripts={t: "x:y" for t in sorted(tools - apps)},
        wsgi_scripts={a: "x:y" for a in sorted(apps)},
        wsgi_modules=(f"{source.name}.wsgi.api",) if own_file else (),
        config_files=(),
        samples=(),
        policy_namespaces=(),
        requires=(),
    )


def _declared(project: str) -> dict[str, str]:
    entry: dict[str, Any] = projects.layouts().get(project, {})
    return {**entry.get("not_built", {}), **entry.get("gone", {})}


@pytest.mark.parametrize("dist", archive.DISTS)
def test_every_package_name_debian_has_exists_in_ours(dist: str) -> None:
    """Every binary package Debian builds from these sources is one of ours, or is
    declared in layouts.toml with the reason it is not (documentation aside)."""
    data = archive.load(dist, NOWHERE)
    assert {"keystone", "nova", "octavia", "swift", "aodh"} <= set(data.sources)
    missing = {}
    for name, source in sorted(data.sources.items()):
        ours = {p.name for p in layout.plan_layout(_debians_model(source), source).packages}
        theirs = {b for b in source.names if not b.endswith("-doc")}
        left = sorted(theirs - ours - set(_declared(name)))
        if left:
            missing[name] = left
    assert missing == {}


def test_every_declared_exception_gives_its_reason() -> None:
    for name, entry in projects.layouts().items():
        for key in ("gone", "not_built"):
            for package, reason in entry.get(key, {}).items():
                assert len(reason) > 20, f"[{name}] {key}.{package}: say why"


def _source(*binaries: archive.Binary) -> archive.DebianSource:
    return archive.DebianSource("fixd", "1.0-1", "trixie", binaries)


def _fixd(scripts: list[str], wsgi: tuple[str, ...] = ()) -> model.ProjectModel:
    return model.ProjectModel(
        name="fixd",
        dist_name="fixd",
        version=Version("2.0"),
        modules=("fixd",),
        console_scripts={s: "x:y" for s in scripts},
        wsgi_scripts={},
        wsgi_modules=wsgi,
        config_files=(),
        samples=(),
        policy_namespaces=(),
        requires=(),
    )


def test_units_run_what_debians_run_with_its_arguments_and_a_shared_script_is_common() -> None:
    source = _source(
        archive.Binary("fixd-common", tools=("fixd-polling", "fixd-manage")),
        archive.Binary(
            "fixd-agent-central",
            units=(
                (
                    "fixd-agent-central.service",
                    {
                        "exec": "/usr/bin/fixd-polling",
                        "args": "--ns central --config-file=/etc/fixd/x.conf",
                    },
                ),
            ),
        ),
        archive.Binary(
            "fixd-agent-compute",
            units=(
                (
                    "fixd-agent-compute.service",
                    {"exec": "/usr/bin/fixd-polling", "args": "--ns compute"},
                ),
            ),
        ),
        archive.Binary(
            "fixd-api",
            units=(
                (
                    "fixd-api.service",
                    {"uwsgi": True, "port": 8123, "wsgi_app": "/usr/share/fixd/app.wsgi"},
                ),
            ),
        ),
        archive.Binary(
            "fixd-agent",
            units=(
                ("fixd-agent-netns.service", {"exec": "/usr/sbin/fixd-netns-start", "args": ""}),
            ),
        ),
        archive.Binary("fixd"),
        archive.Binary("fixd-doc"),
        archive.Binary("python3-fixd"),
    )
    split = layout.plan_layout(_fixd(["fixd-polling", "fixd-manage"], ("fixd.wsgi.api",)), source)
    names = {p.name: p for p in split.packages}
    assert set(names) == {
        "venv-fixd",
        "python3-fixd",
        "fixd-common",
        "fixd-agent-central",
        "fixd-agent-compute",
        "fixd-api",
        "fixd",
    }
    central = names["fixd-agent-central"].services[0]
    # Debian's config-file placement is dropped: venvpkg's unit passes the project's own.
    assert (central.script, central.args) == ("fixd-polling", "--ns central")
    assert "fixd-polling" in names["fixd-common"].scripts
    assert names["fixd-agent-central"].scripts == ()
    api = names["fixd-api"].services[0]
    assert (api.wsgi_file, api.port, api.generated) == ("fixd-wsgi-api", 8123, True)
    assert names["fixd"].role == "meta"


def test_a_unit_whose_tool_the_release_dropped_is_named_unless_declared() -> None:
    source = _source(
        archive.Binary("fixd-common"),
        archive.Binary(
            "fixd-pool-manager",
            units=(
                ("fixd-pool-manager.service", {"exec": "/usr/bin/fixd-pool-manager", "args": ""}),
            ),
        ),
    )
    with pytest.raises(DataError) as refused:
        layout.plan_layout(_fixd(["fixd-manage"]), source)
    assert "Debian's fixd-pool-manager (trixie fixd 1.0-1) runs fixd-pool-manager" in str(
        refused.value
    )
    assert "gone = { fixd-pool-manager" in str(refused.value)
    declared = from_archive.split(
        _fixd(["fixd-manage"]), source, {"gone": {"fixd-pool-manager": "dropped upstream in 2.0"}}
    )
    assert declared.left_out == (("fixd-pool-manager", "dropped upstream in 2.0"),)
    assert "fixd-pool-manager" not in declared.packages


def test_a_project_debian_lacks_in_the_target_borrows_the_newest_split() -> None:
    freezer = archive.source("freezer", "trixie", NOWHERE)
    assert freezer is not None and freezer.dist == "bookworm"
    assert archive.source("adjutant", "trixie", NOWHERE) is None
    # Debian's trove is a Java library, not OpenStack's trove.
    assert archive.source("trove", "trixie", NOWHERE) is None
