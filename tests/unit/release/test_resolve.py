"""The closure walk over pinned metadata, with the index replaced by a dictionary."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from venvpkg import metadata, targets
from venvpkg.release import resolve

ENVIRONMENT = targets.lookup("bookworm").marker_environment()


def _pins(**versions: str) -> dict[NormalizedName, Version]:
    return {canonicalize_name(n): Version(v) for n, v in versions.items()}


def _lookup(requires: dict[str, list[str] | None]) -> resolve.Lookup:
    def lookup(name: NormalizedName, version: Version) -> list[str] | None:
        return requires[f"{name}=={version}"]

    return lookup


def _walk(
    roots: list[str], pins: dict[NormalizedName, Version], requires: dict[str, list[str] | None]
) -> resolve.Walk:
    return resolve.walk(roots, pins, ENVIRONMENT, _lookup(requires), threads=2)


def test_walk_follows_pins_markers_and_extras() -> None:
    found = _walk(
        ["svc==2.0"],
        _pins(lib="1.0", db="3.0", pymysql="1.1", old="0.1", tool="5"),
        {
            "svc==2.0": ["lib>=1", "db[mysql]", 'old; python_version < "3"'],
            "lib==1.0": ["tool"],
            "db==3.0": ['pymysql; extra == "mysql"', 'never; extra == "postgres"'],
            "pymysql==1.1": [],
            "tool==5": ["lib"],  # a cycle ends where it started
        },
    )
    assert found.chosen == _pins(svc="2.0", lib="1.0", db="3.0", pymysql="1.1", tool="5")
    assert not found.unpinned and not found.opaque and not found.conflicts


def test_a_new_extra_of_a_seen_name_reads_its_requirements_again() -> None:
    found = _walk(
        ["a==1", "b==1"],
        _pins(db="3.0", pymysql="1.1"),
        {
            "a==1": ["db"],
            "b==1": ["db[mysql]"],
            "db==3.0": ['pymysql; extra == "mysql"'],
            "pymysql==1.1": [],
        },
    )
    assert canonicalize_name("pymysql") in found.chosen


def test_unpinned_names_and_unreadable_sdists_are_reported_not_guessed() -> None:
    found = _walk(
        ["svc==1"],
        _pins(legacy="2.0"),
        {"svc==1": ["certifi>=2020", "legacy"], "legacy==2.0": None},
    )
    assert found.unpinned == {"certifi": ["certifi>=2020"]}
    assert found.opaque == ["legacy==2.0"]


def test_a_requirement_the_pin_does_not_satisfy_is_a_conflict() -> None:
    found = _walk(["svc==1"], _pins(lib="1.0"), {"svc==1": ["lib>=2"], "lib==1.0": []})
    assert found.conflicts == ["svc 1 requires lib>=2, but 1.0 is pinned"]


def test_prerelease_pins_satisfy_plain_ranges() -> None:
    found = _walk(["svc==1"], _pins(lib="2.0rc1"), {"svc==1": ["lib>=1"], "lib==2.0rc1": []})
    assert not found.conflicts


def _sdist(tmp_path: Path, members: dict[str, str]) -> Path:
    path = tmp_path / "demo-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for name, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(f"demo-1.0/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_static_pkg_info_gives_an_sdists_requirements(tmp_path: Path) -> None:
    sdist = _sdist(
        tmp_path, {"PKG-INFO": "Metadata-Version: 2.2\nName: demo\nRequires-Dist: a>=1\n"}
    )
    assert metadata.sdist_requires(sdist) == ["a>=1"]


def test_dynamic_or_old_pkg_info_without_egg_info_is_unknown(tmp_path: Path) -> None:
    dynamic = "Metadata-Version: 2.2\nName: demo\nDynamic: Requires-Dist\n"
    assert metadata.sdist_requires(_sdist(tmp_path, {"PKG-INFO": dynamic})) is None
    old = "Metadata-Version: 2.1\nName: demo\nRequires-Dist: a\n"
    assert metadata.sdist_requires(_sdist(tmp_path, {"PKG-INFO": old})) is None


def test_pbr_style_egg_info_requires_become_markers(tmp_path: Path) -> None:
    sdist = _sdist(
        tmp_path,
        {
            "PKG-INFO": "Metadata-Version: 1.2\nName: demo\n",
            "demo.egg-info/PKG-INFO": "Metadata-Version: 1.2\nName: demo\n",
            "demo.egg-info/requires.txt": "pbr>=2.0\n\n[:python_version < '3.8']\nold\n\n"
            "[ldap]\npython-ldap>=3\n",
        },
    )
    assert metadata.sdist_requires(sdist) == [
        "pbr>=2.0",
        "old; python_version < '3.8'",
        'python-ldap>=3; extra == "ldap"',
    ]


class _DatedIndex:
    """Versions of each name uploaded before the branch date, newest first."""

    def dated(self, name: str, before: str, target: object) -> list[Version]:
        assert before == "2021-08-06"
        return [Version(v) for v in {"wheel": ["0.46.1", "0.45.0", "0.44.0"]}[name]]


def _requires(name: NormalizedName, version: Version) -> list[str]:
    return {"0.46.1": ["packaging>=24.0"], "0.45.0": [], "0.44.0": []}[str(version)]


def test_an_open_name_takes_the_newest_dated_version_the_pins_and_constraints_allow() -> None:
    rules = resolve.Rules("wheel<0.46\n", "2021-08-06")
    resolver = resolve.Resolver(_DatedIndex(), None, targets.lookup("bullseye"), rules, None)  # type: ignore[arg-type]
    wheel = canonicalize_name("wheel")
    assert resolver._dated_version(wheel, [], {}, _requires) == Version("0.45.0")
    assert resolver._dated_version(wheel, ["wheel<0.45"], {}, _requires) == Version("0.44.0")
    assert resolver._dated_version(wheel, ["wheel>=1"], {}, _requires) is None


def test_a_dated_version_whose_requirements_the_pins_refuse_is_passed_over() -> None:
    resolver = resolve.Resolver(
        _DatedIndex(),
        None,
        targets.lookup("bullseye"),
        resolve.Rules("", "2021-08-06"),
        None,  # type: ignore[arg-type]
    )
    pins = {canonicalize_name("packaging"): Version("21.3")}
    chosen = resolver._dated_version(canonicalize_name("wheel"), [], pins, _requires)
    assert chosen == Version("0.45.0")


def test_a_build_requirement_the_pins_contradict_is_left_to_its_own_build(
    tmp_path: Path,
) -> None:
    # scipy 1.5's pyproject.toml as victoria meets it: numpy==1.17.3 where 1.19.2 is pinned.
    resolver = resolve.Resolver(
        _DatedIndex(), None, targets.lookup("bullseye"), resolve.Rules(), tmp_path / "r.log"
    )  # type: ignore[arg-type]
    wanted = [
        "Cython>=0.29.18",
        "numpy==1.14.5; python_version=='3.7'",
        "numpy==1.17.3; python_version>='3.8'",
    ]
    pins = {canonicalize_name("numpy"): Version("1.19.2")}
    kept = resolver._accepting_pins(wanted, pins)
    assert kept == ["Cython>=0.29.18", "numpy==1.14.5; python_version=='3.7'"]
    assert "left to fail in its build: numpy==1.17.3" in (tmp_path / "r.log").read_text()


class _OneSinks(resolve.Resolver):
    """pip-compile replaced: any run that includes scipy fails, as victoria's did."""

    def compiled(self, requirements, pins):  # type: ignore[no-untyped-def]
        if any(r.startswith("scipy") for r in requirements):
            raise resolve.ResolutionFailed("cannot resolve scipy: numpy==1.17.3 conflicts")
        return {canonicalize_name(r.split(">")[0]): Version("1.0") for r in requirements}


