"""Facts about where and how a run was made: versions, git state, threads, build date.

These read the environment (package metadata, ``git``, environment variables) and nothing else;
the report shows them on every page and writes them into ``manifest.json``.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

PACKAGES = (
    "tsnegrid",
    "numpy",
    "scipy",
    "scikit-learn",
    "openTSNE",
    "numba",
    "lapjv",
    "matplotlib",
    "pillow",
    "jinja2",
    "mkdocs",
    "mkdocs-material",
)
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMBA_NUM_THREADS",
)


@dataclass(frozen=True)
class GitState:
    """The commit the code was run from; ``dirty`` when the work tree had changes."""

    commit: str | None
    dirty: bool


def package_versions() -> dict[str, str | None]:
    """Installed version of each package that computes or renders a run (None: not installed)."""
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def thread_settings() -> dict[str, str | None]:
    """The thread-count environment variables, as set (None: unset)."""
    return {name: os.environ.get(name) for name in THREAD_VARIABLES}


def git_state(where: Path) -> GitState:
    """The git commit of the checkout containing ``where``, or (None, False) outside one."""
    try:
        commit = _git(where, "rev-parse", "HEAD")
        status = _git(where, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return GitState(commit=None, dirty=False)
    return GitState(commit=commit, dirty=bool(status))


def _git(where: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=where, capture_output=True, text=True, check=True, timeout=10
    )
    return done.stdout.strip()


def build_date() -> str:
    """Now in UTC (ISO 8601), or ``SOURCE_DATE_EPOCH`` when set, for reproducible builds."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = (
        dt.datetime.fromtimestamp(int(epoch), tz=dt.UTC)
        if epoch and epoch.isdigit()
        else dt.datetime.now(tz=dt.UTC)
    )
    return when.replace(microsecond=0).isoformat().replace("+00:00", "Z")
