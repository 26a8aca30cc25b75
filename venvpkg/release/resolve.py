"""Dependency closure under constraints.

upper-constraints pins nearly every name a closure reaches, so there is nothing to
search: the closure is a walk over the pinned versions' metadata, fetched in parallel
(PEP 658 files, or the wheel or sdist the wheelhouse needs anyway) and cached per file.
pip-tools, the design card's resolver, decides what the walk cannot: names the branch
leaves unpinned (certifi) and sdists whose requirements only a build reveals. Its
results are cached while the pins of every name they contain stay the same.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from venvpkg import metadata
from venvpkg.errors import CommandFailed, VenvpkgError
from venvpkg.files import Store, atomic_write_text, remembered
from venvpkg.index import Artifact, Index, NotOnIndex, choose
from venvpkg.places import HOST, Place
from venvpkg.release import buildroot
from venvpkg.targets import Target
from venvpkg.workdir import Workdir

LOOKUP_THREADS = 16
# Each round pins the build tools the previous one reached (pbr, then setuptools).
MAX_DATED_ROUNDS = 8
Lookup = Callable[[NormalizedName, Version], list[str] | None]


class ResolutionFailed(VenvpkgError):
    """pip-compile found no consistent set of versions."""


def _key(requirements: list[str], frozen: str, index_url: str, target: Target) -> str:
    text = json.dumps([sorted(requirements), frozen, index_url, target.name])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _still_valid(result: dict[str, str], pins: Mapping[NormalizedName, Version]) -> bool:
    """A cached closure holds while every name in it keeps the pin it was resolved with."""
    return all(
        str(pins[name]) == version  # type: ignore[index]
        for name, version in result.items()
        if name in pins
    )


def parse_compiled(text: str) -> dict[NormalizedName, Version]:
    """name -> version from pip-compile output (markers and comments dropped)."""
    found: dict[NormalizedName, Version] = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        requirement = Requirement(line)
        spec = next(iter(requirement.specifier))
        found[canonicalize_name(requirement.name)] = Version(spec.version)
    return found


@dataclass
class Walk:
    """What following the pinned versions' requirements found."""

    chosen: dict[NormalizedName, Version] = field(default_factory=dict)
    unpinned: dict[NormalizedName, list[str]] = field(default_factory=dict)
    opaque: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)


def walk(
    roots: list[str],
    pins: Mapping[NormalizedName, Version],
    environment: dict[str, str],
    lookup: Lookup,
    threads: int = LOOKUP_THREADS,
) -> Walk:
    """Follow requirements from `roots` through the pinned versions.

    Each version's requirements are followed as soon as they are read, not a level at a
    time: on a cold index each level waited for its slowest page.
    """
    found = Walk()
    extras_seen: dict[NormalizedName, set[str]] = {}
    pending = [(Requirement(r), "the request") for r in roots]
    exact = {canonicalize_name(r.name): _exact(r) for r, _ in pending if _exact(r)}
    pins = {**pins, **{n: v for n, v in exact.items() if v is not None}}
    requires = lookup if isinstance(lookup, Requires) else Requires(lookup)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        reading = {requires.soon(key, pool) for key in _visit(pending, pins, extras_seen, found)}
        while reading:
            done, reading = wait(reading, return_when=FIRST_COMPLETED)
            pending = []
            for future in done:
                (name, version), lines = future.result()
                if lines is None:
                    named = ",".join(sorted(extras_seen[name] - {""}))
                    found.opaque.append(f"{name}{f'[{named}]' if named else ''}=={version}")
                    continue
                extras = extras_seen[name]
                for requirement in metadata.requirements(lines):
                    if _applies(requirement, environment, extras):
                        pending.append((requirement, f"{name} {version}"))
            reading |= {requires.soon(k, pool) for k in _visit(pending, pins, extras_seen, found)}
    # The order things were read in is the network's; the answer's must not be.
    found.chosen = dict(sorted(found.chosen.items()))
    found.opaque = sorted(set(found.opaque))
    found.conflicts = sorted(set(found.conflicts))
    return found


