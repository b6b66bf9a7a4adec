"""Tiny deterministic fixtures shared by the tests (all built with default_rng(0))."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from tsnegrid.results import ImageSet


def blob_images(n_per_class: int = 12, n_classes: int = 3, side: int = 8) -> ImageSet:
    """Grayscale images of ``n_classes`` kinds: a bright square in a class-specific corner."""
    rng = np.random.default_rng(0)
    n = n_per_class * n_classes
    pixels = rng.integers(0, 40, size=(n, side, side), dtype=np.uint8)
    labels = np.repeat(np.arange(n_classes, dtype=np.int64), n_per_class)
    half = side // 2
    for i, k in enumerate(labels):
        r, c = divmod(int(k) % 4, 2)
        pixels[i, r * half : (r + 1) * half, c * half : (c + 1) * half] += np.uint8(200)
    return ImageSet(
        pixels=pixels,
        labels=labels,
        class_names=tuple(f"class {k}" for k in range(n_classes)),
        names=tuple(f"img/{i:03d}" for i in range(n)),
        source="synthetic blobs",
    )


@pytest.fixture
def blobs() -> ImageSet:
    return blob_images()


@pytest.fixture
def unit_points() -> NDArray[np.float64]:
    return np.random.default_rng(0).random((36, 2))
