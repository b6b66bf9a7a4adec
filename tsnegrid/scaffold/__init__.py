"""``tsnegrid new DIR``: start a report project for your own images, as ``mkdocs new`` does.

It writes ``mkdocs.yml`` (the one tsnegrid's own report is built with), a ``.gitignore`` for
the generated folders, ``data/README.md`` and a GitHub Pages workflow that runs ``tsnegrid`` on
the images. Existing files are never overwritten: the command refuses, naming them, and writes
nothing.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from importlib import metadata
from pathlib import Path

from tsnegrid.errors import OutputError, UsageError, UsageParser

HERE = Path(__file__).resolve().parent
#: Each file a new project gets: (path in the project, file in this folder).
FILES = (
    ("mkdocs.yml", "mkdocs.yml"),
    (".gitignore", "gitignore"),
    ("data/README.md", "data-README.md"),
    (".github/workflows/report.yml", "workflow.yml"),
)


def new_project(argv: list[str], *, prog: str = "tsnegrid") -> int:
    """Parse ``new DIR [--images PATH]``, write the project's files and say what to do next."""
    args = _parser(prog).parse_args(argv)
    folder: Path = args.folder
    files = project_files(images=args.images)
    clashes = [path for path in files if (folder / path).exists()]
    if clashes:
        raise OutputError(
            f"{folder}: {', '.join(clashes)} already there; tsnegrid new overwrites nothing "
            "(remove them or choose another folder)"
        )
    for path, text in files.items():
        target = folder / path
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise OutputError(f"{target}: cannot write it ({exc.strerror})") from exc
    where = shlex.quote(str(folder))
    print(
        f"tsnegrid: new report project in {folder}/: {', '.join(files)}\n"
        f"  next: cd {where} && tsnegrid --images {shlex.quote(args.images)} && mkdocs serve",
        file=sys.stderr,
    )
    return 0


def _parser(prog: str) -> argparse.ArgumentParser:
    p = UsageParser(
        prog=f"{prog} new",
        description="Start a report project: mkdocs.yml, .gitignore, data/README.md and a "
        "GitHub Pages workflow that lays out your images on every push.",
    )
    p.add_argument("folder", type=Path, metavar="DIR", help="the project folder (made if new)")
    p.add_argument(
        "--images",
        default="images",
        metavar="PATH",
        help="the images folder, relative to DIR, that the workflow lays out (default: images)",
    )
    return p


def project_files(*, images: str) -> dict[str, str]:
    """The text of every file of a new project, by path."""
    if not images or Path(images).is_absolute() or ".." in Path(images).parts:
        raise UsageError(
            f"--images {images!r}: give a folder inside the project, e.g. --images images"
        )
    spec = install_spec()
    texts = {}
    for path, name in FILES:
        text = (HERE / name).read_text(encoding="utf-8")
        text = text.replace("{{ install_spec }}", spec)
        texts[path] = text.replace("{{ tsnegrid_args }}", f"--images {shlex.quote(images)}")
    return texts


#: Where the workflow installs tsnegrid from when this one came from no git repository (a
#: wheel or a local folder): the user names the repository (tsnegrid is not on PyPI).
PLACEHOLDER = "tsnegrid @ git+https://github.com/OWNER/tsnegrid@v{version}"


def install_spec() -> str:
    """How the workflow installs this tsnegrid: from the repository and commit it was installed
    from (PEP 610's ``direct_url.json``), else from ``OWNER``'s repository, to be filled in."""
    version = metadata.version("tsnegrid")
    try:
        text = metadata.distribution("tsnegrid").read_text("direct_url.json")
        origin = json.loads(text) if text else {}
    except (metadata.PackageNotFoundError, ValueError):
        origin = {}
    vcs = origin.get("vcs_info", {})
    if vcs.get("vcs") == "git" and origin.get("url", "").startswith("https://"):
        return f"tsnegrid @ git+{origin['url']}@{vcs.get('commit_id', 'main')}"
    return PLACEHOLDER.format(version=version)