def _visit(
    pending: list[tuple[Requirement, str]],
    pins: Mapping[NormalizedName, Version],
    extras_seen: dict[NormalizedName, set[str]],
    found: Walk,
) -> list[tuple[NormalizedName, Version]]:
    """Record each requirement; return the (name, version) whose metadata is needed next."""
    todo: dict[tuple[NormalizedName, Version], None] = {}
    for requirement, parent in pending:
        name = canonicalize_name(requirement.name)
        version = pins.get(name)
        if version is None:
            found.unpinned.setdefault(name, []).append(without_marker(requirement))
            continue
        if not requirement.specifier.contains(version, prereleases=True):
            found.conflicts.append(f"{parent} requires {requirement}, but {version} is pinned")
            continue
        found.chosen[name] = version
        wanted = {"", *requirement.extras}
        if not wanted <= extras_seen.get(name, set()):
            # A new extra re-reads the requirements; names already seen are skipped.
            extras_seen.setdefault(name, set()).update(wanted)
            todo[(name, version)] = None
    return list(todo)


def _applies(requirement: Requirement, environment: dict[str, str], extras: set[str]) -> bool:
    if requirement.marker is None:
        return True
    return any(metadata.holds(requirement, environment | {"extra": e}) for e in extras)


def _exact(requirement: Requirement) -> Version | None:
    specs = list(requirement.specifier)
    if len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version:
        return Version(specs[0].version)
    return None


def without_marker(requirement: Requirement) -> str:
    """NAME[EXTRAS]SPECIFIER: the requirement with its marker evaluated away."""
    extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
    return f"{requirement.name}{extras}{requirement.specifier}"


def index_lookup(index: Index, store: Store, target: Target, cache: Path) -> Lookup:
    """Requirements of a pinned version's best file for `target`, cached per file."""

    def lookup(name: NormalizedName, version: Version) -> list[str] | None:
        try:
            artifact = choose(index.files(name, version), target)
        except NotOnIndex:
            artifact = None
        if artifact is None:
            # Nothing to read: the fetch stage reports the pin with its cause.
            return []
        found = artifact  # narrowed to an Artifact for the lambda
        lines: list[str] | None = remembered(
            cache / f"{found.filename}.json", lambda: _requires_of(found, index, store)
        )
        return lines

    return Requires(lookup)


def _requires_of(artifact: Artifact, index: Index, store: Store) -> list[str] | None:
    """Requires-Dist of one file: PEP 658 metadata where the index has it, else the file's."""
    if artifact.metadata_url:
        return metadata.from_core_metadata(index.core_metadata(artifact))
    path = store.path(index.download(artifact, store))
    if artifact.is_wheel:
        return metadata.from_core_metadata(metadata.wheel_metadata(path))
    return metadata.sdist_requires(path)


class Requires:
    """A lookup that reads each version once. A full release walks every service's
    closure: 6700 look-ups of 600 versions, 1.3 s of each re-run when each was read and
    handed to a thread."""

    def __init__(self, read: Lookup) -> None:
        self._read = read
        self._answers: dict[tuple[NormalizedName, Version], list[str] | None] = {}

    def __call__(self, name: NormalizedName, version: Version) -> list[str] | None:
        key = (name, version)
        if key not in self._answers:
            self._answers[key] = self._read(name, version)
        return self._answers[key]

    def soon(
        self, key: tuple[NormalizedName, Version], pool: ThreadPoolExecutor
    ) -> Future[tuple[tuple[NormalizedName, Version], list[str] | None]]:
        """The answer for `key`, read in `pool` unless it was read before."""
        if key in self._answers:
            known: Future[tuple[tuple[NormalizedName, Version], list[str] | None]] = Future()
            known.set_result((key, self._answers[key]))
            return known

        def read() -> tuple[tuple[NormalizedName, Version], list[str] | None]:
            self._answers[key] = self._read(*key)
            return key, self._answers[key]

        return pool.submit(read)


@dataclass(frozen=True)
class Rules:
    """What a requirements branch adds to its pins when a closure is resolved."""

    # build-constraints.txt, one requirement per line.
    constraints: str = ""
    # YYYY-MM-DD: names the pins leave open take their newest version uploaded before it,
    # so an old branch builds with the tools of its day (setuptools with pkg_resources).
    dated_before: str = ""
    # Names the branch leaves open on purpose (its denylist: certifi's newest CA bundle).
    undated: frozenset[NormalizedName] = frozenset()

    @functools.cached_property
    def constrained(self) -> dict[NormalizedName, list[SpecifierSet]]:
        """The build constraints' specifiers by name."""
        found: dict[NormalizedName, list[SpecifierSet]] = {}
        for line in self.constraints.splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                requirement = Requirement(line.split("#", 1)[0])
                found.setdefault(canonicalize_name(requirement.name), []).append(
                    requirement.specifier
                )
        return found


