"""Reading a folder of the user's own images as square RGB thumbnails.

Real folders are messy: any colour mode, EXIF-rotated photos, animations, huge or broken files.
Each file is opened, reduced to its thumbnail and closed, so memory holds only the thumbnails.
A file that cannot be read is skipped with a reason (or, in strict mode, stops the run).
"""

from __future__ import annotations

import os
import struct
import warnings
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

from tsnegrid.errors import InputError, UsageError
from tsnegrid.results import ImageSet, SkippedFile

IMAGE_SUFFIXES: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff"}
)
"""File suffixes (compared in lower case) that :func:`read_image_folder` reads."""
BACKGROUND = (255, 255, 255)
"""Transparent parts and the padding around non-square images become white."""
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")
"""Decoders Pillow may use (JPEG covers MPO): never another one (EPS would run Ghostscript)."""
_DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    struct.error,
    zlib.error,
    MemoryError,
)
"""What Pillow's decoders raise on broken data."""


class _Unreadable(Exception):
    """A file to skip; the message is the reason."""


def read_image_folder(folder: Path, *, thumb_px: int = 32, strict: bool = False) -> ImageSet:
    """Load every image under ``folder`` as a square RGB thumbnail.

    Files with a suffix in :data:`IMAGE_SUFFIXES` (any case) are read,
    recursively, in the order of their relative POSIX paths; hidden files and folders (a name
    starting with ``.``) are ignored and links to folders are not followed. The first-level
    subfolder of a file is its class; files in the folder itself get label -1, and with no
    subfolders ``class_names`` is empty.

    Each image is turned upright (EXIF orientation), its first frame taken, converted to RGB with
    transparency composited over white (16-bit grey scaled by 1/257, 32-bit and float grey
    stretched from min to max), fitted into ``thumb_px`` x ``thumb_px`` keeping its aspect ratio
    and padded with white.

    Parameters
    ----------
    folder : Path
        The folder to read.
    thumb_px : int
        Side of the thumbnails in pixels, at least 4.
    strict : bool
        Raise on the first unreadable file instead of skipping it.

    Returns
    -------
    ImageSet
        Pixels (n_images, thumb_px, thumb_px, 3), labels (n_images,), names (relative paths),
        ``skipped`` with the unreadable files and why.

    Raises
    ------
    UsageError
        ``thumb_px`` below 4.
    InputError
        The folder is missing, is a file, holds no images, every image is unreadable, or (strict)
        one image is unreadable.
    """
    if thumb_px < 4:
        raise UsageError(f"thumbnail size {thumb_px} px is too small; use at least 4")
    root = _check_folder(folder)
    relative = _find_images(root)
    outcomes = (read_one(root, name, thumb_px) for name in relative)
    return collect_images(root, relative, outcomes, thumb_px=thumb_px, strict=strict)


def read_one(root: Path, name: str, thumb_px: int) -> NDArray[np.uint8] | str:
    """The thumbnail of ``root / name`` ((thumb_px, thumb_px, 3) uint8), or why it is unreadable.

    The one step per file that :func:`read_image_folder` and the Dask reader
    (:mod:`tsnegrid.data.distributed`) share.
    """
    try:
        return _thumbnail(root / name, thumb_px)
    except _Unreadable as exc:
        return str(exc)


def collect_images(
    root: Path,
    relative: list[str],
    outcomes: Iterable[NDArray[np.uint8] | str],
    *,
    thumb_px: int,
    strict: bool,
) -> ImageSet:
    """The ImageSet of ``relative``'s files from their :func:`read_one` outcomes, in order.

    Raises InputError on the first unreadable file when ``strict`` (not reading the rest of
    a lazy ``outcomes``), or when no file is readable.
    """
    pixels = np.empty((len(relative), thumb_px, thumb_px, 3), dtype=np.uint8)
    names: list[str] = []
    skipped: list[SkippedFile] = []
    for name, outcome in zip(relative, outcomes, strict=True):
        if isinstance(outcome, str):
            if strict:
                raise InputError(
                    f"{root / name}: {outcome}; remove the file, or drop --strict-input to skip "
                    f"unreadable files"
                )
            skipped.append(SkippedFile(name, outcome))
            continue
        pixels[len(names)] = outcome
        names.append(name)
    if not names:
        first = skipped[0]
        raise InputError(
            f"image folder {root}: none of its {len(skipped)} image files can be read "
            f"(first: {first.name}: {first.reason}); replace or remove them"
        )
    labels, class_names = _labels(names)
    return ImageSet(
        pixels=pixels if len(names) == len(relative) else pixels[: len(names)].copy(),
        labels=labels,
        class_names=class_names,
        names=tuple(names),
        source=f"image folder {root}",
        skipped=tuple(skipped),
    )


def _check_folder(folder: Path) -> Path:
    root = folder.expanduser().absolute()
    if not root.exists():
        raise InputError(f"image folder {root} does not exist; pass --images an existing folder")
    if not root.is_dir():
        raise InputError(
            f"{root} is a file, not a folder; pass --images the folder that holds the images"
        )
    return root


