"""Git-tracked packaging: every debianized tree as a commit of a packaging repository.

`venvpkg debianize --git DIR` commits the rendered debian/ of each version to the branch
debian/DIST-SERIES and tags it as git-buildpackage does (DEP-14: debian/90%28.1.0-1+deb13),
so `git diff TAG1 TAG2` shows everything a rebuild changed. Commits carry the changelog's
date and a fixed identity: the same tree makes the same commit wherever it is recorded.
"""

from __future__ import annotations

import email.utils
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from venvpkg import runner
from venvpkg.errors import CommandFailed, UsageError

IDENTITY = {
    "GIT_AUTHOR_NAME": "venvpkg",
    "GIT_AUTHOR_EMAIL": "venvpkg@debian.invalid",
    "GIT_COMMITTER_NAME": "venvpkg",
    "GIT_COMMITTER_EMAIL": "venvpkg@debian.invalid",
    # Neither the user's nor the system's git configuration changes what is committed.
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


@dataclass(frozen=True)
class Recorded:
    branch: str
    tag: str
    commit: str
    # False: the tag was there already (this version was recorded before).
    new: bool


def tag_name(version: str) -> str:
    """DEP-14's tag for a Debian version: ':' -> '%', '~' -> '_', and '.#' where git
    refuses a dot (before another dot, at the end, before 'lock')."""
    mangled = version.replace(":", "%").replace("~", "_")
    return "debian/" + re.sub(r"\.(?=\.|$|lock$)", ".#", mangled)


def record(repository: Path, source_dir: Path, codename: str, log: Path) -> Recorded:
    """Commit `source_dir`/debian to debian/CODENAME of `repository` and tag its version."""
    git = _Git(repository, log)
    changelog = (source_dir / "debian" / "changelog").read_text()
    version, date = _version_and_date(changelog)
    branch, tag = f"debian/{codename}", tag_name(version)
    found = git.ref(f"refs/tags/{tag}")
    if found:
        return Recorded(branch, tag, found, False)
    tree = git.tree_of(source_dir)
    parent = git.ref(f"refs/heads/{branch}")
    package = changelog.split(" ", 1)[0]
    message = f"{package} {version} for {codename}\n\n{_first_entry(changelog)}"
    commit = git.commit(tree, parent, message, date)
    git.run("update-ref", f"refs/heads/{branch}", commit, *([parent] if parent else []))
    git.run("tag", tag, commit)
    return Recorded(branch, tag, commit, True)


def _version_and_date(changelog: str) -> tuple[str, str]:
    version = changelog.split("(", 1)[1].split(")", 1)[0]
    trailer = next(line for line in changelog.splitlines() if line.startswith(" -- "))
    stamp = email.utils.parsedate_to_datetime(trailer.split("  ", 1)[1])
    return version, f"@{int(stamp.timestamp())} +0000"


def _first_entry(changelog: str) -> str:
    lines = changelog.splitlines()[2:]
    return "\n".join(line.strip() for line in lines[: lines.index("")] if line.strip())


@dataclass(frozen=True)
class _Git:
    repository: Path
    log: Path

    def __post_init__(self) -> None:
        if not self.repository.exists() or not any(self.repository.iterdir()):
            self.repository.mkdir(parents=True, exist_ok=True)
            runner.run(["git", "init", "--quiet", self.repository], log=self.log, env=IDENTITY)
        elif not (self.git_dir / "HEAD").is_file():
            raise UsageError(
                f"{self.repository} is neither empty nor a git repository",
                "point --git at a packaging repository or a new directory",
            )

    @property
    def git_dir(self) -> Path:
        dotted = self.repository / ".git"
        return dotted if dotted.exists() else self.repository  # a bare repository

    def run(self, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
        command = ["git", f"--git-dir={self.git_dir}", *args]
        return runner.run(command, log=self.log, cwd=cwd, env=IDENTITY | (env or {})).strip()

    def ref(self, name: str) -> str:
        try:
            command = ["git", f"--git-dir={self.git_dir}", "rev-parse", "--verify", "-q", name]
            return runner.capture(command).strip()
        except CommandFailed:
            return ""

    def tree_of(self, source_dir: Path) -> str:
        """The tree of source_dir/debian, staged in an index of its own: the repository's
        checkout (if it has one) is neither read nor touched."""
        with tempfile.TemporaryDirectory(prefix="venvpkg-git-") as scratch:
            env = {"GIT_INDEX_FILE": f"{scratch}/index", "GIT_WORK_TREE": str(source_dir)}
            self.run("add", "--force", "--all", "--", "debian", cwd=source_dir, env=env)
            return self.run("write-tree", cwd=source_dir, env=env).splitlines()[-1]

    def commit(self, tree: str, parent: str, message: str, date: str) -> str:
        stamps = {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
        before = self.run("rev-parse", f"{parent}^{{tree}}").splitlines()[-1] if parent else ""
        if before == tree:
            return parent  # the same tree under a new version: the tag says so
        parents = ["-p", parent] if parent else []
        made = self.run("commit-tree", tree, *parents, "-m", message, env=stamps)
        return made.splitlines()[-1]
