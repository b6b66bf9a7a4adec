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
import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")
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


def code_version(*modules: str) -> dict[str, str]:
    """Versions of libraries and hashes of our own modules that a stage depends on."""
    out: dict[str, str] = {}
    for name in modules:
        if name.startswith("tsnegrid"):
            out[name] = _module_digest(name)
        else:
            try:
                out[name] = metadata.version(name)
            except metadata.PackageNotFoundError:
                out[name] = "missing"
    return out


def _module_digest(name: str) -> str:
    import importlib

    module = importlib.import_module(name)
    path = Path(module.__file__ or "")
    files = sorted(path.parent.rglob("*.py")) if path.name == "__init__.py" else [path]
    h = hashlib.sha256()
    for f in files:
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def cache_key(stage: str, parts: Mapping[str, Any]) -> str:
    """The entry name of a stage for these inputs, parameters and versions."""
    blob = json.dumps({"stage": stage, "format": CACHE_FORMAT, **parts}, sort_keys=True)
    return f"{stage}-{hashlib.sha256(blob.encode()).hexdigest()[:24]}"


def cached(
    policy: CachePolicy,
    stage: str,
    parts: Mapping[str, Any],
    compute: Callable[[], T],
    kind: type[T],
    clock: Callable[[], float],
) -> tuple[T, CacheOutcome]:
    """Load the stage's result from the cache, or compute it (and store it).

    ``kind`` is the frozen dataclass (or ``np.ndarray``) the stage returns; ``clock`` times the
    computation, whose seconds are stored with the entry and reported when it is loaded.
    """
    path = None if policy.root is None else policy.root / f"{cache_key(stage, parts)}.npz"
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
