"""Seeded samples of an image set, and its checksum."""

from __future__ import annotations

import hashlib

import numpy as np
from numpy.typing import NDArray

from tsnegrid.errors import UsageError
from tsnegrid.results import ImageSet


def sample_images(images: ImageSet, n: int, *, seed: int) -> ImageSet:
    """Draw ``n`` images without replacement, keeping their original order.

    The indices are ``np.sort(np.random.default_rng(seed).choice(total, size=n, replace=False))``.

    Parameters
    ----------
    images : ImageSet
        The set to draw from, of ``total`` images.
    n : int
        How many to draw; ``n >= total`` returns ``images`` itself.
    seed : int
        Seed of the generator.

    Returns
    -------
    ImageSet
        ``min(n, total)`` images: pixels (n, ...), labels (n,), names (n,).

    Raises
    ------
    UsageError
        ``n < 1``.
    """
    total = images.n_images
    if n >= total:
        return images
    return subset(images, sample_index(total, n, seed=seed))


def sample_index(total: int, n: int, *, seed: int) -> NDArray[np.intp]:
    """The sorted indices of a seeded sample of ``min(n, total)`` of ``total`` items."""
    if n < 1:
        raise UsageError(f"sample size {n} is less than 1; ask for at least one image")
    if n >= total:
        return np.arange(total)
    return np.sort(np.random.default_rng(seed).choice(total, size=n, replace=False))


def subset(images: ImageSet, index: NDArray[np.intp]) -> ImageSet:
    """The images at ``index`` (in that order)."""
    return ImageSet(
        pixels=images.pixels[index],
        labels=images.labels[index],
        class_names=images.class_names,
        names=tuple(images.names[i] for i in index),
        source=images.source,
        skipped=images.skipped,
    )


def fingerprint(images: ImageSet) -> str:
    """The dataset checksum shown in reports.

    SHA-256 over the pixel shape and bytes, the labels, the class names and the image names;
    the source text and the skipped files do not count.

    Parameters
    ----------
    images : ImageSet
        Pixels (n_images, ...), labels (n_images,), names (n_images,).

    Returns
    -------
    str
        64 lowercase hex digits.
    """
    digest = hashlib.sha256()

    def add(chunk: bytes | memoryview) -> None:
        digest.update(len(chunk).to_bytes(8, "little"))  # length-prefixed: no ambiguous joins
        digest.update(chunk)

    add(repr((images.pixels.shape, len(images.class_names))).encode())
    add(np.ascontiguousarray(images.pixels).reshape(-1).data)
    add(np.asarray(images.labels, dtype="<i8").tobytes())
    for text in (*images.class_names, *images.names):
        add(text.encode("utf-8", "surrogateescape"))
    return digest.hexdigest()
