"""GIT-URL[@REF] as the command line takes it (--requirements, --source).

Hand-written: pip's VCS URL parsing, which this follows (the ref is after the last "@"
of the URL's path), is not a public API, and no well-kept library parses git's
scp-like ``user@host:path`` form next to real URLs.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from venvpkg.errors import CommandFailed

GIT_SCHEMES = {"http", "https", "git", "ssh", "file"}
# [user@]host:path, git's scp-like syntax; a drive-less path has no ":" before its first "/".
SCP_LIKE = re.compile(r"^(?:[^@/:\s]+@)?[^@/:\s]+:(?!//)")


def parse(spec: str) -> tuple[str, str | None] | None:
    """(URL, REF or None) when `spec` names a git repository, else None.

    The ref may hold slashes (stable/2025.2); an "@" in the user part is not a ref.
    """
    if "://" in spec:
        parts = urlsplit(spec)
        if parts.scheme not in GIT_SCHEMES:
            return None
        path, at, ref = parts.path.rpartition("@")
        if not at:
            return spec, None
        return urlunsplit(parts._replace(path=path)), ref or None
    if SCP_LIKE.match(spec):
        head, colon, path = spec.partition(":")
        path, at, ref = path.rpartition("@") if "@" in path else (path, "", "")
        return f"{head}{colon}{path}", ref or None
    url, at, ref = spec.rpartition("@") if "@" in spec else (spec, "", "")
    if url.endswith(".git"):
        return url, ref or None
    return None


def clone_failure(error: CommandFailed) -> str:
    """git's own reason, which is its first "fatal:" line, not the advice after it."""
    for line in error.tail:
        if line.startswith("fatal:"):
            return line.removeprefix("fatal:").strip()
    return error.tail[-1] if error.tail else "git failed"
