"""Image folders: every colour mode, orientation, animation, odd sizes and names, bad files."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tsnegrid.data import load_image_folder
from tsnegrid.errors import InputError, UsageError

WHITE = (255, 255, 255)
RED = (255, 0, 0)
BLUE = (0, 0, 255)


def save(image: Image.Image, path: Path, **params: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **params)
    return path


def solid(path: Path, colour: tuple[int, int, int] = RED, size: tuple[int, int] = (8, 8)) -> Path:
    return save(Image.new("RGB", size, colour), path)


def noise_png(size: int = 32) -> bytes:
    rng = np.random.default_rng(0)
    raw = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(raw, "PNG")
    return raw.getvalue()


def only_image(folder: Path, thumb_px: int = 8) -> np.ndarray:
    images = load_image_folder(folder, thumb_px=thumb_px)
    assert images.n_images == 1
    assert images.skipped == ()
    return images.pixels[0].astype(int)


def half_alpha(mode: str, opaque: int | tuple[int, ...]) -> Image.Image:
    """8 x 8 image whose left half is fully transparent and right half opaque ``opaque``."""
    image = Image.new(mode, (8, 8), opaque)
    alpha = Image.new("L", (8, 8), 255)
    alpha.paste(0, (0, 0, 4, 8))
    image.putalpha(alpha)
    return image


def assert_left_white_right(pixels: np.ndarray, colour: tuple[int, int, int]) -> None:
    assert (pixels[:, :4] == WHITE).all()
    assert (pixels[:, 4:] == colour).all()


def test_mode_l(tmp_path: Path) -> None:
    save(Image.new("L", (8, 8), 100), tmp_path / "a.png")
    assert (only_image(tmp_path) == 100).all()


def test_mode_la_composited_over_white(tmp_path: Path) -> None:
    save(half_alpha("L", 0), tmp_path / "a.png")
    assert Image.open(tmp_path / "a.png").mode == "LA"
    assert_left_white_right(only_image(tmp_path), (0, 0, 0))


def test_mode_rgba_composited_over_white(tmp_path: Path) -> None:
    save(half_alpha("RGB", BLUE), tmp_path / "a.png")
    assert_left_white_right(only_image(tmp_path), BLUE)


def test_transparency_survives_downscaling_without_dark_fringes(tmp_path: Path) -> None:
    rgba = np.zeros((64, 64, 4), dtype=np.uint8)  # transparent black ...
    rgba[:, 32:] = (*BLUE, 255)  # ... beside opaque blue
    save(Image.fromarray(rgba), tmp_path / "a.png")
    pixels = only_image(tmp_path)
    assert (pixels[:, :3] >= 235).all()  # white: the black under alpha 0 must not show
    assert (pixels[:, 5:, 2] >= 235).all()
    assert (pixels[:, 5:, :2] <= 20).all()


def test_mode_p_with_transparency(tmp_path: Path) -> None:
    image = Image.new("P", (8, 8), 0)
    image.putpalette([0, 255, 0, *RED])
    image.paste(1, (4, 0, 8, 8))
    save(image, tmp_path / "a.png", transparency=0)
    assert Image.open(tmp_path / "a.png").mode == "P"
    assert_left_white_right(only_image(tmp_path), RED)


def test_mode_cmyk(tmp_path: Path) -> None:
    save(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), tmp_path / "a.tif")
    assert Image.open(tmp_path / "a.tif").mode == "CMYK"
    assert (only_image(tmp_path) == RED).all()


def test_mode_i16_scales_the_full_range(tmp_path: Path) -> None:
    values = np.full((8, 8), 65535, dtype=np.uint16)
    values[:, :4] = 257 * 128
    save(Image.fromarray(values), tmp_path / "a.tif")
    assert Image.open(tmp_path / "a.tif").mode.startswith("I;16")
    pixels = only_image(tmp_path)
    assert (pixels[:, :4] == 128).all()
    assert (pixels[:, 4:] == 255).all()


def test_mode_f_is_stretched(tmp_path: Path) -> None:
    values = np.zeros((8, 8), dtype=np.float32)
    values[:, 4:] = 0.5
    save(Image.fromarray(values), tmp_path / "a.tif")
    assert Image.open(tmp_path / "a.tif").mode == "F"
    pixels = only_image(tmp_path)
    assert (pixels[:, :4] == 0).all()
    assert (pixels[:, 4:] == 255).all()


def test_mode_1(tmp_path: Path) -> None:
    image = Image.new("1", (8, 8), 0)
    image.paste(1, (4, 0, 8, 8))
    save(image, tmp_path / "a.bmp")
    assert Image.open(tmp_path / "a.bmp").mode == "1"
    pixels = only_image(tmp_path)
    assert (pixels[:, :4] == 0).all()
    assert (pixels[:, 4:] == 255).all()


def test_exif_orientation_is_respected(tmp_path: Path) -> None:
    image = Image.new("RGB", (40, 20), RED)
    image.paste(BLUE, (20, 0, 40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored column 0 is shown at the top: the picture turns 90° clockwise
    save(image, tmp_path / "photo.jpg", exif=exif, quality=95)
    pixels = only_image(tmp_path, thumb_px=16)
    # Upright it is 20 wide and 40 tall: 8 x 16 in the thumbnail, white bars left and right.
    assert (pixels[:, :3] == WHITE).all()
    assert (pixels[:, -3:] == WHITE).all()
    top, bottom = pixels[2, 8], pixels[13, 8]
    assert top[0] > 200 and top[2] < 60
    assert bottom[2] > 200 and bottom[0] < 60


def test_animated_gif_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (8, 8), colour) for colour in (RED, BLUE, (0, 255, 0))]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:], duration=50)
    assert getattr(Image.open(tmp_path / "a.gif"), "n_frames", 1) == 3
    assert (only_image(tmp_path) == RED).all()


@pytest.mark.parametrize("size", [(2000, 1), (1, 2000), (64, 8)])
def test_wide_and_tall_images_are_fitted_and_padded(tmp_path: Path, size: tuple[int, int]) -> None:
    solid(tmp_path / "a.png", BLUE, size)
    pixels = only_image(tmp_path, thumb_px=16)
    assert pixels.shape == (16, 16, 3)
    long_side = pixels[7] if size[0] > size[1] else pixels[:, 7]
    assert (long_side == BLUE).all()
    short = round(16 * min(size) / max(size)) or 1
    assert (pixels == BLUE).all(axis=-1).sum() == 16 * short
    assert (pixels == WHITE).all(axis=-1).sum() == 16 * (16 - short)


def test_small_image_is_scaled_up(tmp_path: Path) -> None:
    solid(tmp_path / "a.png", RED, (4, 4))
    assert (only_image(tmp_path, thumb_px=32) == RED).all()


def test_classes_from_first_level_folders_in_stable_order(tmp_path: Path) -> None:
    for name in ["dogs/z.png", "cats/deep/er/b.png", "cats/a.png", "loose.png", "dogs/A.PNG"]:
        solid(tmp_path / name)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "cats" / "meta.json").write_text("{}")
    images = load_image_folder(tmp_path, thumb_px=8)
    assert images.names == (
        "cats/a.png",
        "cats/deep/er/b.png",
        "dogs/A.PNG",
        "dogs/z.png",
        "loose.png",
    )
    assert images.class_names == ("cats", "dogs")
    assert images.labels.tolist() == [0, 0, 1, 1, -1]
    assert images.pixels.shape == (5, 8, 8, 3)
    assert images.source == f"image folder {tmp_path}"


def test_no_subfolders_means_no_classes(tmp_path: Path) -> None:
    solid(tmp_path / "b.jpeg")
    solid(tmp_path / "a.webp")
    images = load_image_folder(tmp_path, thumb_px=8)
    assert images.names == ("a.webp", "b.jpeg")
    assert images.class_names == ()
    assert images.labels.tolist() == [-1, -1]


def test_same_folder_gives_the_same_set(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for index in rng.permutation(12):
        red, green, blue = (int(v) for v in rng.integers(0, 256, 3))
        solid(tmp_path / f"c{index % 3}" / f"{index:02d}.png", (red, green, blue))
    first = load_image_folder(tmp_path, thumb_px=8)
    second = load_image_folder(tmp_path, thumb_px=8)
    assert first.names == tuple(sorted(first.names))
    np.testing.assert_array_equal(first.pixels, second.pixels)
    assert first.names == second.names


def test_hidden_files_and_folders_are_ignored(tmp_path: Path) -> None:
    solid(tmp_path / "a.png")
    (tmp_path / ".hidden.png").write_bytes(b"")
    (tmp_path / "._a.png").write_bytes(b"AppleDouble")
    solid(tmp_path / ".thumbnails" / "a.png")
    images = load_image_folder(tmp_path, thumb_px=8)
    assert images.names == ("a.png",)
    assert images.skipped == ()


def test_odd_names_are_kept_as_they_are(tmp_path: Path) -> None:
    names = [
        "a b c.png",
        "ünïcødé 画像.png",
        "<script>&amp;*|[x]#.png",
        "#leading.png",
        "cl <a>ss & co/[1] *x*.png",
    ]
    for name in names:
        solid(tmp_path / name)
    images = load_image_folder(tmp_path, thumb_px=8)
    assert sorted(images.names) == sorted(names)
    assert images.class_names == ("cl <a>ss & co",)


def write_bad_files(folder: Path) -> dict[str, str]:
    """One file of each bad kind; returns the expected start of each reason."""
    folder.mkdir(exist_ok=True)
    (folder / "empty.png").write_bytes(b"")
    (folder / "text.jpg").write_text("hello, not a picture")
    (folder / "cut.png").write_bytes(noise_png()[:400])
    raw = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), np.uint8)).save(
        raw, "JPEG"
    )
    (folder / "cut.jpg").write_bytes(raw.getvalue()[:600])
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\n"
    (folder / "eps.png").write_bytes(eps)
    return {
        "cut.jpg": "truncated or corrupt image data",
        "cut.png": "truncated or corrupt image data",
        "empty.png": "empty file (0 bytes)",
        "eps.png": "not a PNG, JPEG, GIF, BMP, WebP or TIFF image",
        "text.jpg": "not a PNG, JPEG, GIF, BMP, WebP or TIFF image",
    }


def test_bad_files_are_skipped_with_reasons(tmp_path: Path) -> None:
    expected = write_bad_files(tmp_path)
    solid(tmp_path / "good.png", BLUE)
    images = load_image_folder(tmp_path, thumb_px=8)
    assert images.names == ("good.png",)
    assert (images.pixels[0] == BLUE).all()
    assert [skip.name for skip in images.skipped] == sorted(expected)
    for skip in images.skipped:
        assert skip.reason.startswith(expected[skip.name]), skip
        assert "\n" not in skip.reason


def test_strict_mode_stops_at_the_first_bad_file(tmp_path: Path) -> None:
    write_bad_files(tmp_path)
    solid(tmp_path / "good.png")
    with pytest.raises(InputError, match=r"cut\.jpg: truncated .*drop --strict-input") as info:
        load_image_folder(tmp_path, strict=True)
    assert info.value.exit_code == 3


def test_all_files_bad(tmp_path: Path) -> None:
    write_bad_files(tmp_path)
    with pytest.raises(
        InputError, match=r"none of its 5 image files can be read \(first: cut\.jpg"
    ):
        load_image_folder(tmp_path)


@pytest.mark.parametrize("side", [12, 20])  # over the limit (a warning), over twice it (an error)
def test_decompression_bomb_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, side: int
) -> None:
    solid(tmp_path / "bomb.png", RED, (side, side))
    solid(tmp_path / "ok.png", BLUE, (8, 8))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    images = load_image_folder(tmp_path, thumb_px=8)
    assert images.names == ("ok.png",)
    assert images.skipped[0].name == "bomb.png"
    assert "decompression bomb" in images.skipped[0].reason


def test_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=rf"image folder {tmp_path} holds nothing; put images"):
        load_image_folder(tmp_path)


def test_folder_without_images(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("hi")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "data.csv").write_text("1,2")
    with pytest.raises(InputError, match=r"holds 2 files but no images; put images \(\.bmp, "):
        load_image_folder(tmp_path)


def test_missing_folder_and_file_instead_of_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope does not exist; pass --images an existing folder"):
        load_image_folder(tmp_path / "nope")
    path = solid(tmp_path / "a.png")
    with pytest.raises(InputError, match=r"a\.png is a file, not a folder"):
        load_image_folder(path)


def test_thumb_px_too_small(tmp_path: Path) -> None:
    solid(tmp_path / "a.png")
    with pytest.raises(UsageError, match="thumbnail size 3 px is too small"):
        load_image_folder(tmp_path, thumb_px=3)
