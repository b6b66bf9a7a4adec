"""``--mask IMAGE``: the shape of the map, as the grid cells an image may take.

The mask image is scaled to the grid (one mask pixel per cell, by area averaging) and a cell is
usable where the mask is dark: its mean luminance, with transparency composited over white, is
below one half. A black disc on white gives a round map; a logo gives a logo.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

from tsnegrid.errors import InputError, UsageError

#: Mean luminance (0-255) below which a cell of the mask is usable.
DARK = 128


def read_mask(path: Path) -> NDArray[np.float64]:
    """The mask image as luminance in [0, 255], (height, width), transparency over white."""
    try:
        with Image.open(path) as image:
            image.load()
            rgba = image.convert("RGBA")
    except FileNotFoundError as exc:
        raise InputError(f"--mask {path}: no such file; give a PNG or JPEG image") from exc
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise InputError(
            f"--mask {path}: not a readable image ({exc}); give a PNG or JPEG"
        ) from exc
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    grey = Image.alpha_composite(white, rgba).convert("L")
    return np.asarray(grey, dtype=np.float64)


def usable_cells(luminance: NDArray[np.float64], rows: int, cols: int) -> NDArray[np.bool_]:
    """(rows * cols,) True where the mask, scaled to ``rows x cols``, is dark.

    Cell index ``r * cols + c`` with row 0 at the *bottom* of the image, as on the map.
    """
    image = Image.fromarray(luminance.astype(np.float32))  # mode F
    small = np.asarray(image.resize((cols, rows), Image.Resampling.BOX), dtype=np.float64)
    return (small < DARK)[::-1].reshape(-1)


def mask_grid(luminance: NDArray[np.float64], n_images: int) -> tuple[int, int]:
    """The smallest grid with the mask's aspect ratio whose usable cells hold ``n_images``."""
    height, width = luminance.shape
    dark_share = float(np.mean(luminance < DARK))
    if dark_share == 0.0:
        raise UsageError(
            "--mask: the image has no dark pixels, so no cell is usable; draw the "
            "shape in black on white"
        )
    cells = n_images / dark_share
    rows = max(1, round(math.sqrt(cells * height / width)))
    while True:
        cols = max(1, round(rows * width / height))
        if int(usable_cells(luminance, rows, cols).sum()) >= n_images:
            return rows, cols
        rows += 1
