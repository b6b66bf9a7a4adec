import numpy as np
from matplotlib.collections import PathCollection
from matplotlib.quiver import Quiver

from tsnegrid.assign.grid import grid_nodes
from tsnegrid.report import figures


def _collections(fig, kind):
    return [c for ax in fig.axes for c in ax.collections if isinstance(c, kind)]


def test_scatter_has_every_point_and_a_colorbar_of_class_names(blobs, unit_points):
    pts = unit_points[: blobs.n_images]
    fig = figures.plot_scatter(pts, blobs.labels, blobs.class_names)
    dots = _collections(fig, PathCollection)
    assert sum(len(c.get_offsets()) for c in dots) == blobs.n_images
    np.testing.assert_allclose(dots[0].get_offsets(), pts)
    colorbar_ax = fig.axes[1]
    assert [t.get_text() for t in colorbar_ax.get_yticklabels()] == list(blobs.class_names)


def test_scatter_without_classes_has_no_colorbar(unit_points):
    labels = np.full(len(unit_points), -1)
    fig = figures.plot_scatter(unit_points, labels, ())
    assert len(fig.axes) == 1


def test_unknown_labels_are_grey():
    colors = figures.label_colors(np.array([0, -1, 1]), 2)
    assert tuple(colors[1]) == figures.UNKNOWN_COLOR
    assert tuple(colors[0]) != tuple(colors[2])


def test_overlay_pastes_each_image_at_its_position_with_y_up():
    pixels = np.zeros((2, 4, 4), dtype=np.uint8)
    pixels[0] = 200
    pixels[1] = 90
    pts = np.array([[0.0, 0.0], [1.0, 1.0]])  # bottom-left, top-right
    canvas = figures.compose_overlay(pts, pixels, canvas_px=400)
    tile = figures._overlay_tile_px(2, 4, 400)
    assert canvas[-1, 0] == 200  # bottom-left corner
    assert canvas[0, -1] == 90  # top-right corner
    assert canvas[200, 200] == 0  # background stays black
    assert (canvas == 200).sum() == tile * tile


def test_overlay_of_grayscale_keeps_the_brighter_pixel_where_images_overlap():
    pixels = np.array([np.eye(4, dtype=np.uint8) * 255, np.full((4, 4), 10, np.uint8)])
    canvas = figures.compose_overlay(np.full((2, 2), 0.5), pixels, canvas_px=40)
    assert canvas.max() == 255
    assert (canvas == 10).sum() > 0  # the dim image shows where the bright one is background


def test_overlay_figure_subsamples_large_collections(monkeypatch):
    monkeypatch.setattr(figures, "MAX_DRAWN", 10)
    pixels = np.zeros((35, 4, 4), dtype=np.uint8)
    fig = figures.plot_overlay(np.random.default_rng(0).random((35, 2)), pixels, canvas_px=64)
    assert "9 images" in fig.axes[0].get_title()
    assert fig.axes[0].get_title().endswith("(1 in 4 of 35)")


def test_grid_figure_draws_every_node():
    fig = figures.plot_grid(3, 5)
    (dots,) = _collections(fig, PathCollection)
    np.testing.assert_allclose(dots.get_offsets(), grid_nodes(3, 5))
    assert "3 x 5 grid" in fig.axes[0].get_title()


def test_arrows_go_from_point_to_assigned_node_coloured_by_class():
    pts = np.array([[0.1, 0.2], [0.9, 0.8]])
    node_of_point = np.array([3, 0])  # (1, 1) and (0, 0) on a 2x2 grid
    fig = figures.plot_arrows(pts, node_of_point, 2, 2, np.array([0, 1]), 2)
    (q,) = _collections(fig, Quiver)
    np.testing.assert_allclose(np.column_stack([q.X, q.Y]), pts)
    np.testing.assert_allclose(np.column_stack([q.U, q.V]), [[0.9, 0.8], [-0.9, -0.8]])
    assert len(np.unique(q.get_facecolor(), axis=0)) == 2


def test_samples_show_a_row_per_class(blobs):
    fig = figures.plot_samples(blobs.pixels, blobs.labels, blobs.class_names, per_class=4)
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_yticklabels()] == list(blobs.class_names)
    (image,) = ax.images
    array = image.get_array()
    assert array is not None
    assert array.shape == (3 * 8 + 2 * 2, 4 * 8 + 3 * 2)


def test_samples_of_many_classes_show_the_first_few_classes():
    n = figures.MAX_SAMPLE_CLASSES + 25
    pixels = np.zeros((2 * n, 4, 4), np.uint8)
    labels = np.repeat(np.arange(n), 2)
    labels[-1] = -1  # an image without a class: no row for it once the sheet is full
    names = tuple(f"c{k}" for k in range(n))
    fig = figures.plot_samples(pixels, labels, names, per_class=2)
    (ax,) = fig.axes
    shown = [t.get_text() for t in ax.get_yticklabels()]
    assert shown == list(names[: figures.MAX_SAMPLE_CLASSES])


def test_sample_sheet_places_each_image_in_its_row_and_column():
    pixels = np.arange(1, 5, dtype=np.uint8)[:, None, None] * np.ones((4, 2, 2), np.uint8)
    sheet = figures.compose_sheet(pixels, [np.array([0, 1]), np.array([3])], per_row=2)
    assert sheet.shape == (2 * 2 + 2, 2 * 2 + 2)
    assert np.all(sheet[0:2, 0:2] == 1)
    assert np.all(sheet[0:2, 4:6] == 2)
    assert np.all(sheet[4:6, 0:2] == 4)
    assert np.all(sheet[4:6, 4:6] == 255)  # no image: white
    assert np.all(sheet[2:4] == 255)  # the gap between rows


def test_class_palette_has_one_distinct_colour_per_class():
    for n in (3, 15, 40):
        colors = figures.class_palette(n)(np.arange(n))
        assert len(np.unique(colors, axis=0)) == n


def test_arrows_subsample_large_collections(monkeypatch):
    monkeypatch.setattr(figures, "MAX_ARROWS", 10)
    pts = np.random.default_rng(0).random((35, 2))
    fig = figures.plot_arrows(pts, np.arange(35), 6, 6, np.zeros(35, dtype=np.int64), 1)
    (q,) = _collections(fig, Quiver)
    assert len(q.X) == 9
    assert fig.axes[0].get_title().endswith("(1 in 4 of 35)")
