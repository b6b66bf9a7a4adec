"""The regular lattice of grid nodes in the unit square.

Node (r, c) of a ``rows x cols`` grid has index ``r * cols + c`` and sits at
``(x, y) = (c / (cols - 1), r / (rows - 1))``, as the notebook's ``np.meshgrid`` lays it out; a
single row or column sits at coordinate 0.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray


def axis_coords(n: int) -> NDArray[np.float64]:
    """Coordinates of ``n`` evenly spaced nodes on [0, 1] (``[0.0]`` when ``n == 1``)."""
    if n < 1:
        raise ValueError(f"an axis needs at least one node, got {n}")
    if n == 1:
        return np.zeros(1)
    return np.arange(n, dtype=np.float64) / (n - 1)


def grid_nodes(rows: int, cols: int) -> NDArray[np.float64]:
    """Positions of every node of a ``rows x cols`` grid.

    Returns
    -------
    (rows * cols, 2) float64 array of (x, y); row ``r * cols + c`` is node (r, c).
    """
    ys, xs = np.meshgrid(axis_coords(rows), axis_coords(cols), indexing="ij")
    return np.column_stack([xs.ravel(), ys.ravel()])


def node_rc(node: NDArray[np.intp], cols: int) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Split node indices into (row, col) arrays."""
    return np.divmod(node, cols)


def cell_width(rows: int, cols: int) -> float:
    """Distance between neighbouring nodes: 1/(n-1) along the longer axis (1.0 for 1x1)."""
    n = max(rows, cols)
    return 1.0 / (n - 1) if n > 1 else 1.0


def near_square_grid(n_items: int) -> tuple[int, int]:
    """The near-square grid (rows, cols) with the fewest cells that holds ``n_items``.

    ``cols = ceil(sqrt(n))`` and ``rows = ceil(n / cols)``, so a square number gives a square
    grid and at most one row is partly empty.
    """
    if n_items < 1:
        raise ValueError(f"need at least one item, got {n_items}")
    cols = math.isqrt(n_items - 1) + 1
    rows = -(-n_items // cols)
    return rows, cols
