"""The Markdown pages: Jinja2 templates filled from the report context.

The templates ship inside the package (``tsnegrid.report.templates``, built from the project's
top-level ``templates/``); a folder given as ``templates`` overrides any of them by file name, as
MkDocs's ``custom_dir`` does. Rendering returns strings; :mod:`tsnegrid.report.writer` writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined

from tsnegrid.errors import UsageError
from tsnegrid.results import Artifact

#: The pages, in the order of the site's navigation: (file stem, title).
PAGES = (
    ("index", "Overview"),
    ("data", "Data"),
    ("embedding", "Embedding"),
    ("grid", "Grid"),
    ("assignment", "Assignment"),
    ("map", "Final map"),
    ("quality", "Quality"),
    ("timings", "Timings"),
    ("changes", "Changes"),
    ("run", "Run details"),
)
_MD_ESCAPES = str.maketrans({c: f"&#{ord(c)};" for c in "&<>*_[]|#`\\!~$"})


def shipped_templates() -> Path:
    """The folder of the templates that ship with tsnegrid.

    In an installed wheel they are package data (``tsnegrid/report/templates/``, built from the
    project's top-level ``templates/`` by ``pyproject.toml``'s package-dir); in a checkout and an
    editable install they are that top-level folder itself: one copy either way.
    """
    packaged = Path(__file__).resolve().parent / "templates"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "templates"


def md_escape(text: object) -> str:
    """Escape text for Markdown and HTML: no name can inject markup or break a table."""
    return str(text).translate(_MD_ESCAPES).replace("\n", " ")


def environment(templates: Path | None = None) -> Environment:
    """The Jinja2 environment of the report (strict: a missing value is an error).

    ``templates``: a folder whose ``*.md.j2`` files replace the shipped ones of the same name.
    """
    folders = [shipped_templates()]
    if templates is not None:
        if not templates.is_dir():
            raise UsageError(
                f"--templates {templates}: not a folder; give a folder of *.md.j2 "
                "page templates (copy one from tsnegrid's templates/ to start)"
            )
        folders.insert(0, templates)
    env = Environment(
        loader=ChoiceLoader([FileSystemLoader(f) for f in folders]),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # Markdown, not HTML: text from users goes through the `md` filter
    )
    env.filters["md"] = md_escape
    env.filters["num"] = lambda v, digits=4: f"{v:,.{digits}g}" if abs(v) < 1e5 else f"{v:,.0f}"
    env.filters["secs"] = lambda v: f"{v:,.2f} s" if v >= 0.1 else f"{v * 1000:,.0f} ms"
    return env


def render_pages(
    context: Mapping[str, Any], images: Mapping[str, str], *, templates: Path | None = None
) -> list[Artifact]:
    """The Markdown pages, from the templates, the context and the figures' file names."""
    env = environment(templates)
    pages = []
    for stem, title in PAGES:
        page = env.get_template(f"{stem}.md.j2").render(**context, img=images, page_title=title)
        pages.append(Artifact(f"{stem}.md", page.encode()))
    return pages
