"""The feature vectors and t-SNE + LAP starts that ``benchmarks/layouts.py`` compares on.

Each case is computed as the pipeline computes it (seeded sample, pixel features, PCA 100,
t-SNE with our engine, exact assignment) and cached in ``benchmarks/results/cases/`` so that
repeated benchmark runs compare the layout methods only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from tsnegrid.assign.assignment import assign_to_grid
from tsnegrid.assign.grid import near_square_grid
from tsnegrid.data.datasets import load_dataset
from tsnegrid.data.folder import read_image_folder
from tsnegrid.data.sample import sample_index
from tsnegrid.embed.pca import pixel_features, reduce_pca
from tsnegrid.embed.tsne import embed_tsne

CACHE = Path(__file__).parent / "results" / "cases"
CLIPART = Path("/usr/share/openclipart/png")


@dataclass(frozen=True)
class Case:
    """One benchmark input: features (n, d), the grid, and our t-SNE + LAP start."""

    name: str
    features: NDArray[np.float64]
    rows: int
    cols: int
    start: NDArray[np.intp]  # t-SNE + exact LAP node of each point
    start_seconds: float  # t-SNE + LAP time (not counted in the polish time)
    tuned: bool  # whether the polish was tuned on this case (False: first seen in the table)


def _dataset_pixels(name: str, n: int, seed: int) -> NDArray[np.float64]:
    images = load_dataset(name, data_dir=Path("data"), threads=2)
    index = sample_index(images.n_images, n, seed=seed)
    return pixel_features(images.pixels[index]).astype(np.float64)


def _folder_pixels(folder: Path) -> NDArray[np.float64]:
    images = read_image_folder(folder, thumb_px=32)
    return pixel_features(images.pixels).astype(np.float64)


def _colours(n: int, seed: int) -> NDArray[np.float64]:
    return np.random.default_rng(seed).random((n, 3))


#: name -> (raw features, rows, cols, PCA dims or 0 for none, seed, tuned). Every case but
#: the last two was looked at while the polish was designed; those two were not.
SPECS: dict[str, tuple[Callable[[], NDArray[np.float64]], int, int, int, int, bool]] = {
    "digits": (lambda: _dataset_pixels("digits", 1797, 0), 42, 43, 100, 0, True),
    "fashion-2500": (lambda: _dataset_pixels("fashion-mnist", 2500, 0), 50, 50, 100, 0, True),
    "colours-1024": (lambda: _colours(1024, 12345), 32, 32, 0, 0, True),
    "fashion-10000": (lambda: _dataset_pixels("fashion-mnist", 10_000, 0), 100, 100, 100, 0, True),
    "clipart-signs": (lambda: _folder_pixels(CLIPART / "signs_and_symbols"), 0, 0, 100, 0, True),
    "fashion-2500-seed7": (
        lambda: _dataset_pixels("fashion-mnist", 2500, 7),
        50,
        50,
        100,
        7,
        True,
    ),
    "digits-30x70": (lambda: _dataset_pixels("digits", 1797, 0), 30, 70, 100, 0, True),
    "clipart-shapes": (lambda: _folder_pixels(CLIPART / "shapes"), 0, 0, 100, 0, True),
    "colours-1024-seed1": (lambda: _colours(1024, 1), 32, 32, 0, 0, True),
    "clipart-recreation": (lambda: _folder_pixels(CLIPART / "recreation"), 0, 0, 100, 0, False),
    "fashion-5000-60x90": (
        lambda: _dataset_pixels("fashion-mnist", 5000, 3),
        60,
        90,
        100,
        3,
        False,
    ),
}


def load_case(name: str) -> Case:
    """The case ``name`` of :data:`SPECS`, from the cache or computed (and cached)."""
    make, rows, cols, dims, seed, tuned = SPECS[name]
    path = CACHE / f"{name}.npz"
    if path.exists():
        z = np.load(path)
        return Case(
            name,
            z["features"],
            int(z["rows"]),
            int(z["cols"]),
            z["start"],
            float(z["seconds"]),
            tuned,
        )
    raw = make()
    if rows == 0:
        rows, cols = near_square_grid(raw.shape[0])
    features = raw if dims == 0 else reduce_pca(raw, n_components=dims, seed=seed, threads=2)
    began = time.perf_counter()
    points = embed_tsne(features, perplexity=30.0, seed=seed, threads=2).points
    start = assign_to_grid(points, rows, cols).node_of_point
    seconds = time.perf_counter() - began
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, features=features, rows=rows, cols=cols, start=start, seconds=seconds)
    return Case(name, features, rows, cols, start, seconds, tuned)
