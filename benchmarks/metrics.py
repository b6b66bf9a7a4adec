"""Time each layout quality metric at a few sizes on synthetic clustered features.

Usage: ``python benchmarks/metrics.py [N ...]`` (default 2500 10000). Prints one line per size and
metric with seconds; the features are 100-D (like the PCA features) in 10 clusters, laid out by
cluster on a near-square grid with 20% of the cells swapped, and the 2-D "embedding" is the grid
position plus noise. Wall clock lives here, never in the package or the tests.
"""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from tsnegrid.assign.grid import grid_nodes, near_square_grid
from tsnegrid.quality.baselines import random_layout, sorted_layout
from tsnegrid.quality.figures import plot_displacement_map, plot_seams
from tsnegrid.quality.metrics import (
    class_coherence,
    displacement,
    dpq,
    grid_positions,
    neighbourhood_preservation,
)


def synthetic(n: int, seed: int = 0) -> tuple[Any, ...]:
    rng = np.random.default_rng(seed)
    rows, cols = near_square_grid(n)
    labels = np.sort(rng.integers(0, 10, size=n))
    features = rng.normal(scale=3.0, size=(10, 100))[labels] + rng.normal(size=(n, 100))
    nodes = np.arange(n)
    swap = rng.choice(n, size=n // 5, replace=False)
    nodes[swap] = nodes[rng.permutation(swap)]
    points = grid_nodes(rows, cols)[nodes] + rng.normal(scale=0.3 / cols, size=(n, 2))
    return features, points, nodes, labels, rows, cols


def timed(label: str, n: int, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    print(f"n={n:>6}  {label:<28} {time.perf_counter() - start:7.2f} s", flush=True)
    return result


def _png(plot: Callable[..., Figure], *args: Any) -> bytes:
    buffer = io.BytesIO()
    plot(*args).savefig(buffer, format="png")
    return buffer.getvalue()


def main(sizes: list[int]) -> None:
    # Compile the numba kernel outside the timings (it is cached on disk after the first run).
    dpq(np.eye(3), np.arange(3), 2, 2)
    for n in sizes:
        features, points, nodes, labels, rows, cols = synthetic(n)
        est = timed("dpq16", n, dpq, features, nodes, rows, cols)
        print(f"          value {est.value:.4f} +- {est.stderr:.4f} exact={est.exact}")
        timed("np embedding (k=1..10)", n, neighbourhood_preservation, features, points)
        timed(
            "np grid (k=1..10)",
            n,
            neighbourhood_preservation,
            features,
            grid_positions(nodes, cols),
        )
        timed("displacement", n, displacement, points, nodes, rows, cols)
        timed("class coherence", n, class_coherence, labels, nodes, rows, cols)
        timed("random_layout", n, random_layout, n, rows, cols, seed=0)
        timed("sorted_layout", n, sorted_layout, features, rows, cols)
        timed(
            "plot_displacement_map + png", n, _png, plot_displacement_map, points, nodes, rows, cols
        )
        timed("plot_seams + png", n, _png, plot_seams, features, nodes, rows, cols)


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [2500, 10000])
