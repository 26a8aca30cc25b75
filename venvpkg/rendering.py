"""The one way venvpkg renders Jinja2 templates: strict, and errors in one line.

Both debian/ trees come from it: a project's (templates/debian/, overridable per site)
and the requirements package's (requirements-packages/debian/).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2

from venvpkg.errors import DataError


def environment(search_path: Sequence[Path]) -> jinja2.Environment:
    """Templates found in `search_path`, the first directory that has a name winning.

    StrictUndefined turns a misspelt variable into an error instead of an empty string;
    no autoescape, since nothing rendered is HTML.
    """
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(p) for p in search_path]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


def render(env: jinja2.Environment, name: str, context: Mapping[str, Any]) -> str:
    """One template rendered; a broken template or unknown variable is one DataError line."""
    try:
        template = env.get_template(name)
    except jinja2.TemplateError as error:
        raise DataError(f"template {name}: {error}", "fix the template") from None
    try:
        return template.render(context)
    except jinja2.UndefinedError as error:
        raise DataError(
            f"template {template.filename}: {error.message}",
            "use only the variables the built-in templates use (see templates/debian/)",
        ) from None
    except jinja2.TemplateError as error:
        raise DataError(f"template {template.filename}: {error}", "fix the template") from None
