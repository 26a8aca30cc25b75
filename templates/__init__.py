"""Jinja2 templates of the debian/ trees that `venvpkg debianize` renders."""
