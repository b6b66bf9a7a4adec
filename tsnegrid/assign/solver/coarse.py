"""Coarse-to-fine: a half-resolution version of the problem and its potentials on the fine lattice.

The coarse problem keeps the density of points per node: it takes about a quarter of the points,
picked evenly along a Hilbert curve so that every region keeps its share, onto a lattice with half
as many rows and columns. Its node potentials approximate the same continuous transport potential
(the costs are squared distances in the same units), so interpolating them onto the fine lattice
gives a good starting dual for the fine problem.

The coarse lattice is not a subset of the fine one: a lattice of ``N`` nodes with spacing ``h``
behaves like ``N`` cells covering ``[x_0 - h/2, x_last + h/2]``, and the coarse lattice must cover
the same interval with its ``ceil(N/2)`` cells. Were it to keep the end nodes instead, its cells
would reach further out and its optimum would stretch the points by a different factor, which
shows as a bowl of many ``h^2`` in the interpolated potentials.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from numpy.typing import NDArray

HILBERT_ORDER = 16  # 65,536 cells per axis: finer than any lattice we solve


@nb.njit(cache=True)
def _hilbert_d(x, y, side):  # type: ignore[no-untyped-def]
    """Position of cell (x, y) along the Hilbert curve over ``side x side`` cells (xy2d)."""
    d = 0
    s = side >> 1
    while s > 0:
        rx = 1 if x & s else 0
        ry = 1 if y & s else 0
        d += s * s * ((3 * rx) ^ ry)
        if ry == 0:  # rotate the quadrant so that the curve stays continuous
            if rx == 1:
                x, y = side - 1 - x, side - 1 - y
            x, y = y, x
        s >>= 1
    return d


@nb.njit(cache=True)
def _hilbert_all(px, py, side):  # type: ignore[no-untyped-def]
    out = np.empty(len(px), dtype=np.int64)
    for i in range(len(px)):
        x = min(max(int(px[i] * side), 0), side - 1)
        y = min(max(int(py[i] * side), 0), side - 1)
        out[i] = _hilbert_d(x, y, side)
    return out


def hilbert_index(points: NDArray[np.float64], order: int = HILBERT_ORDER) -> NDArray[np.int64]:
    """(n,) position of each point of [0, 1]^2 along a Hilbert curve of the given order."""
    px = np.ascontiguousarray(points[:, 0], dtype=np.float64)
    py = np.ascontiguousarray(points[:, 1], dtype=np.float64)
    return _hilbert_all(px, py, 1 << order)


def subsample(points: NDArray[np.float64], n_keep: int) -> NDArray[np.float64]:
    """``n_keep`` of the points, evenly spaced along their order (deterministic).

    The solver hands its points over in their order along the Hilbert curve (see
    :func:`.multilevel.spatial_order`), and a subsample keeps that order, so sorting them again
    here would be the identity (0.13 s over the levels of a million points).
    """
    picks = (np.arange(n_keep) * len(points)) // n_keep
    return points[picks]


def coarse_axis(coords: NDArray[np.float64]) -> NDArray[np.float64]:
    """Node coordinates of the coarse axis: ``ceil(N/2)`` cells over the same interval."""
    n = len(coords)
    if n == 1:
        return coords.copy()
    h = coords[1] - coords[0]
    n_coarse = (n + 1) // 2
    h_coarse = n * h / n_coarse
    return coords[0] - h / 2 + h_coarse * (np.arange(n_coarse) + 0.5)


def coarse_mask(
    mask: NDArray[np.bool_], fine: tuple[NDArray, NDArray], coarse: tuple[NDArray, NDArray]
) -> NDArray[np.bool_]:
    """(coarse rows, coarse cols) whether the fine node nearest to each coarse node is usable.

    ``mask`` is (fine rows, fine cols); ``fine`` and ``coarse`` are (xs, ys) node coordinates.
    """
    near = [_nearest_index(f, c) for f, c in zip(fine, coarse, strict=True)]
    return mask[np.ix_(near[1], near[0])]


def _nearest_index(fine: NDArray[np.float64], coarse: NDArray[np.float64]) -> NDArray[np.intp]:
    if len(fine) == 1:
        return np.zeros(len(coarse), dtype=np.intp)
    at = np.rint((coarse - fine[0]) / (fine[1] - fine[0])).astype(np.intp)
    return np.clip(at, 0, len(fine) - 1)


GHOSTS = 2  # linearly extrapolated nodes added on each side before the cubic interpolation


def _axis_weights(fine: NDArray[np.float64], coarse: NDArray[np.float64]):  # type: ignore[no-untyped-def]
    """Catmull-Rom weights: (len(fine), 4) indices into the ghost-padded axis and their weights.

    The cubic reproduces quadratics exactly, and potentials are close to quadratic both where
    points are spread (``v`` flat) and where a cluster is stretched (``|q|^2 - v`` flat), where
    linear interpolation would be off by about ``h^2`` between coarse nodes. The outer fine nodes
    lie beyond the outer coarse ones; the ghost nodes extend the coarse values linearly there.
    """
    n_c = len(coarse)
    if n_c == 1:
        return np.zeros((len(fine), 4), dtype=np.int64), np.full((len(fine), 4), 0.25)
    pos = (fine - coarse[0]) / (coarse[1] - coarse[0]) + GHOSTS
    lo = np.clip(np.floor(pos).astype(np.int64), 1, n_c + 2 * GHOSTS - 3)
    t = (pos - lo)[:, None]
    idx = lo[:, None] + np.arange(-1, 3)[None, :]
    w = np.hstack([(-t**3 + 2 * t**2 - t) / 2, (3 * t**3 - 5 * t**2 + 2) / 2,
                   (-3 * t**3 + 4 * t**2 + t) / 2, (t**3 - t**2) / 2])  # fmt: skip
    return idx, w


def _pad(grid: NDArray[np.float64], axis: int) -> NDArray[np.float64]:
    """``GHOSTS`` linearly extrapolated layers on both ends of ``axis`` (none for one node)."""
    n = grid.shape[axis]
    if n == 1:
        return grid
    first, second = np.take(grid, [0], axis), np.take(grid, [1], axis)
    last, before = np.take(grid, [n - 1], axis), np.take(grid, [n - 2], axis)
    lows = [first + (first - second) * g for g in range(GHOSTS, 0, -1)]
    highs = [last + (last - before) * g for g in range(1, GHOSTS + 1)]
    return np.concatenate([*lows, grid, *highs], axis=axis)


def interpolate(
    v_coarse: NDArray[np.float64], coarse: tuple[NDArray, NDArray], fine: tuple[NDArray, NDArray]
) -> NDArray[np.float64]:
    """Separable cubic interpolation of coarse node potentials onto the fine lattice.

    Parameters
    ----------
    v_coarse : (coarse_rows * coarse_cols,) potentials of the coarse nodes.
    coarse, fine : (xs, ys) node coordinates of the two lattices.

    Returns
    -------
    (fine_rows * fine_cols,) float64 potentials.
    """
    grid = _pad(_pad(v_coarse.reshape(len(coarse[1]), len(coarse[0])), 0), 1)
    ci, cw = _axis_weights(fine[0], coarse[0])
    ri, rw = _axis_weights(fine[1], coarse[1])
    along_x = np.einsum("rfk,fk->rf", grid[:, ci], cw)
    out = np.einsum("fkc,fk->fc", along_x[ri, :], rw)
    return np.ascontiguousarray(out.ravel())
