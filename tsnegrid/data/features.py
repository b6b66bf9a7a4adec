"""Features a user computed elsewhere (a CNN embedding, say), read from a file.

``--features FILE`` replaces the pixels as what PCA and t-SNE see; the images are still what the
figures and the map show. Two formats:

- ``.npy``: a 2-D float array with one row per image, in the loader's order (the order of
  ``layout.csv`` with every image: datasets in their own order, folders sorted by path);
- ``.csv``: a header row whose first column is ``name``, then one row per image: its name (the
  path relative to the folder, as in ``layout.csv``) and its feature values. Rows are matched to
  images by name, so the file may list them in any order and carry extra rows.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from tsnegrid.errors import InputError

SUFFIXES = (".npy", ".csv")


def load_features(path: Path, names: tuple[str, ...]) -> NDArray[np.float64]:
    """Read ``path`` and return (len(names), d) float64 features in the order of ``names``."""
    if path.suffix.lower() not in SUFFIXES:
        raise InputError(f"--features {path}: unknown format {path.suffix!r}; use .npy or .csv")
    if not path.is_file():
        raise InputError(f"--features {path}: no such file; give the path of a .npy or .csv file")
    features = (
        _read_npy(path, len(names)) if path.suffix.lower() == ".npy" else _read_csv(path, names)
    )
    _check_finite(path, features, names)
    return features


def _read_npy(path: Path, n_images: int) -> NDArray[np.float64]:
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError(f"--features {path}: not a readable .npy array ({exc})") from exc
    if data.ndim != 2 or not np.issubdtype(data.dtype, np.number):
        raise InputError(
            f"--features {path}: expected a 2-D numeric array (images x features), "
            f"got shape {data.shape} of {data.dtype}"
        )
    if len(data) != n_images:
        raise InputError(
            f"--features {path}: {len(data):,} rows for {n_images:,} images; a .npy file needs "
            "one row per image in the loader's order (or use a .csv with a name column)"
        )
    return data.astype(np.float64)


def _read_csv(path: Path, names: tuple[str, ...]) -> NDArray[np.float64]:
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--features {path}: cannot be read ({exc})") from exc
    if not rows or not rows[0] or rows[0][0].strip().lower() != "name":
        raise InputError(
            f"--features {path}: the first row must be a header starting with "
            "'name', then one column per feature"
        )
    width = len(rows[0]) - 1
    by_name: dict[str, list[str]] = {}
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != width + 1:
            raise InputError(
                f"--features {path}: line {line} has {len(row) - 1} values, the header {width}"
            )
        by_name[row[0]] = row[1:]
    missing = [n for n in names if n not in by_name]
    if missing:
        more = f" and {len(missing) - 1:,} more" if len(missing) > 1 else ""
        raise InputError(
            f"--features {path}: no row for image {missing[0]!r}{more}; add a row "
            "for every image (names as in layout.csv)"
        )
    try:
        return np.array([[float(v) for v in by_name[n]] for n in names], dtype=np.float64)
    except ValueError as exc:
        raise InputError(f"--features {path}: a value is not a number ({exc})") from exc


def _check_finite(path: Path, features: NDArray[np.float64], names: tuple[str, ...]) -> None:
    bad = np.flatnonzero(~np.isfinite(features).all(axis=1))
    if len(bad):
        more = f" (and {len(bad) - 1:,} more rows)" if len(bad) > 1 else ""
        raise InputError(
            f"--features {path}: the row of image {names[bad[0]]!r} has NaN or "
            f"infinite values{more}; fix or remove them"
        )
