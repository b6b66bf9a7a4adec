from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tsnegrid.data.mask import mask_grid, read_mask, usable_cells
from tsnegrid.errors import InputError, UsageError


def disc(tmp_path: Path, size: int = 200, mode: str = "L") -> Path:
    image = Image.new(mode, (size, size), 255 if mode == "L" else (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse(
        (0, 0, size - 1, size - 1), fill=0 if mode == "L" else (0, 0, 0, 255)
    )
    path = tmp_path / "disc.png"
    image.save(path)
    return path


def test_a_black_disc_makes_a_round_set_of_cells(tmp_path):
    usable = usable_cells(read_mask(disc(tmp_path)), 20, 20).reshape(20, 20)
    assert usable[10, 10] and usable[0, 10] and usable[10, 0]  # centre and edge midpoints
    assert not usable[0, 0] and not usable[19, 19]  # the corners are outside
    assert abs(usable.mean() - np.pi / 4) < 0.05


def test_transparent_pixels_count_as_white(tmp_path):
    usable = usable_cells(read_mask(disc(tmp_path, mode="RGBA")), 10, 10)
    assert 0.6 < usable.mean() < 0.9


def test_row_zero_is_the_bottom_of_the_image(tmp_path):
    image = Image.new("L", (10, 10), 255)
    ImageDraw.Draw(image).rectangle((0, 5, 9, 9), fill=0)  # the bottom half is black
    image.save(tmp_path / "half.png")
    usable = usable_cells(read_mask(tmp_path / "half.png"), 2, 1)
    assert usable.tolist() == [True, False]


def test_the_grid_for_a_mask_has_its_aspect_and_room_for_every_image(tmp_path):
    luminance = read_mask(disc(tmp_path))
    rows, cols = mask_grid(luminance, 300)
    assert rows == cols
    assert usable_cells(luminance, rows, cols).sum() >= 300
    assert usable_cells(luminance, rows - 1, cols - 1).sum() < 300


def test_bad_masks_are_clear_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_mask(tmp_path / "missing.png")
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(InputError, match="not a readable image"):
        read_mask(tmp_path / "notes.png")
    with pytest.raises(UsageError, match="no dark pixels"):
        mask_grid(np.full((10, 10), 255.0), 5)
