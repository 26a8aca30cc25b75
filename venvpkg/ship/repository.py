"""The signed reprepro repository: its key, its suites and what they hold.

Per Debian release and series there are two distributions: CODENAME-staging, where every
build lands, and CODENAME (bookworm-2025.2), which operators point apt at and which only
receives what passed `venvpkg test`. reprepro owns the pool and the indices; every write
holds the repository's lock, and a run killed half-way is finished by the next one
(reprepro's own database is consistent, unreferenced pool files are swept first).
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from venvpkg import debformats, runner
from venvpkg.config import Settings
from venvpkg.errors import CommandFailed, DataError, UsageError
from venvpkg.files import atomic_write, atomic_write_text, exclusive
from venvpkg.progress import Display

SUITES = ("staging", "production")
KEY_NAME = "venvpkg repository signing key"
KEYRING = "venvpkg-archive-keyring.gpg"
SNAPSHOT_PREFIX = "production-"


@dataclass(frozen=True)
class Repository:
    root: Path
    gnupghome: Path
    key: str
    # The key venvpkg generated in the workdir: its gpg-agent is ours to stop.
    own_agent: bool = False

    def codename(self, dist: str, series: str, suite: str) -> str:
        if suite not in SUITES:
            raise UsageError(f"unknown suite {suite!r}", f"choose one of {', '.join(SUITES)}")
        return f"{dist}-{series}" + ("-staging" if suite == "staging" else "")

    @property
    def keyring(self) -> Path:
        return self.root / KEYRING

    @contextlib.contextmanager
    def lock(self, display: Display) -> Iterator[None]:
        """Two commands on one repository take turns; a killed one releases it.

        reprepro's own db/lockfile survives a SIGKILL. Every venvpkg command runs reprepro
        only while holding our lock, so a lockfile found then is stale.
        """
        with exclusive(self.root / "db" / "venvpkg.lock", display.info):
            # Berkeley DB creates each database as __db.NAME and renames it when complete:
            # one left behind makes every later reprepro fail ("File exists").
            db = self.root / "db"
            for stale in [db / "lockfile", *db.glob("__db.*")]:
                if stale.exists():
                    display.info(f"removing {stale}, left by a reprepro that was killed")
                    stale.unlink()
            try:
                yield
            finally:
                self._stop_agent()

    def _stop_agent(self) -> None:
        # reprepro's signing starts a gpg-agent that outlives us. Every signature is made
        # under this lock, so no other run of ours is using it now; gpg starts a new one
        # when needed. An operator's own GNUPGHOME keeps its agent.
        if self.own_agent:
            with contextlib.suppress(CommandFailed):
                runner.capture(["gpgconf", "--homedir", self.gnupghome, "--kill", "gpg-agent"])


@dataclass
class Entry:
    """One package in a distribution: binary (arch) or source ("source")."""

    name: str
    version: str
    arch: str
    path: Path
    source: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return self.name, self.version, self.arch


def repository_root(settings: Settings) -> Path:
    return settings.publish.repository or settings.paths.repository


def open_repository(settings: Settings, display: Display, create: bool = True) -> Repository:
    """The repository, created with a signing key on first use; refuse what is not one.

    Only publish creates it: a test or rollback of nothing must not leave a key behind.
    """
    root = repository_root(settings)
    if not create and not (root / "conf" / "distributions").exists():
        raise UsageError(
            f"nothing is published in {root} yet",
            "publish first: venvpkg publish --dist D --series S",
        )
    # The keyring is the first file venvpkg writes: with it, a repository without
    # conf/distributions is one whose first publish was stopped before that was written.
    foreign = root.exists() and any(root.iterdir()) and not (root / KEYRING).exists()
    if foreign and not (root / "conf" / "distributions").exists():
        raise UsageError(
            f"{root} is not a reprepro repository (no conf/distributions)",
            "point [publish] repository at an empty directory or a venvpkg repository",
        )
    gnupghome, key = signing_key(settings, display)
    repo = Repository(root, gnupghome, key, gnupghome == settings.paths.gnupg)
    if not repo.keyring.exists():
        root.mkdir(parents=True, exist_ok=True)
        exported = runner.capture_bytes(["gpg", "--homedir", gnupghome, "--export", key])
        with atomic_write(repo.keyring) as stream:
            stream.write(exported)
    return repo


def signing_key(settings: Settings, display: Display) -> tuple[Path, str]:
    """The configured key ([publish] key, gnupghome), or one generated in the workdir."""
    configured = settings.publish
    if configured.key:
        home = configured.gnupghome or Path(os.environ.get("GNUPGHOME", "~/.gnupg")).expanduser()
        return home, _usable_key(home, configured.key)
    home = settings.paths.gnupg
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    with exclusive(settings.paths.lock("gnupg")):
        existing = _secret_keys(home)
        if not existing:
            display.info(f"generating the repository signing key in {home}")
            runner.run(
                ["gpg", "--homedir", home, "--batch", "--passphrase", "", "--quick-gen-key",
                 f"{KEY_NAME} <venvpkg@localhost>", "ed25519", "sign", "3y"],
                log=settings.paths.log("gnupg.log"),
            )  # fmt: skip
            existing = _secret_keys(home)
    return home, _usable_key(home, existing[0][0])


def _secret_keys(home: Path) -> list[tuple[str, str, str]]:
    """(fingerprint, validity, expiry) of each secret key in `home`."""
    if not home.exists():
        return []
    out = runner.capture(
        ["gpg", "--homedir", home, "--batch", "--with-colons", "--list-secret-keys"],
        ok_codes=(0, 2),
    )
    keys: list[tuple[str, str, str]] = []
    pending: tuple[str, str] | None = None
    for line in out.splitlines():
        fields = line.split(":")
        if fields[0] == "sec":
            pending = (fields[1], fields[6])
        elif fields[0] == "fpr" and pending is not None:
            keys.append((fields[9], *pending))
            pending = None
    return keys


def _usable_key(home: Path, wanted: str) -> str:
    wanted_clean = wanted.replace(" ", "").upper()
    for fingerprint, validity, expiry in _secret_keys(home):
        if not fingerprint.upper().endswith(wanted_clean):
            continue
        if validity == "e" or (expiry and float(expiry) < datetime.datetime.now().timestamp()):
            raise DataError(
                f"signing key {wanted} in {home} has expired",
                "extend it (gpg --quick-set-expire) or configure another [publish] key",
            )
        if validity == "r":
            raise DataError(f"signing key {wanted} in {home} is revoked", "configure another key")
        return fingerprint
    raise UsageError(
        f"signing key {wanted} has no secret key in {home}",
        "import it or fix [publish] key and gnupghome in venvpkg.toml",
    )


def codenames(repo: Repository) -> list[str]:
    conf = repo.root / "conf" / "distributions"
    return [str(s["Codename"]) for s in debformats.read_stanzas(conf) if "Codename" in s]


def ensure_distributions(repo: Repository, dist: str, series: str) -> None:
    """conf/distributions holds both suites of dist+series (written whole, atomically)."""
    known = codenames(repo)
    wanted = [repo.codename(dist, series, s) for s in SUITES]
    if all(w in known for w in wanted):
        return
    stanzas = [_distribution(repo, codename) for codename in sorted(set(known) | set(wanted))]
    (repo.root / "conf").mkdir(parents=True, exist_ok=True)
    atomic_write_text(repo.root / "conf" / "distributions", debformats.stanzas_text(stanzas))
    atomic_write_text(repo.root / "conf" / "options", "ignore longkeyid\n")
    reprepro(repo, ["export", *[w for w in wanted if w not in known]])


def _distribution(repo: Repository, codename: str) -> dict[str, str]:
    """One suite's stanza of conf/distributions."""
    staging = codename.endswith("-staging")
    base = codename.removesuffix("-staging")
    return {
        "Origin": "venvpkg",
        "Label": f"venvpkg {base}" + (" staging" if staging else ""),
        "Codename": codename,
        "Architectures": "amd64 arm64 source",
        "Components": "main",
        "Description": f"OpenStack virtualenv packages for {base}"
        + (" (staging: not yet tested)" if staging else " (tested)"),
        "SignWith": repo.key,
    }