@dataclass(frozen=True)
class Resolver:
    """Closures for one target under one branch's rules."""

    index: Index
    workdir: Workdir
    target: Target
    rules: Rules
    log: Path
    # Where pip-compile runs: on the host for the host's release, else in the target's root.
    place: Place = HOST
    # What a non-strict closure left out, by name, with pip's reason.
    unresolved: dict[NormalizedName, str] = field(default_factory=dict)

    def closure(
        self,
        requirements: list[str],
        pins: Mapping[NormalizedName, Version],
        strict: bool = True,
    ) -> dict[NormalizedName, Version]:
        """Every distribution `requirements` need, pinned by `pins` where they have one.

        Not `strict`: a requirement the pins contradict is left to fail where it is used
        (a build requirement: that one sdist's build) instead of stopping the run.
        """
        lookup = self.lookup()
        if not strict:
            requirements = self._accepting_pins(requirements, pins)
        found = walk(requirements, pins, self.target.marker_environment(), lookup)
        if self.rules.dated_before:
            found, pins = self._dated(requirements, dict(pins), found, lookup)
        if found.conflicts and strict:
            raise ResolutionFailed(
                f"the pins contradict each other: {found.conflicts[0]}"
                + (f" (and {len(found.conflicts) - 1} more)" if len(found.conflicts) > 1 else ""),
                "fix the constraints, or pin a compatible version",
            )
        resolved = self.compiled if strict else self._compiled_each_if_need_be
        # pip-compile gets only what the walk could not read: sdists whose requirements
        # need a build (keystone's python-ldap) and names no pin covers, under the pins and
        # every version the walk chose. Handing it the whole closure instead made it fetch
        # the metadata of all 100 names of keystone's: 12.5 of a cold release's 36 s.
        leftovers = {r for rs in found.unpinned.values() for r in rs} | set(found.opaque)
        result = dict(found.chosen)
        if not leftovers:
            return result
        try:
            return result | resolved(sorted(leftovers), {**pins, **found.chosen})
        except ResolutionFailed:
            if not found.opaque:
                raise
            # The whole request again, for pip's own account of what cannot be had (a
            # pin the walk took on trust, fixlib-a==9.9, would go unnamed otherwise).
            return resolved(requirements, pins)

    def _compiled_each_if_need_be(
        self, requirements: list[str], pins: Mapping[NormalizedName, Version]
    ) -> dict[NormalizedName, Version]:
        """pip-compile's answer for all; if one requirement sinks the run (victoria's
        scipy 1.5.2 has no Python 3.9 wheel, and reading its metadata builds it against
        a numpy the branch does not pin), each alone, leaving out those that fail."""
        try:
            return self.compiled(requirements, pins)
        except ResolutionFailed:
            pass
        result: dict[NormalizedName, Version] = {}
        for requirement in requirements:
            try:
                result |= self.compiled([requirement], pins)
            except ResolutionFailed as error:
                self.unresolved[canonicalize_name(Requirement(requirement).name)] = error.message
                with self.log.open("a") as log:
                    log.write(f"# left to fail in its build: {requirement}: {error}\n")
        return result

    def _accepting_pins(
        self, requirements: list[str], pins: Mapping[NormalizedName, Version]
    ) -> list[str]:
        """The requirements the pins do not contradict: scipy 1.5's build wants
        numpy==1.17.3 where victoria pins 1.19; in one pip-compile run that line would
        fail every other name with it."""
        environment = self.target.marker_environment() | {"extra": ""}
        kept = []
        for text in requirements:
            pinned = _refused_pin(Requirement(text), pins, environment)
            if pinned is not None:
                self.log.parent.mkdir(parents=True, exist_ok=True)
                with self.log.open("a") as log:
                    log.write(f"# left to fail in its build: {text} (pinned: {pinned})\n")
                continue
            kept.append(text)
        return kept

    def lookup(self) -> Lookup:
        """Requirements of pinned versions, from the index and cached per file."""
        return index_lookup(
            self.index, self.workdir.store, self.target, self.workdir.cache("requires")
        )

    def _dated(
        self,
        requirements: list[str],
        pins: dict[NormalizedName, Version],
        found: Walk,
        lookup: Lookup,
    ) -> tuple[Walk, dict[NormalizedName, Version]]:
        """Pin each open name to its dated version and walk again, until none is left
        that has one; the rest go to pip-compile as usual."""
        for _round in range(MAX_DATED_ROUNDS):
            open_names = [n for n in found.unpinned if n not in self.rules.undated]
            dated = {
                name: self._dated_version(name, found.unpinned[name], pins, lookup)
                for name in open_names
            }
            chosen = {name: version for name, version in dated.items() if version is not None}
            if not chosen:
                break
            pins |= chosen
            found = walk(requirements, pins, self.target.marker_environment(), lookup)
        return found, pins

    def _dated_version(
        self,
        name: NormalizedName,
        wanted: list[str],
        pins: Mapping[NormalizedName, Version],
        lookup: Lookup,
    ) -> Version | None:
        """The newest version uploaded before the date that every requirement accepts,
        the branch's build constraints included, and whose own requirements the pins meet
        (yoga's date brings wheel 0.46, which wants packaging 24 where yoga pins 21.3)."""
        specifiers = [Requirement(text).specifier for text in wanted]
        specifiers += self.rules.constrained.get(name, [])
        for version in self.index.dated(name, self.rules.dated_before, self.target):
            if all(version in spec for spec in specifiers) and self._fits(
                lookup(name, version), pins
            ):
                return version
        return None

    def _fits(self, lines: list[str] | None, pins: Mapping[NormalizedName, Version]) -> bool:
        """Whether a candidate's unconditional requirements accept the pinned versions."""
        environment = self.target.marker_environment() | {"extra": ""}
        requirements = metadata.requirements(lines or [])
        return all(_refused_pin(r, pins, environment) is None for r in requirements)

    def _dated_tools(self, pins: Mapping[NormalizedName, Version]) -> str:
        """setuptools and wheel of the branch's day for the builds pip-compile makes to read
        an sdist's metadata (queens' cryptography needs pkg_resources)."""
        if not self.rules.dated_before:
            return ""
        lookup = self.lookup()
        names = [canonicalize_name(n) for n in BUILD_TOOLS]
        chosen = {name: self._dated_version(name, [], pins, lookup) for name in names}
        return "".join(f"{n}=={v}\n" for n, v in chosen.items() if v and n not in pins)

    def compiled(
        self, requirements: list[str], pins: Mapping[NormalizedName, Version]
    ) -> dict[NormalizedName, Version]:
        """pip-compile's answer, reused while every name in it keeps its pin."""
        target = self.target
        key = _key(requirements, self.rules.constraints, self.index.url, target)
        cache = self.workdir.cache("resolve") / f"{key}.json"
        if cache.is_file():
            cached = json.loads(cache.read_text())
            if _still_valid(cached, pins):
                return {canonicalize_name(n): Version(v) for n, v in cached.items()}
            moved = self._moved_alike(cached, pins)
            if moved is not None:
                return _stored(cache, moved)
        failed = cache.with_suffix(".failed.json")
        if failed.is_file():
            memo = json.loads(failed.read_text())
            if self._moved_alike(memo["pins"], pins) is not None:
                raise ResolutionFailed(memo["message"], memo["hint"])
        tmp = self.workdir.tmp
        tmp.mkdir(parents=True, exist_ok=True)
        # Removed whether pip-compile succeeds or not; nothing in it is worth keeping.
        with tempfile.TemporaryDirectory(prefix="resolve-", dir=tmp) as name:
            constraints = _constraints_text(pins, self.rules.constraints) + self._dated_tools(pins)
            python = buildroot.resolver_python(self.place, target, self.workdir, self.index.url)
            compile_run = _Compile(self.place, python, self.index.url, self.log)
            try:
                result = compile_run.closure(Path(name), requirements, constraints)
            except ResolutionFailed as error:
                self._remember_failure(failed, error, requirements, pins)
                raise
        failed.unlink(missing_ok=True)
        return _stored(cache, result)

    def _remember_failure(
        self,
        where: Path,
        error: ResolutionFailed,
        requirements: list[str],
        pins: Mapping[NormalizedName, Version],
    ) -> None:
        """A failed pip-compile (horizon's closure: an XStatic sdist that does not build)
        fails again while the pins of every name its requirements reach stay put; without
        this each release re-ran two failing pip-compiles, 33 s of a one-pin full release.
        Held as a success is (_moved_alike): while each moved pin of a reached name
        requires what its old version did; any other change tries again."""
        reached = walk(requirements, pins, self.target.marker_environment(), self.lookup())
        names = set(reached.chosen) | {
            canonicalize_name(Requirement(o).name) for o in reached.opaque
        }
        held = {n: str(pins[n]) for n in sorted(names) if n in pins}
        memo = {"message": error.message, "hint": error.hint, "pins": held}
        atomic_write_text(where, json.dumps(memo, indent=1))

    def _moved_alike(
        self, cached: Mapping[str, str], pins: Mapping[NormalizedName, Version]
    ) -> dict[NormalizedName, Version] | None:
        """The cached closure with its moved pins at their new versions, when each moved
        pin requires exactly what its old version did: the graph pip-compile walked is then
        the same, so its answer is too. A point-release bump (alembic 1.16.4 -> 1.16.3)
        costs a metadata read instead of a pip-compile run (7 s for keystone's closure).
        Anything else (a requirement added or changed, metadata only a build can tell):
        None, and pip-compile decides."""
        lookup = self.lookup()
        result = {canonicalize_name(n): Version(v) for n, v in cached.items()}
        for name, old in sorted(result.items()):
            new = pins.get(name)
            # An unpinned name (certifi, denylisted) is pip's choice, as _still_valid has it.
            if new is None or new == old:
                continue
            before, after = lookup(name, old), lookup(name, new)
            if before is None or after is None or sorted(before) != sorted(after):
                return None
            result[name] = new
        return result


