"""Figure 5, the final map: every image in its cell, drawn so that small images read.

Images are scaled up by a whole factor with nearest-neighbour sampling until a cell is at least
``MIN_CELL_PX`` pixels (scikit-learn's 8 x 8 digits three times, 28-pixel MNIST and 32-pixel
thumbnails not at all), and a thin gutter of the images' own background separates neighbouring
cells, so that digits that fill their box from top to bottom do not run into each other. Empty
cells take that background too (black for MNIST, white for clip art composited on white).

Grid row 0 is at the bottom of the map, as in the scatter plots it comes from.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tsnegrid.report.figures import downsample
from tsnegrid.runtime.workers import run_ranges

#: Cells are scaled up by a whole factor until they are at least this many pixels.
MIN_CELL_PX = 24
#: Bands of the map and batches of images painted as separate jobs on worker threads.
PARTS = 8
#: Background pixels between neighbouring cells (half of it on each side of a cell).
GUTTER_PX = 2


@dataclass(frozen=True)
class MapGeometry:
    """How the map draws a cell: ``scale`` x the image, inside a ``pitch``-pixel square."""

    scale: int
    gutter: int
    background: tuple[int, ...]  # one value per channel

    def pitch(self, side: int) -> int:
        return side * self.scale + self.gutter


def map_scale(pixels: NDArray[np.uint8]) -> int:
    """The whole factor that brings these images, (n, h, w[, c]), to ``MIN_CELL_PX``."""
    return max(1, -(-MIN_CELL_PX // max(pixels.shape[1:3])))  # ceil


def map_geometry(pixels: NDArray[np.uint8]) -> MapGeometry:
    """The scale, gutter and background for these images, (n, h, w[, c])."""
    return MapGeometry(scale=map_scale(pixels), gutter=GUTTER_PX, background=background(pixels))


def map_size(pixels: NDArray[np.uint8], rows: int, cols: int) -> tuple[int, int]:
    """(height, width) in pixels of :func:`compose_mosaic`'s map of these images, (n, h, w[, c]),
    on ``rows x cols`` cells."""
    scale, (h, w) = map_scale(pixels), pixels.shape[1:3]
    return rows * (h * scale + GUTTER_PX), cols * (w * scale + GUTTER_PX)


def background(pixels: NDArray[np.uint8]) -> tuple[int, ...]:
    """The images' background: the median of their border pixels, per channel."""
    if len(pixels) == 0:
        return (0,) * (pixels.shape[3] if pixels.ndim == 4 else 1)
    border = np.concatenate(
        [pixels[:, 0], pixels[:, -1], pixels[:, :, 0], pixels[:, :, -1]], axis=1
    )  # (n, 2h + 2w[, c])
    values = border.reshape(-1, *pixels.shape[3:])
    return tuple(int(v) for v in np.atleast_1d(np.median(values, axis=0)).round())


def compose_mosaic(
    pixels: NDArray[np.uint8],
    node_of_point: NDArray[np.intp],
    rows: int,
    cols: int,
    *,
    geometry: MapGeometry | None = None,
    pool: ThreadPoolExecutor | None = None,
) -> NDArray[np.uint8]:
    """The final map: image ``i`` in cell ``node_of_point[i]``, scaled and framed by the gutter.

    Parameters
    ----------
    pixels : (n, h, w) grayscale or (n, h, w, c) colour images.
    node_of_point : (n,) cell index ``r * cols + c`` of each image, all distinct.
    geometry : scale, gutter and background; :func:`map_geometry` of the images by default.
    pool : worker threads that paint bands of the map and batches of the images (each writes
        only its own pixels, so the map is the same).

    Returns
    -------
    (rows * pitch, cols * pitch[, c]) uint8, ``pitch = max(h, w) * scale + gutter`` for square
    images (``h * scale + gutter`` by ``w * scale + gutter`` in general).
    """
    g = map_geometry(pixels) if geometry is None else geometry
    h, w = pixels.shape[1:3]
    ph, pw = h * g.scale + g.gutter, w * g.scale + g.gutter
    channels = pixels.shape[3:]
    mosaic = np.empty((rows * ph, cols * pw, *channels), dtype=np.uint8)
    fill = np.asarray(g.background, dtype=np.uint8).reshape((1,) * 2 + channels)
    run_ranges(pool, rows * ph, _parts(pool), _paint_band, mosaic, fill)
    # Grid row 0 at the bottom: node r * cols + c is the (rows - 1 - r)-th band of cells.
    cell_row = rows - 1 - node_of_point // cols
    cell_col = node_of_point % cols
    cells = mosaic.reshape(rows, ph, cols, pw, *channels)
    run_ranges(pool, len(pixels), _parts(pool), _paste, cells, pixels, cell_row, cell_col, g)
    return mosaic


def _parts(pool: ThreadPoolExecutor | None) -> int:
    return 1 if pool is None else PARTS


def _paint_band(mosaic: NDArray[np.uint8], fill: NDArray[np.uint8], lo: int, hi: int) -> None:
    mosaic[lo:hi] = fill


def _paste(
    cells: NDArray[np.uint8],
    pixels: NDArray[np.uint8],
    cell_row: NDArray[np.intp],
    cell_col: NDArray[np.intp],
    g: MapGeometry,
    lo: int,
    hi: int,
) -> None:
    """Images ``lo:hi`` into their cells of ``cells`` (rows, pitch, cols, pitch[, c])."""
    h, w = pixels.shape[1:3]
    scaled = pixels[lo:hi]
    if g.scale > 1:
        scaled = np.repeat(np.repeat(scaled, g.scale, axis=1), g.scale, axis=2)
    top = g.gutter // 2
    rows, cols = cell_row[lo:hi], cell_col[lo:hi]
    # Two index arrays around a slice: numpy puts their axis first, (hi - lo, h', w'[, c]).
    cells[rows, top : top + h * g.scale, cols, top : top + w * g.scale] = scaled


def mosaic_preview(mosaic: NDArray[np.uint8], *, target_px: int = 1200) -> NDArray[np.uint8]:
    """The final map sized for the page: scaled by a whole factor up (crisp pixels) or down.

    Returns the mosaic unchanged when its longer side is already near ``target_px``.
    """
    longest = max(mosaic.shape[:2])
    if longest > target_px:
        return downsample(mosaic, target_px)
    factor = max(1, target_px // longest)
    return np.repeat(np.repeat(mosaic, factor, axis=0), factor, axis=1)