def test_not_strict_one_failing_requirement_leaves_the_others_resolved(tmp_path: Path) -> None:
    resolver = _OneSinks(
        _DatedIndex(), None, targets.lookup("bullseye"), resolve.Rules(), tmp_path / "r.log"
    )  # type: ignore[arg-type]
    wanted = ["Cython>=0.29", "scipy>=0.19.1", "pybind11>=2.4"]
    chosen = resolver._compiled_each_if_need_be(wanted, {})
    assert chosen == {"cython": Version("1.0"), "pybind11": Version("1.0")}
    assert "left to fail in its build: scipy>=0.19.1" in (tmp_path / "r.log").read_text()
    # What was left out stays known, with pip's reason, for the release to report.
    assert resolver.unresolved == {"scipy": "cannot resolve scipy: numpy==1.17.3 conflicts"}


# alembic's requirements per version, as the index's metadata gives them.
ALEMBIC: dict[str, list[str] | None] = {
    "alembic==1.16.4": ["SQLAlchemy>=1.4.0", "Mako"],
    "alembic==1.16.3": ["Mako", "SQLAlchemy>=1.4.0"],
    "alembic==1.17.0": ["SQLAlchemy>=1.4.0", "Mako", "tomli"],
    "alembic==1.15.0": None,  # only a build could tell
}