def _stored(cache: Path, closure: dict[NormalizedName, Version]) -> dict[NormalizedName, Version]:
    """Keep a closure for the next run (Resolver.compiled reads it back); return it."""
    atomic_write_text(cache, json.dumps({n: str(v) for n, v in sorted(closure.items())}, indent=1))
    return closure


BUILD_TOOLS = ("setuptools", "wheel")


def _refused_pin(
    requirement: Requirement, pins: Mapping[NormalizedName, Version], environment: dict[str, str]
) -> Version | None:
    """The pin of the requirement's name, when the requirement applies here and refuses it."""
    pinned = pins.get(canonicalize_name(requirement.name))
    if pinned is None or not metadata.holds(requirement, environment):
        return None
    return None if pinned in requirement.specifier else pinned


def _constraints_text(pins: Mapping[NormalizedName, Version], extra: str) -> str:
    return "".join(f"{name}=={version}\n" for name, version in sorted(pins.items())) + extra


@dataclass(frozen=True)
class _Compile:
    """One place's pip-compile against one index."""

    place: Place
    python: Path
    index_url: str
    log: Path

    def closure(
        self, scratch: Path, requirements: list[str], constraints_text: str
    ) -> dict[NormalizedName, Version]:
        constraints = scratch / "constraints.txt"
        constraints.write_text(constraints_text)
        wanted = scratch / "requirements.in"
        wanted.write_text("".join(f"{r}\n" for r in requirements))
        output = scratch / "requirements.txt"
        command: list[str | os.PathLike[str]] = [self.python, "-m", "piptools", "compile"]
        command += ["--quiet", "--no-header", "--no-annotate", "--allow-unsafe"]
        command += ["--strip-extras", "--no-emit-index-url", "--index-url", self.index_url]
        command += ["--constraint", constraints, "--output-file", output, wanted]
        try:
            # pip-compile's cache lives under $HOME; in a root that is /root, inside it.
            # PIP_CONSTRAINT, unlike --constraint, reaches the isolated environments in
            # which pip builds sdists to read their metadata.
            self.place.run(command, log=self.log, env={"PIP_CONSTRAINT": str(constraints)})
        except CommandFailed as error:
            raise ResolutionFailed(
                f"cannot resolve {', '.join(requirements)}: {_reason(error.tail)}",
                f"see {self.log}",
            ) from None
        return parse_compiled(output.read_text())


def _reason(tail: list[str]) -> str:
    for line in reversed(tail):
        lowered = line.lower()
        if "conflict" in lowered or "could not find" in lowered or "no matching" in lowered:
            return line.strip()
    return tail[-1].strip() if tail else "pip-compile failed"
