"""Baseline arrangements that give the quality numbers a scale: random and sorted by PCA.

Both return ``node_of_point`` arrays (node ``r * cols + c`` of each item, all distinct), the same
shape as :class:`tsnegrid.results.GridAssignment` holds, so every metric scores them alike.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def random_layout(
    n: int, rows: int, cols: int, *, seed: int, usable: NDArray[np.bool_] | None = None
) -> NDArray[np.intp]:
    """Each of ``n`` items in a distinct cell drawn uniformly at random (seeded).

    ``usable``: (rows * cols,) the cells a mask leaves; None: every cell.

    Returns
    -------
    (n,) distinct node indices in ``0..rows*cols-1``.
    """
    _check_fits(n, rows, cols, usable)
    rng = np.random.default_rng(seed)
    if usable is None:
        return rng.permutation(rows * cols)[:n].astype(np.intp)
    return np.flatnonzero(usable)[rng.permutation(int(usable.sum()))[:n]].astype(np.intp)


def sorted_layout(
    features: ArrayLike, rows: int, cols: int, *, usable: NDArray[np.bool_] | None = None
) -> NDArray[np.intp]:
    """Items sorted by the first principal component along rows, by the second within each row.

    Items are ranked by PC1 (ascending) and dealt out ``cols`` at a time to rows 0, 1, ...; each
    row's items are then ranked by PC2 (ascending) along columns 0, 1, ... Only the last used row
    may be partly filled. Sorts are stable, and each component's sign is fixed (its largest
    absolute loading is positive), so the layout is a deterministic function of ``features``.

    Parameters
    ----------
    features : (n, n_features) array.
    usable : (rows * cols,) the cells a mask leaves (each row takes as many items as it has
        usable cells, in column order); None: every cell.

    Returns
    -------
    (n,) distinct node indices ``r * cols + c``; larger PC1 means a later row.
    """
    x = np.asarray(features, dtype=np.float64)
    n = x.shape[0]
    _check_fits(n, rows, cols, usable)
    scores = principal_scores(x, 2)
    by_pc1 = np.argsort(scores[:, 0], kind="stable")
    cells = np.arange(rows * cols) if usable is None else np.flatnonzero(usable)
    row_of_cell = cells // cols
    node_of_point = np.empty(n, dtype=np.intp)
    start = 0
    for r in range(rows):
        row_cells = cells[row_of_cell == r]
        members = by_pc1[start : start + row_cells.size]
        in_row = members[np.argsort(scores[members, 1], kind="stable")]
        node_of_point[in_row] = row_cells[: in_row.size]
        start += in_row.size
        if start >= n:
            break
    return node_of_point


def principal_scores(x: NDArray[np.float64], n_components: int) -> NDArray[np.float64]:
    """(n, n_components) projections on the leading principal axes, with a fixed sign.

    Axes beyond the data's dimension score 0. From the eigenvectors of the (n_features,
    n_features) scatter matrix, which is cheap for the 100 PCA features at any n.
    """
    centred = x - x.mean(axis=0)
    _, vectors = np.linalg.eigh(centred.T @ centred)
    axes = vectors[:, ::-1][:, :n_components]  # eigh sorts eigenvalues ascending
    signs = np.sign(axes[np.argmax(np.abs(axes), axis=0), np.arange(axes.shape[1])])
    scores = centred @ (axes * np.where(signs == 0, 1.0, signs))
    out = np.zeros((x.shape[0], n_components))
    out[:, : scores.shape[1]] = scores
    return out


def _check_fits(n: int, rows: int, cols: int, usable: NDArray[np.bool_] | None = None) -> None:
    room = rows * cols if usable is None else int(usable.sum())
    if not 0 < n <= room:
        raise ValueError(f"{n} items do not fit the {room} usable cells of a {rows}x{cols} grid")