class _Known(resolve.Resolver):
    """The index replaced by ALEMBIC."""

    def lookup(self) -> resolve.Lookup:
        return _lookup(ALEMBIC)


def test_a_moved_pin_that_requires_the_same_keeps_the_closure(tmp_path: Path) -> None:
    resolver = _Known(None, None, targets.lookup("bookworm"), resolve.Rules(), tmp_path / "r")  # type: ignore[arg-type]
    cached = {"alembic": "1.16.4", "sqlalchemy": "2.0.41", "mako": "1.3.10"}
    pins = _pins(alembic="1.16.3", sqlalchemy="2.0.41", mako="1.3.10")
    assert resolver._moved_alike(cached, pins) == pins
    # A new requirement (tomli) may pull in names the old closure never had: pip decides.
    assert resolver._moved_alike(cached, pins | _pins(alembic="1.17.0")) is None
    assert resolver._moved_alike(cached, pins | _pins(alembic="1.15.0")) is None


class _Sentinel(Exception):
    pass


def test_a_failed_closure_fails_again_from_memory_until_a_reached_pin_moves_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from venvpkg.workdir import Workdir

    def pip_compile(*args: object) -> None:
        raise _Sentinel  # pip-compile would run here

    monkeypatch.setattr(resolve.buildroot, "resolver_python", pip_compile)
    index = type("I", (), {"url": "http://index/"})()
    resolver = _Known(
        index, Workdir(tmp_path), targets.lookup("bookworm"), resolve.Rules(), tmp_path / "r"
    )  # type: ignore[arg-type]
    wanted = ["horizon==25.5.2"]
    key = resolve._key(wanted, "", "http://index/", targets.lookup("bookworm"))
    memo = tmp_path / "cache" / "resolve" / f"{key}.failed.json"
    memo.parent.mkdir(parents=True)
    memo.write_text(
        '{"message": "cannot resolve horizon==25.5.2: Failed to build XStatic", "hint": "",'
        ' "pins": {"alembic": "1.16.4"}}'
    )
    with pytest.raises(resolve.ResolutionFailed, match="Failed to build XStatic"):
        resolver.compiled(wanted, _pins(alembic="1.16.3"))  # requires the same
    with pytest.raises(_Sentinel):
        resolver.compiled(wanted, _pins(alembic="1.17.0"))  # requires tomli too


class _Compiles(resolve.Resolver):
    """pip-compile replaced: records what it is asked, answers for the opaque sdist."""

    asked: list[list[str]] = []  # noqa: RUF012

    def lookup(self) -> resolve.Lookup:
        return _lookup(
            {
                "keystone==28.1.0": ["oslo.db", "python-ldap[sasl]; extra == 'ldap'"],
                "oslo-db==17.4.0": ["alembic"],
                "alembic==1.16.4": ["SQLAlchemy"],
                "sqlalchemy==2.0.41": [],
                "python-ldap==3.4.4": None,  # an sdist only a build can read
            }
        )

    def compiled(self, requirements, pins):  # type: ignore[no-untyped-def]
        self.asked.append(requirements)
        return {canonicalize_name("python-ldap"): Version("3.4.4"), "pyasn1": Version("0.6.1")}


def test_only_what_the_walk_cannot_read_goes_to_pip_compile(tmp_path: Path) -> None:
    resolver = _Compiles(None, None, targets.lookup("bookworm"), resolve.Rules(), tmp_path / "r")  # type: ignore[arg-type]
    pins = _pins(**{"oslo.db": "17.4.0", "alembic": "1.16.4", "SQLAlchemy": "2.0.41"})
    pins |= _pins(**{"python-ldap": "3.4.4"})
    found = resolver.closure(["keystone[ldap]==28.1.0"], pins)
    # The sdist with its extras, not the 100 names keystone's closure has.
    assert resolver.asked == [["python-ldap[sasl]==3.4.4"]]
    assert found == _pins(
        keystone="28.1.0",
        **{"oslo-db": "17.4.0", "alembic": "1.16.4", "sqlalchemy": "2.0.41"},
        **{"python-ldap": "3.4.4", "pyasn1": "0.6.1"},
    )
