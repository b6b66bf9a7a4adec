"""Baseline arrangements that give the quality numbers a scale: random and sorted by PCA.

Both return ``node_of_point`` arrays (node ``r * cols + c`` of each item, all distinct), the same
shape as :class:`tsnegrid.results.GridAssignment` holds, so every metric scores them alike.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def random_layout(n: int, rows: int, cols: int, *, seed: int) -> NDArray[np.intp]:
    """Each of ``n`` items in a distinct cell drawn uniformly at random (seeded).

    Returns
    -------
    (n,) distinct node indices in ``0..rows*cols-1``.
    """
    _check_fits(n, rows, cols)
    cells = np.random.default_rng(seed).permutation(rows * cols)[:n]
    return cells.astype(np.intp)


def sorted_layout(features: ArrayLike, rows: int, cols: int) -> NDArray[np.intp]:
    """Items sorted by the first principal component along rows, by the second within each row.

    Items are ranked by PC1 (ascending) and dealt out ``cols`` at a time to rows 0, 1, ...; each
    row's items are then ranked by PC2 (ascending) along columns 0, 1, ... Only the last used row
    may be partly filled. Sorts are stable, and each component's sign is fixed (its largest
    absolute loading is positive), so the layout is a deterministic function of ``features``.

    Parameters
    ----------
    features : (n, n_features) array.

    Returns
    -------
    (n,) distinct node indices ``r * cols + c``; larger PC1 means a later row.
    """
    x = np.asarray(features, dtype=np.float64)
    n = x.shape[0]
    _check_fits(n, rows, cols)
    scores = principal_scores(x, 2)
    by_pc1 = np.argsort(scores[:, 0], kind="stable")
    node_of_point = np.empty(n, dtype=np.intp)
    for r, start in enumerate(range(0, n, cols)):
        members = by_pc1[start : start + cols]
        in_row = members[np.argsort(scores[members, 1], kind="stable")]
        node_of_point[in_row] = r * cols + np.arange(in_row.size)
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


def _check_fits(n: int, rows: int, cols: int) -> None:
    if not 0 < n <= rows * cols:
        raise ValueError(f"{n} items do not fit a {rows}x{cols} grid; need 0 < n <= rows*cols")
