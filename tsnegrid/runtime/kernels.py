"""numba's compiled kernels: whether they are cached yet, and compiling them ahead.

The first run in a fresh environment compiles every kernel it uses (about 20 s on two idle
cores; later runs load them from numba's cache in milliseconds). :func:`uncompiled` tells
whether that is about to happen, so that the command can say so.
``python -m tsnegrid.runtime.kernels`` compiles them all ahead, for an image or a CI cache.

Compiling in a second process while the run compiles the first stages' kernels was measured
and dropped: with another job on one of the two cores, the first default run took 79 s that
way against 54 s in one process (numba's compiler is single-threaded, so the two processes
fight over the one free core).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

PACKAGE_ROOT = Path(__file__).resolve().parents[1]


#: Kernel files every run compiles (others serve only some grids or sizes).
EVERY_RUN = (
    "embed/knn.py",
    "embed/bhtsne.py",
    "embed/quadtree.py",
    "assign/solver/pyramid.py",
    "layout/swaps.py",
    "quality/dpq.py",
)


def uncompiled(modules: list[Path] | None = None) -> list[Path]:
    """The kernel files (of :data:`EVERY_RUN` by default) for which numba's cache holds no
    index yet: a fresh environment.

    It looks where numba writes (``__pycache__`` beside the file, or ``NUMBA_CACHE_DIR``)
    without importing anything, so it costs a few milliseconds.
    """
    custom = os.environ.get("NUMBA_CACHE_DIR")
    missing = []
    every = [PACKAGE_ROOT / name for name in EVERY_RUN]
    for path in every if modules is None else modules:
        # numba's own naming (caching._CacheLocator.get_suitable_cache_subpath).
        parent = str(path.resolve().parent)
        sub = f"{Path(parent).name}_{hashlib.sha1(parent.encode()).hexdigest()}"
        # NUMBA_CACHE_DIR replaces the other places; a read-only install uses the user's.
        where = (
            [Path(custom, sub)]
            if custom
            else [path.parent / "__pycache__", Path.home() / ".cache" / "numba" / sub]
        )
        if not any(any(folder.glob(f"{path.stem}.*.nbi")) for folder in where):
            missing.append(path)
    return missing


def compile_all() -> None:
    """Call every stage's kernels once on tiny inputs, so that numba compiles and caches them."""
    for step in (_neighbours, _tsne, _assignment, _polish, _quality):
        step()


def _neighbours() -> None:
    from tsnegrid.embed.knn import warm_up

    warm_up()


def _tsne() -> None:
    from tsnegrid.embed import bhtsne, feature_neighbours

    x = np.random.default_rng(0).random((40, 3))
    near = feature_neighbours(x, 9, threads=1)
    init = bhtsne.initial_layout(x, seed=0)
    bhtsne.tsne(
        near.indices,
        near.distances,
        init,
        perplexity=3.0,
        schedule=bhtsne.Schedule(early_iter=1, late_iter=1),
        threads=1,
    )


def _assignment() -> None:
    from tsnegrid.assign import assign_to_grid

    assign_to_grid(np.random.default_rng(0).random((40, 2)), 7, 7)


def _polish() -> None:
    from tsnegrid.layout import polish_layout

    rng = np.random.default_rng(0)
    # 8 x 8 cells: the smallest grid sorted from large radii; 40 features: projected to 32
    polish_layout(rng.random((60, 40)), rng.permutation(64)[:60], 8, 8, seed=0)


def _quality() -> None:
    from tsnegrid.quality import assess_quality

    rng = np.random.default_rng(0)
    nodes = rng.permutation(49)[:40]
    labels = np.repeat(np.arange(4), 10).astype(np.int64)
    assess_quality(rng.random((40, 5)), rng.random((40, 2)), nodes, labels, 7, 7, seed=0)


if __name__ == "__main__":
    compile_all()
