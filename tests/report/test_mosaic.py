"""The final map's drawing: whole-factor scaling, gutters and the images' background."""

import numpy as np
import pytest

from tsnegrid.report.mosaic import (
    GUTTER_PX,
    MIN_CELL_PX,
    MapGeometry,
    background,
    compose_mosaic,
    map_geometry,
    mosaic_preview,
)

PLAIN = MapGeometry(scale=1, gutter=0, background=(0,))


def test_mosaic_puts_each_image_in_its_cell_row_zero_at_the_bottom():
    pixels = np.arange(1, 4, dtype=np.uint8)[:, None, None] * np.ones((3, 2, 3), np.uint8)
    node_of_point = np.array([0, 5, 3])  # (0,0), (1,2), (1,0) on a 2x3 grid
    mosaic = compose_mosaic(pixels, node_of_point, 2, 3, geometry=PLAIN)
    assert mosaic.shape == (4, 9)
    assert np.all(mosaic[2:4, 0:3] == 1)  # row 0 is the bottom band
    assert np.all(mosaic[0:2, 6:9] == 2)
    assert np.all(mosaic[0:2, 0:3] == 3)
    assert np.all(mosaic[2:4, 3:9] == 0)  # empty cells: the background


@pytest.mark.parametrize(("side", "scale"), [(8, 3), (16, 2), (28, 1), (32, 1), (64, 1)])
def test_small_images_are_scaled_by_a_whole_factor_to_a_readable_cell(side, scale):
    geometry = map_geometry(np.zeros((2, side, side), np.uint8))
    assert geometry.scale == scale
    assert side * geometry.scale >= min(side, MIN_CELL_PX)
    assert geometry.pitch(side) == side * scale + GUTTER_PX


def test_digits_are_drawn_with_crisp_pixels_and_a_gutter_between_vertical_neighbours():
    """8 x 8 digits that fill their box top to bottom no longer touch their neighbour above."""
    digit = np.zeros((8, 8), np.uint8)
    digit[:, 3:5] = 255  # a '1' from the top row to the bottom row
    mosaic = compose_mosaic(np.stack([digit, digit]), np.array([0, 2]), 2, 2)  # one above other
    g = map_geometry(np.stack([digit, digit]))
    pitch = g.pitch(8)
    assert mosaic.shape == (2 * pitch, 2 * pitch)
    column = mosaic[:, GUTTER_PX // 2 + 3 * g.scale]  # through the strokes of both digits
    assert column[pitch - 1] == 0 and column[pitch] == 0  # the gutter between them is dark
    inner = mosaic[1 : 1 + 24, 1 : 1 + 24]  # the upper digit, scaled 3x by repetition
    np.testing.assert_array_equal(inner, np.repeat(np.repeat(digit, 3, 0), 3, 1))


def test_empty_cells_and_gutters_take_the_images_background():
    clip_art = np.full((3, 6, 6, 3), 255, np.uint8)  # white, composited on white
    clip_art[:, 2:4, 2:4] = (200, 0, 0)
    assert background(clip_art) == (255, 255, 255)
    mosaic = compose_mosaic(clip_art, np.array([0, 1, 2]), 2, 2)
    pitch = map_geometry(clip_art).pitch(6)
    assert np.all(mosaic[:pitch, pitch:] == 255)  # the empty top-right cell is white, not black
    assert background(np.zeros((2, 5, 5), np.uint8)) == (0,)


def test_mosaic_of_colour_images_keeps_channels():
    pixels = np.zeros((2, 3, 3, 3), dtype=np.uint8)
    pixels[1, ..., 0] = 255
    plain_rgb = MapGeometry(scale=1, gutter=0, background=(0, 0, 0))
    mosaic = compose_mosaic(pixels, np.array([1, 0]), 1, 2, geometry=plain_rgb)
    assert mosaic.shape == (3, 6, 3)
    assert np.all(mosaic[:, :3, 0] == 255)
    assert np.all(mosaic[:, 3:] == 0)


@pytest.mark.parametrize(
    ("shape", "expected"), [((40, 60), (800, 1200)), ((3000, 1500), (1200, 600))]
)
def test_mosaic_preview_scales_by_whole_factors_or_down(shape, expected):
    preview = mosaic_preview(np.zeros(shape, dtype=np.uint8), target_px=1200)
    assert preview.shape == expected


@pytest.mark.parametrize("shape", [(37, 8, 8), (37, 6, 5, 3)])
def test_the_map_is_the_same_painted_on_worker_threads_and_cell_by_cell(shape):
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, shape, dtype=np.uint8)
    rows, cols = 5, 9
    node_of_point = rng.permutation(rows * cols)[: len(pixels)]
    g = map_geometry(pixels)
    with ThreadPoolExecutor(3) as pool:
        threaded = compose_mosaic(pixels, node_of_point, rows, cols, pool=pool)
    mosaic = compose_mosaic(pixels, node_of_point, rows, cols)
    np.testing.assert_array_equal(threaded, mosaic)
    h, w = shape[1:3]
    ph, pw, top = g.pitch(h), g.pitch(w), g.gutter // 2
    expected = np.empty_like(mosaic)
    expected[...] = np.asarray(g.background, dtype=np.uint8)
    for image, node in zip(pixels, node_of_point, strict=True):
        r, c = rows - 1 - node // cols, node % cols
        scaled = np.repeat(np.repeat(image, g.scale, 0), g.scale, 1)
        expected[
            r * ph + top : r * ph + top + h * g.scale, c * pw + top : c * pw + top + w * g.scale
        ] = scaled
    np.testing.assert_array_equal(mosaic, expected)
