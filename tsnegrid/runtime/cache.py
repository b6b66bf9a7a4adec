"""A per-stage result cache, so a re-run recomputes only what its changes touch.

Each entry is keyed explicitly by the stage's name, a digest of its input, its parameters (the
seed among them) and the versions of the code and libraries that compute it: changing a figure
option reuses t-SNE and the assignment, changing the perplexity recomputes t-SNE and everything
after it. Entries are ``.npz`` files (no pickles) that carry a checksum of their own content; an
entry that fails it, or cannot be read at all, is recomputed and overwritten, never trusted.

This module and :mod:`tsnegrid.data.datasets` are the only readers of files; this one writes only
under its own folder, atomically (a temporary file renamed into place).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import re
import sys
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")
#: The folder of the tsnegrid package, whose sources key the cache.
PACKAGE_ROOT = Path(__file__).resolve().parents[1]
CACHE_FORMAT = 1
_META = "__meta__"


@dataclass(frozen=True)
class CachePolicy:
    """Where the cache lives and whether a run may read and write it.

    ``read=False`` (``--force``) recomputes everything but stores the results; ``root=None``
    (``--no-cache``) neither reads nor writes.
    """

    root: Path | None = Path(".cache")
    read: bool = True


@dataclass(frozen=True)
class CacheOutcome:
    """What the cache did for one stage: ``status`` is computed, loaded or recomputed."""

    status: str
    computed_seconds: float | None = None


def array_digest(*arrays: np.ndarray) -> str:
    """SHA-256 of arrays' dtypes, shapes and bytes (the identity of a stage's input)."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.data)
    return h.hexdigest()


def code_version(*modules: str, root: Path = PACKAGE_ROOT) -> dict[str, str]:
    """What a stage's result depends on besides its input: our code and the libraries it uses.

    ``modules`` are the stage's entry modules (``"tsnegrid.embed.tsne"``). Their sources are read
    for every ``import`` (at the top or inside a function), transitively, so the key covers
    every module of ours the stage can run and no list has to be kept by hand: ``"tsnegrid"``
    maps to one hash of all those sources, and each third-party distribution they import to
    its installed version (``"missing"`` when not installed).
    """
    ours, theirs = _import_closure(modules, root)
    h = hashlib.sha256()
    for name in sorted(ours):
        path = _module_path(name, root)
        assert path is not None  # the closure holds only modules with a source file
        h.update(name.encode() + b"\0" + path.read_bytes())
    out = {"tsnegrid": h.hexdigest()[:16]}
    for dist in sorted(_distributions(theirs)):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "missing"
    return out


def _import_closure(modules: tuple[str, ...], root: Path) -> tuple[set[str], set[str]]:
    """Our modules reachable from ``modules`` by imports, and the other top-level packages."""
    ours: set[str] = set()
    theirs: set[str] = set()
    todo = list(modules)
    while todo:
        name = todo.pop()
        if name in ours or _module_path(name, root) is None:
            continue
        ours.add(name)
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(2, len(parts))]  # parent packages run too
        for target in _imports(_module_path(name, root)):
            if target.split(".")[0] == "tsnegrid":
                todo.append(target)
            elif target.split(".")[0] not in sys.stdlib_module_names:
                theirs.add(target.split(".")[0])
    return ours, theirs


_FROM_IMPORT = re.compile(r"^[ \t]*from[ \t]+([\w.]+)[ \t]+import[ \t]+(\([^)]*\)|[^\n#]+)", re.M)
_IMPORT = re.compile(r"^[ \t]*import[ \t]+([\w., \t]+)", re.M)


@functools.cache
def _imports(path: Path) -> tuple[str, ...]:
    """Every module an ``import`` line of the file names, at the top or inside a function
    (``from a import b`` gives ``a`` and ``a.b``, which may be a module). A line scan, not a
    parse: it is ten times faster, and a stray match only widens the key."""
    text = path.read_text(encoding="utf-8")
    found = [
        name.split(" as ")[0].strip()
        for m in _IMPORT.finditer(text)
        for name in m.group(1).split(",")
    ]
    for m in _FROM_IMPORT.finditer(text):
        module, names = m.group(1), m.group(2).strip("() \n")
        found.append(module)
        found += [f"{module}.{n.split(' as ')[0].strip()}" for n in names.split(",") if n.strip()]
    return tuple(found)


