"""The only writer of the report: a staging folder beside the target, swapped in whole.

:func:`write_docs` renders every file first (strings and bytes, :mod:`tsnegrid.report.files`),
then writes them into a temporary folder beside ``out`` and swaps it in with two renames, so a
failed or interrupted run leaves the previous report exactly as it was.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tsnegrid.errors import OutputError
from tsnegrid.report.changes import Changes
from tsnegrid.report.files import render_artifacts
from tsnegrid.results import Artifact, RunResult


def write_docs(
    result: RunResult,
    context: Mapping[str, Any],
    out: Path,
    *,
    templates: Path | None = None,
    changes: Changes | None = None,
) -> list[Artifact]:
    """Write the whole report into ``out``, atomically replacing a previous report there."""
    files = render_artifacts(result, context, templates=templates, changes=changes)
    _recover_interrupted(out)
    _check_target(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    except OSError as exc:
        raise OutputError(
            f"--out {out}: cannot create the report folder ({exc.strerror}); "
            "choose a writable place"
        ) from exc
    try:
        for artifact in files:
            target = staging / artifact.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(artifact.data)
        _swap_in(staging, out)
    except OSError as exc:
        if exc.errno in _DISK_FULL:
            raise OutputError(_disk_full_message(out, files)) from exc
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return files


#: "No space left on device" and "disk quota exceeded": the user's to fix, not a bug.
_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


def _disk_full_message(out: Path, files: list[Artifact]) -> str:
    need = sum(len(a.data) for a in files)
    try:
        free = f", {shutil.disk_usage(out.parent).free / 2**20:,.1f} MiB free"
    except OSError:
        free = ""
    return (
        f"--out {out}: the disk is full: the report needs {need / 2**20:,.1f} MiB{free}; free "
        "some space or choose another --out (the previous report is unchanged)"
    )


def _recover_interrupted(out: Path) -> None:
    """Undo what a run killed mid-write left behind (one report folder per ``out`` at a time).

    A kill between the two renames of :func:`_swap_in` leaves the previous report under
    ``.NAME.old-*`` and no ``out``: put it back. Unfinished ``.NAME.new-*`` folders are removed.
    """
    olds = sorted(out.parent.glob(f".{out.name}.old-*"))
    if olds and not out.exists():
        olds.pop().rename(out)
    for stale in [*olds, *out.parent.glob(f".{out.name}.new-*")]:
        shutil.rmtree(stale, ignore_errors=True)


def check_output(out: Path) -> None:
    """Fail fast, before any work, when ``out`` cannot receive a report."""
    _check_target(out)
    ancestor = out.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
        raise OutputError(
            f"--out {out}: cannot create the report folder ({ancestor} is not a "
            "writable folder); choose a writable place"
        )


def _check_target(out: Path) -> None:
    """Refuse to replace anything that is not an earlier report (or empty)."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file, not a folder: remove it or choose another --out")
    if out.is_dir() and any(out.iterdir()) and not (out / "manifest.json").is_file():
        raise OutputError(
            f"--out {out} holds files that are not a tsnegrid report (no manifest.json): "
            "choose an empty or new folder"
        )


def _swap_in(staging: Path, out: Path) -> None:
    """Replace ``out`` by ``staging`` with two renames (the old report survives a failure)."""
    staging.chmod(0o755)
    if not out.exists():
        staging.rename(out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    old.rmdir()
    out.rename(old)
    try:
        staging.rename(out)
    except OSError:
        old.rename(out)
        raise
    shutil.rmtree(old, ignore_errors=True)
