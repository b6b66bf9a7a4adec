"""Figures of a layout's quality: how far each image moved, and where the map has seams.

Both draw the grid as an image with row 0 at the BOTTOM (``origin="lower"``), like the mosaic, so a
cell sits where its image sits in the final map. Each is one or two ``imshow`` images, never one
artist per cell, so they stay fast at 10,000 cells. They build ``matplotlib.figure.Figure``
objects (no pyplot) and return them unsaved.
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from numpy.typing import ArrayLike, NDArray

from tsnegrid.quality.metrics import displacement_cells

_OCCUPIED_GREY = ListedColormap(["#d9d9d9"])


def displacement_grid(
    points: ArrayLike, node_of_point: ArrayLike, rows: int, cols: int
) -> NDArray[np.float64]:
    """(rows, cols) distance each cell's image moved, in cell widths; NaN for empty cells.

    Cell widths as in :func:`tsnegrid.quality.metrics.displacement_cells`.
    """
    grid = np.full(rows * cols, np.nan)
    grid[np.asarray(node_of_point)] = displacement_cells(points, node_of_point, rows, cols)
    return grid.reshape(rows, cols)


def seam_grid(
    features: ArrayLike, node_of_point: ArrayLike, rows: int, cols: int
) -> NDArray[np.float64]:
    """(2*rows-1, 2*cols-1) feature distances on the edges between neighbouring cells.

    Cell (r, c) is pixel (2r, 2c); the edge to its right neighbour is pixel (2r, 2c+1) and the
    edge to the neighbour below is (2r+1, 2c). Edge pixels hold the euclidean distance between
    the two images' features, or NaN when either cell is empty; cell and corner pixels are NaN.
    """
    f = np.asarray(features, dtype=np.float64)
    nodes = np.asarray(node_of_point)
    flat = np.full(rows * cols, -1, dtype=np.intp)
    flat[nodes] = np.arange(nodes.size)
    item_of_cell = flat.reshape(rows, cols)
    out = np.full((2 * rows - 1, 2 * cols - 1), np.nan)
    out[0::2, 1::2] = _edge_distances(f, item_of_cell[:, :-1], item_of_cell[:, 1:])
    out[1::2, 0::2] = _edge_distances(f, item_of_cell[:-1, :], item_of_cell[1:, :])
    return out


def _edge_distances(
    f: NDArray[np.float64], a: NDArray[np.intp], b: NDArray[np.intp]
) -> NDArray[np.float64]:
    """Distances between items ``a`` and ``b`` cell by cell; NaN where either is empty (-1)."""
    both = (a >= 0) & (b >= 0)
    out = np.full(a.shape, np.nan)
    out[both] = np.linalg.norm(f[a[both]] - f[b[both]], axis=1)
    return out


def plot_displacement_map(
    points: ArrayLike, node_of_point: ArrayLike, rows: int, cols: int
) -> Figure:
    """Each cell coloured by how far its image moved from its t-SNE position, in cell widths.

    Empty cells are left blank (NaN). Row 0 is at the bottom. One image and a colorbar.
    """
    grid = displacement_grid(points, node_of_point, rows, cols)
    fig, ax = _grid_axes(rows, cols, "Displacement: how far each image moved to its cell")
    image = ax.imshow(grid, cmap="viridis", origin="lower", interpolation="nearest", vmin=0.0)
    fig.colorbar(image, ax=ax, shrink=0.8, label="displacement (cell widths)")
    return fig


def plot_seams(features: ArrayLike, node_of_point: ArrayLike, rows: int, cols: int) -> Figure:
    """Each edge between neighbouring occupied cells coloured by its images' feature distance.

    Occupied cells are light grey, empty cells blank; edges go from light (similar neighbours)
    to dark (a seam, where clusters meet), as in Karpathy's t-SNE grids of CNN codes. The colour
    scale spans the 1st to 99th percentile of the edge distances so one outlier cannot wash the
    map out. Row 0 is at the bottom.
    """
    seams = seam_grid(features, node_of_point, rows, cols)
    occupied = np.full((2 * rows - 1, 2 * cols - 1), np.nan)
    filled = np.zeros(rows * cols, dtype=bool)
    filled[np.asarray(node_of_point)] = True
    occupied[0::2, 0::2] = np.where(filled.reshape(rows, cols), 0.0, np.nan)
    fig, ax = _grid_axes(rows, cols, "Seams: feature distance between neighbouring images")
    ax.imshow(occupied, cmap=_OCCUPIED_GREY, origin="lower", interpolation="nearest")
    edges = seams[np.isfinite(seams)]
    low, high = np.percentile(edges, [1, 99]) if edges.size else (0.0, 1.0)
    image = ax.imshow(
        seams,
        cmap="magma_r",
        origin="lower",
        interpolation="nearest",
        vmin=low,
        vmax=max(high, low + 1e-12),
    )
    fig.colorbar(image, ax=ax, shrink=0.8, extend="both", label="feature distance")
    return fig


def _grid_axes(rows: int, cols: int, title: str) -> tuple[Figure, Axes]:
    """A figure sized to the grid's aspect with one bare, equal-aspect axes."""
    scale = 7.0 / max(rows, cols)
    fig = Figure(figsize=(max(3.0, cols * scale) + 1.5, max(3.0, rows * scale)), dpi=100)
    ax = fig.add_subplot()
    ax.set_title(title)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    return fig, ax