def require_distribution(repo: Repository, codename: str) -> None:
    if codename not in codenames(repo):
        known = ", ".join(codenames(repo)) or "none yet"
        raise UsageError(
            f"unknown codename {codename!r} in {repo.root} (known: {known})",
            "publish to it first: venvpkg publish --dist D --series S",
        )


def reprepro(repo: Repository, arguments: list[str], log: Path | None = None) -> str:
    command: list[str | os.PathLike[str]] = [
        "reprepro",
        "-b",
        repo.root,
        "--gnupghome",
        repo.gnupghome,
    ]
    command += arguments
    if log is None:
        log = repo.root / "logs" / "reprepro.log"
    return runner.run(command, log=log, env=dict(os.environ, GNUPGHOME=str(repo.gnupghome)))


def listing(repo: Repository, codename: str) -> dict[tuple[str, str, str], Entry]:
    """Every package in a distribution, by (name, version, architecture); none for a
    distribution the repository does not have (reprepro fails on those, with exit 249 or
    255 depending on its version)."""
    if codename not in codenames(repo):
        return {}
    # $filekey is relative to the repository; $type tells a .dsc from a .deb.
    fmt = "${package}\t${version}\t${architecture}\t${$filekey}\t${$source}\t${$type}\n"
    out = runner.capture(
        ["reprepro", "-b", repo.root, "--list-format", fmt, "list", codename], ok_codes=(0, 255)
    )
    entries = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 6:
            arch = "source" if parts[5] == "dsc" else parts[2]
            entry = Entry(parts[0], parts[1], arch, Path(parts[3]), parts[4])
            entries[entry.key] = entry
    return entries


def sweep(repo: Repository) -> None:
    """Pool files a killed run added but never referenced; harmless, but checkpool-dirty."""
    if (repo.root / "db").exists():
        reprepro(repo, ["deleteunreferenced"])
