"""tsnegrid: lay image collections out on a grid by similarity, and publish the run as a report.

The stages, each usable on its own, one sub-package each::

    from tsnegrid import assign_to_grid, embed_tsne, load_dataset, pixel_features, reduce_pca
    images = load_dataset("digits")
    features = reduce_pca(pixel_features(images.pixels), n_components=100, seed=777)
    points = embed_tsne(features, perplexity=30, seed=777).points
    layout = assign_to_grid(points, 42, 43)

The ``tsnegrid`` command (also ``python -m tsnegrid``) runs them all and writes the report.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# Where each public name lives; imported on first use (PEP 562), so that ``import tsnegrid.config``
# and ``tsnegrid --help`` do not pay for numba and matplotlib.
_HOMES = {
    "Config": "tsnegrid.config",
    "Embedding": "tsnegrid.results",
    "GridAssignment": "tsnegrid.results",
    "ImageSet": "tsnegrid.results",
    "LayoutQuality": "tsnegrid.results",
    "RunResult": "tsnegrid.results",
    "assign_to_grid": "tsnegrid.assign",
    "embed_tsne": "tsnegrid.embed",
    "evaluate_layout": "tsnegrid.quality",
    "grid_nodes": "tsnegrid.assign",
    "load_dataset": "tsnegrid.data",
    "load_image_folder": "tsnegrid.data",
    "near_square_grid": "tsnegrid.assign",
    "pixel_features": "tsnegrid.embed",
    "reduce_pca": "tsnegrid.embed",
    "run": "tsnegrid.pipeline",
    "sample_images": "tsnegrid.data",
}


def __getattr__(name: str) -> object:
    if name not in _HOMES:
        raise AttributeError(f"module 'tsnegrid' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)


__all__ = ["__version__", *sorted(_HOMES)]