def _find_images(root: Path) -> list[str]:
    """Relative POSIX paths of the image files under ``root``, sorted."""
    found: list[str] = []
    n_other = 0
    for dirpath, dirnames, filenames in os.walk(root, onerror=_raise_walk_error):
        dirnames[:] = [name for name in dirnames if not name.startswith(".")]
        base = Path(dirpath).relative_to(root)
        for filename in filenames:
            if filename.startswith("."):
                continue
            if Path(filename).suffix.lower() in IMAGE_SUFFIXES:
                found.append((base / filename).as_posix())
            else:
                n_other += 1
    if not found:
        suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
        what = f"{n_other} files but no images" if n_other else "nothing"
        raise InputError(
            f"image folder {root} holds {what}; put images ({suffixes}) in it, "
            f"one subfolder per class if they have classes"
        )
    return sorted(found)


def _raise_walk_error(exc: OSError) -> None:
    raise InputError(f"{exc.filename}: cannot be listed ({exc.strerror}); check its permissions")


def _labels(names: list[str]) -> tuple[NDArray[np.int64], tuple[str, ...]]:
    classes = [name.split("/", 1)[0] if "/" in name else None for name in names]
    class_names = tuple(sorted({label for label in classes if label is not None}))
    index = {label: i for i, label in enumerate(class_names)}
    labels = np.array([-1 if c is None else index[c] for c in classes], dtype=np.int64)
    return labels, class_names


def _thumbnail(path: Path, thumb_px: int) -> NDArray[np.uint8]:
    """One image file as a (thumb_px, thumb_px, 3) array; raises _Unreadable with the reason."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise _Unreadable(f"cannot be read ({exc.strerror})") from None
    if size == 0:
        raise _Unreadable("empty file (0 bytes)")
    with warnings.catch_warnings():
        # Between Pillow's limit and twice it, Pillow only warns; refuse those too.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(path, formats=_formats()) as image:
                image.draft(None, (thumb_px, thumb_px))  # JPEG: decode at a reduced scale
                image.load()
                fitted = _fit(_to_basic_mode(_upright(image)), thumb_px)
        except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
            raise _Unreadable(f"cannot be read ({exc.strerror})") from None
        except UnidentifiedImageError:
            raise _Unreadable("not a PNG, JPEG, GIF, BMP, WebP or TIFF image") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            limit = Image.MAX_IMAGE_PIXELS
            raise _Unreadable(
                f"refused as a possible decompression bomb (over Pillow's limit of {limit} pixels)"
            ) from None
        except _DECODE_ERRORS as exc:
            raise _Unreadable(f"truncated or corrupt image data ({_one_line(exc)})") from None
    return _pad(fitted, thumb_px)


def _formats() -> list[str]:
    """:data:`FORMATS` that this Pillow can open (WebP support is optional)."""
    Image.init()
    return [name for name in FORMATS if name in Image.OPEN]


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation; a broken EXIF block leaves the image as stored."""
    try:
        upright = ImageOps.exif_transpose(image)
    except (SyntaxError, ValueError, TypeError, KeyError, struct.error):
        return image
    return image if upright is None else upright


def _to_basic_mode(image: Image.Image) -> Image.Image:
    """The image in mode L, LA, RGB or RGBA, the modes that resize well."""
    mode = image.mode
    if mode in ("L", "LA", "RGB", "RGBA"):
        return image
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in image.info
        return image.convert("RGBA" if has_alpha else "RGB")
    if mode in ("1", "La", "RGBa", "RGBX"):
        return image.convert({"1": "L", "La": "LA", "RGBa": "RGBA", "RGBX": "RGB"}[mode])
    if mode.startswith("I;16"):
        # Pillow's own conversion clips 16-bit values at 255; scale the full range instead.
        grey = np.asarray(image, dtype=np.float64) / 257
        return Image.fromarray(np.round(grey).astype(np.uint8))
    if mode in ("I", "F"):
        return Image.fromarray(_stretch(np.asarray(image, dtype=np.float64)))
    try:
        return image.convert("RGB")
    except ValueError:
        raise _Unreadable(f"colour mode {mode} is not supported") from None


def _stretch(values: NDArray[np.float64]) -> NDArray[np.uint8]:
    """Grey values of no fixed range mapped from their min..max onto 0..255."""
    values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    return np.round((values - low) * (255 / (high - low))).astype(np.uint8)


def _fit(image: Image.Image, thumb_px: int) -> Image.Image:
    """Scale so that the longer side is ``thumb_px``, keeping the aspect ratio."""
    width, height = image.size
    scale = thumb_px / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if size == image.size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _pad(image: Image.Image, thumb_px: int) -> NDArray[np.uint8]:
    """Centre the image on a white square, compositing any transparency over the white."""
    canvas = Image.new("RGB", (thumb_px, thumb_px), BACKGROUND)
    offset = ((thumb_px - image.width) // 2, (thumb_px - image.height) // 2)
    if image.mode in ("LA", "RGBA"):
        rgba = image.convert("RGBA")
        canvas.paste(rgba, offset, rgba)
    else:
        canvas.paste(image.convert("RGB"), offset)
    return np.asarray(canvas, dtype=np.uint8)