def _module_path(name: str, root: Path) -> Path | None:
    """The source file of our module ``name`` (``tsnegrid.x.y``), or None if there is none."""
    base = root.joinpath(*name.split(".")[1:])
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


#: Import names whose distribution is named otherwise (tests/runtime/test_cache.py checks that
#: every third-party import of the package resolves to an installed distribution).
DISTRIBUTION_OF = {"sklearn": "scikit-learn", "PIL": "pillow", "yaml": "PyYAML"}


def _distributions(packages: set[str]) -> set[str]:
    return {DISTRIBUTION_OF.get(package, package) for package in packages}


def cache_key(stage: str, parts: Mapping[str, Any]) -> str:
    """The entry name of a stage for these inputs, parameters and versions."""
    blob = json.dumps({"stage": stage, "format": CACHE_FORMAT, **parts}, sort_keys=True)
    return f"{stage}-{hashlib.sha256(blob.encode()).hexdigest()[:24]}"


def cached(
    policy: CachePolicy,
    stage: str,
    parts: Mapping[str, Any] | Callable[[], Mapping[str, Any]],
    compute: Callable[[], T],
    kind: type[T],
    clock: Callable[[], float],
) -> tuple[T, CacheOutcome]:
    """Load the stage's result from the cache, or compute it (and store it).

    ``parts`` (see :func:`cache_key`) may be a function that returns them: it is called only
    where there is a cache to key (not under ``--no-cache``, where hashing a stage's input, 220
    MB of pixels for PCA at 70,000 images, would be work for nothing). ``kind`` is the frozen
    dataclass (or ``np.ndarray``) the stage returns; ``clock`` times the computation, whose
    seconds are stored with the entry and reported when it is loaded.
    """
    path = None
    if policy.root is not None:
        key = cache_key(stage, parts() if callable(parts) else parts)
        path = policy.root / f"{key}.npz"
    status = "computed"
    if path is not None and policy.read and path.exists():
        loaded = _load(path, kind)
        if loaded is not None:
            return loaded[0], CacheOutcome("loaded", loaded[1])
        status = "recomputed"  # the entry was corrupt
    start = clock()
    value = compute()
    seconds = clock() - start
    if path is not None:
        _store(path, value, seconds)
    return value, CacheOutcome(status, seconds)


def _encode(value: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    if isinstance(value, np.ndarray):
        return {"value": value}, {}
    arrays: dict[str, np.ndarray] = {}
    plain: dict[str, Any] = {}
    for field in dataclasses.fields(value):
        item = getattr(value, field.name)
        if isinstance(item, np.ndarray):
            arrays[field.name] = item
        else:
            plain[field.name] = item
    return arrays, plain


def _decode(kind: type[T], arrays: dict[str, np.ndarray], plain: dict[str, Any]) -> T:
    if kind is np.ndarray:
        return arrays["value"]  # type: ignore[return-value]
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in plain.items()}
    return kind(**arrays, **values)


def _store(path: Path, value: Any, seconds: float) -> None:
    arrays, plain = _encode(value)
    meta = {"plain": plain, "seconds": seconds, "digest": array_digest(*arrays.values())}
    payload: dict[str, Any] = {**arrays, _META: np.frombuffer(json.dumps(meta).encode(), np.uint8)}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=path.stem, suffix=".tmp", dir=path.parent)
    except OSError:
        return  # a cache that cannot be written only costs time on the next run
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **payload)
        tmp.replace(path)
    except OSError:
        tmp.unlink(missing_ok=True)


def _load(path: Path, kind: type[T]) -> tuple[T, float] | None:
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files if k != _META}
            meta = json.loads(npz[_META].tobytes())
        if array_digest(*arrays.values()) != meta["digest"]:
            return None
        return _decode(kind, arrays, meta["plain"]), float(meta["seconds"])
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, EOFError):
        return None
