"""Tests of the quality figures, asserted on the figure objects and their image arrays."""

from __future__ import annotations

import io

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from numpy.typing import NDArray

from tsnegrid.assign.grid import grid_nodes
from tsnegrid.quality.figures import displacement_grid, plot_displacement_map, plot_seams, seam_grid
from tsnegrid.quality.metrics import displacement_cells

ROWS, COLS = 3, 4
Layout = tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.intp]]


def _pixels(image: AxesImage) -> NDArray[np.float64]:
    """The image's data with masked (blank) pixels as NaN."""
    data = image.get_array()
    assert data is not None
    return np.asarray(np.ma.filled(data.astype(np.float64), np.nan))


def _png_bytes(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


@pytest.fixture
def layout() -> Layout:
    """10 items on a 3x4 grid (cells 5 and 10 empty), points near their nodes, 3-D features."""
    rng = np.random.default_rng(0)
    nodes = np.array([0, 1, 2, 3, 4, 6, 7, 8, 9, 11])
    points = grid_nodes(ROWS, COLS)[nodes] + rng.normal(scale=0.05, size=(10, 2))
    features = rng.normal(size=(10, 3))
    return features, points, nodes


def test_displacement_grid_holds_each_items_distance_and_nan_for_empty(layout: Layout) -> None:
    _, points, nodes = layout
    grid = displacement_grid(points, nodes, ROWS, COLS)
    assert grid.shape == (ROWS, COLS)
    np.testing.assert_allclose(grid.ravel()[nodes], displacement_cells(points, nodes, ROWS, COLS))
    assert np.isnan(grid[1, 1]) and np.isnan(grid[2, 2])
    assert np.isfinite(grid).sum() == 10


def test_plot_displacement_map_objects(layout: Layout) -> None:
    _, points, nodes = layout
    fig = plot_displacement_map(points, nodes, ROWS, COLS)
    assert isinstance(fig, Figure)
    ax, cbar_ax = fig.axes  # the map and its colorbar
    assert ax.get_title() and ax.get_aspect() == 1.0
    (image,) = ax.images
    assert image.origin == "lower"
    data = _pixels(image)
    np.testing.assert_allclose(data, displacement_grid(points, nodes, ROWS, COLS))
    assert "cell widths" in cbar_ax.get_ylabel()
    assert _png_bytes(fig).startswith(b"\x89PNG")  # it renders without pyplot


def test_seam_grid_edges_hold_feature_distances(layout: Layout) -> None:
    features, _, nodes = layout
    seams = seam_grid(features, nodes, ROWS, COLS)
    assert seams.shape == (2 * ROWS - 1, 2 * COLS - 1)
    item_of_cell = {int(c): i for i, c in enumerate(nodes)}
    # Right edge of cell (0, 0) and lower edge of cell (0, 0).
    assert seams[0, 1] == pytest.approx(np.linalg.norm(features[0] - features[1]))
    assert seams[1, 0] == pytest.approx(np.linalg.norm(features[0] - features[item_of_cell[4]]))
    assert np.all(np.isnan(seams[0::2, 0::2]))  # cells
    assert np.all(np.isnan(seams[1::2, 1::2]))  # corners
    # Cell (1, 1) is empty: its four edges are blank, and so are those of cell (2, 2).
    assert np.all(np.isnan([seams[2, 1], seams[2, 3], seams[1, 2], seams[3, 2]]))
    assert np.all(np.isnan([seams[4, 3], seams[4, 5], seams[3, 4]]))
    # 17 pairs of horizontally or vertically adjacent cells, 7 of them touch an empty cell.
    assert np.isfinite(seams).sum() == 17 - 7


def test_plot_seams_objects(layout: Layout) -> None:
    features, _, nodes = layout
    fig = plot_seams(features, nodes, ROWS, COLS)
    ax, cbar_ax = fig.axes
    assert ax.get_title() and ax.get_aspect() == 1.0
    occupied, edges = ax.images  # grey cells underneath, coloured edges on top
    assert occupied.origin == edges.origin == "lower"
    assert _pixels(edges).shape == (2 * ROWS - 1, 2 * COLS - 1)
    np.testing.assert_array_equal(
        np.isfinite(_pixels(occupied))[0::2, 0::2].ravel()[[5, 10]],
        [False, False],
    )
    assert cbar_ax.get_ylabel() == "feature distance"
    assert _png_bytes(fig).startswith(b"\x89PNG")


def test_plot_seams_scales_without_per_cell_artists() -> None:
    rng = np.random.default_rng(1)
    rows = cols = 100
    features = rng.normal(size=(rows * cols, 8))
    fig = plot_seams(features, rng.permutation(rows * cols), rows, cols)
    ax = fig.axes[0]
    assert len(ax.images) == 2 and not ax.collections and not ax.patches
    assert _pixels(ax.images[1]).shape == (199, 199)
