"""Reading the IDX files that MNIST and Fashion-MNIST ship in.

An IDX file is a big-endian header (a magic number whose last byte is the number of dimensions,
then one unsigned 32-bit size per dimension) followed by the values, here unsigned bytes. Every
check names the file and says what is wrong, because these files are often half-downloaded or
swapped.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from tsnegrid.errors import InputError

IMAGES_MAGIC = 0x00000803
"""Unsigned bytes, three dimensions: (n_images, rows, cols)."""
LABELS_MAGIC = 0x00000801
"""Unsigned bytes, one dimension: (n_labels,)."""

IDX_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
"""The four standard file names; each may also end in ``.gz``."""


@dataclass(frozen=True)
class IdxFiles:
    """The four IDX files of one dataset, as found on disk."""

    train_images: Path
    train_labels: Path
    test_images: Path
    test_labels: Path


def find_idx_files(folder: Path) -> IdxFiles | None:
    """Find the four standard IDX files in ``folder``.

    Accepts each name plain or gzipped (``.gz``), and the ``train-images.idx3-ubyte`` spelling that
    some mirrors use.

    Parameters
    ----------
    folder : Path
        Where to look; it need not exist.

    Returns
    -------
    IdxFiles or None
        The four paths, or None when none of them is there.

    Raises
    ------
    InputError
        When some but not all of the four files are there.
    """
    if not folder.is_dir():
        return None
    found = {name: _find_one(folder, name) for name in IDX_NAMES}
    missing = [name for name, path in found.items() if path is None]
    if len(missing) == len(IDX_NAMES):
        return None
    if missing:
        raise InputError(
            f"{folder} holds only some of the four IDX files: {', '.join(missing)} "
            f"(or .gz) missing; add them or move the folder away"
        )
    paths = [found[name] for name in IDX_NAMES]
    return IdxFiles(*(path for path in paths if path is not None))


def _find_one(folder: Path, name: str) -> Path | None:
    dotted = name.replace("-idx", ".idx")
    for candidate in (name, f"{name}.gz", dotted, f"{dotted}.gz"):
        if (folder / candidate).is_file():
            return folder / candidate
    return None


def read_idx_images(path: Path) -> NDArray[np.uint8]:
    """Read an IDX image file (magic 0x00000803), plain or gzipped.

    Parameters
    ----------
    path : Path
        The file; a name ending in ``.gz`` is decompressed.

    Returns
    -------
    NDArray[np.uint8]
        Shape (n_images, rows, cols), read-only.

    Raises
    ------
    InputError
        Unreadable file, wrong magic number, or a length that disagrees with the header.
    """
    return _read_idx(path, magic=IMAGES_MAGIC, kind="images")


def read_idx_labels(path: Path, *, n_classes: int = 10) -> NDArray[np.int64]:
    """Read an IDX label file (magic 0x00000801), plain or gzipped.

    Parameters
    ----------
    path : Path
        The file; a name ending in ``.gz`` is decompressed.
    n_classes : int
        Labels must lie in ``0 .. n_classes - 1``.

    Returns
    -------
    NDArray[np.int64]
        Shape (n_labels,).

    Raises
    ------
    InputError
        Unreadable file, wrong magic number, wrong length, or a label out of range.
    """
    labels = _read_idx(path, magic=LABELS_MAGIC, kind="labels").astype(np.int64)
    if labels.size and int(labels.max()) >= n_classes:
        index = int(np.argmax(labels >= n_classes))
        raise InputError(
            f"{path}: label {int(labels[index])} at position {index} is outside "
            f"0..{n_classes - 1}; this is not a {n_classes}-class label file, replace it"
        )
    return labels


def read_idx_pair(
    images_path: Path, labels_path: Path, *, n_classes: int = 10
) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """Read an image file and its label file and check that they belong together.

    Returns
    -------
    pixels : NDArray[np.uint8]
        Shape (n_images, rows, cols).
    labels : NDArray[np.int64]
        Shape (n_images,).

    Raises
    ------
    InputError
        As :func:`read_idx_images` and :func:`read_idx_labels`, or when the counts differ.
    """
    pixels = read_idx_images(images_path)
    labels = read_idx_labels(labels_path, n_classes=n_classes)
    if len(labels) != len(pixels):
        raise InputError(
            f"{labels_path}: {len(labels)} labels but {images_path.name} has {len(pixels)} "
            f"images; the two files are not from the same set, replace one of them"
        )
    return pixels, labels


def _read_idx(path: Path, *, magic: int, kind: str) -> NDArray[np.uint8]:
    data = _read_bytes(path)
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    found = int.from_bytes(data[:4], "big")
    if len(data) >= 4 and found != magic:
        raise InputError(
            f"{path}: magic number 0x{found:08x}, expected 0x{magic:08x} for IDX {kind}; "
            f"this is not an IDX {kind} file, check the file name and replace it"
        )
    if len(data) < header:
        raise InputError(
            f"{path}: {len(data)} bytes, shorter than the {header}-byte IDX {kind} header; "
            f"the file is truncated, download it again"
        )
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected = math.prod(shape)
    if len(data) - header != expected:
        dims = " x ".join(str(size) for size in shape)
        raise InputError(
            f"{path}: the header promises {dims} = {expected} bytes of {kind} but the file "
            f"holds {len(data) - header}; the file is truncated or corrupt, download it again"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _read_bytes(path: Path) -> bytes:
    try:
        if path.name.endswith(".gz"):
            return _gunzip(path)
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise InputError(f"{path}: cannot be read ({reason}); download the file again") from exc


def _gunzip(path: Path) -> bytes:
    """The decompressed bytes of a gzip file.

    A single-member file (the usual case) is inflated in one call, which releases the GIL
    throughout (other threads run meanwhile) and skips :mod:`gzip`'s chunked reads; anything
    else (several members, trailing bytes, damage) goes through :mod:`gzip`, which explains it.
    """
    data = path.read_bytes()
    inflate = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip header and trailer
    try:
        out = inflate.decompress(data)
    except zlib.error:
        out = None
    if out is not None and inflate.eof and not inflate.unused_data:
        return out
    with gzip.open(path, "rb") as stream:
        return stream.read()
