"""venvpkg: OpenStack releases as Debian packages built from per-release wheelhouses."""

__version__ = "0.1.0"
